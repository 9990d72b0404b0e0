"""auth.* and account.getPassword: code login, QR login (`qr`), 2FA via real SRP, exported authorizations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telethon.tl import functions, types

from .base import RpcFail, SimSession
from .content import derive_int
from .qr import QrLoginService
from .srp import new_challenge
from .tlbuild import Builder


class LoginService:
    """Sign sessions in with the simulator's login code and optional password."""

    def __init__(
        self, seed: int, builder: Builder, code: str, password: str | None, *, token_ttl: float = 30.0
    ) -> None:
        self.seed = seed
        self.builder = builder
        self.code = code
        self.password = password
        self.qr = QrLoginService(
            seed, token_ttl, password_needed=lambda: self.password is not None, authorize=self._authorize
        )

    def handlers(self) -> dict[type, Callable[[SimSession, int, Any], Any]]:
        """Return the request-type -> handler table of this service."""
        return {
            functions.auth.SendCodeRequest: self._send_code,
            functions.auth.SignInRequest: self._sign_in,
            functions.account.GetPasswordRequest: self._get_password,
            functions.auth.CheckPasswordRequest: self._check_password,
            functions.auth.LogOutRequest: self._log_out,
            functions.auth.ExportAuthorizationRequest: self._export,
            functions.auth.ImportAuthorizationRequest: self._import,
            **self.qr.handlers(),
        }

    def _authorize(self, session: SimSession) -> Any:
        session.authorized = True
        session.password_needed = False
        session.challenge = None
        return types.auth.Authorization(user=self.builder.user(session.account))

    def _send_code(self, session: SimSession, dc_id: int, req: Any) -> Any:
        session.serial += 1
        value = derive_int("code_hash", self.seed, session.account.name, session.serial)
        session.phone_code_hash = f"{value:016x}"
        return types.auth.SentCode(
            type=types.auth.SentCodeTypeApp(length=len(self.code)), phone_code_hash=session.phone_code_hash
        )

    def _sign_in(self, session: SimSession, dc_id: int, req: Any) -> Any:
        if session.phone_code_hash is None or req.phone_code_hash != session.phone_code_hash:
            raise RpcFail(400, "PHONE_CODE_EXPIRED")
        if req.phone_code != self.code:
            raise RpcFail(400, "PHONE_CODE_INVALID")
        if self.password is not None:
            session.password_needed = True
            raise RpcFail(401, "SESSION_PASSWORD_NEEDED")
        return self._authorize(session)

    def _get_password(self, session: SimSession, dc_id: int, req: Any) -> Any:
        if self.password is None:
            return types.account.Password(
                new_algo=types.PasswordKdfAlgoUnknown(),
                new_secure_algo=types.SecurePasswordKdfAlgoUnknown(),
                secure_random=bytes(32),
                has_password=False,
            )
        session.serial += 1
        session.challenge = new_challenge(self.seed, session.account.name, self.password, session.serial)
        return session.challenge.password_object(hint="sim")

    def _check_password(self, session: SimSession, dc_id: int, req: Any) -> Any:
        if not session.password_needed or session.challenge is None:
            raise RpcFail(400, "SRP_ID_INVALID")
        if not session.challenge.verify(req.password):
            raise RpcFail(400, "PASSWORD_HASH_INVALID")
        return self._authorize(session)

    def _log_out(self, session: SimSession, dc_id: int, req: Any) -> Any:
        session.authorized = False
        return types.auth.LoggedOut()

    def _export(self, session: SimSession, dc_id: int, req: Any) -> Any:
        if not session.authorized:
            raise RpcFail(401, "AUTH_KEY_UNREGISTERED")
        blob = derive_int("export", self.seed, session.account.name, req.dc_id, bits=64)
        return types.auth.ExportedAuthorization(id=session.account.user_id, bytes=blob.to_bytes(8, "big"))

    def _import(self, session: SimSession, dc_id: int, req: Any) -> Any:
        if req.id != session.account.user_id:
            raise RpcFail(400, "AUTH_BYTES_INVALID")
        return types.auth.Authorization(user=self.builder.user(session.account))
