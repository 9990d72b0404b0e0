"""Server side of Telegram's 2FA SRP check (what telethon.password.compute_check answers)."""

from __future__ import annotations

import dataclasses
import hmac
import random

from telethon import password as tpw
from telethon.tl import types

from .content import derive_int

# The 2048-bit safe prime Telegram uses; Telethon accepts it without factoring.
_P_HEX = (
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B"
)
P_BYTES = bytes.fromhex(_P_HEX)
G = 3


@dataclasses.dataclass
class SrpChallenge:
    """One account.getPassword answer and the secret needed to verify the reply."""

    srp_id: int
    b: int
    srp_b: bytes
    algo: types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow
    verifier: int

    def password_object(self, hint: str | None = None) -> types.account.Password:
        """Return the account.Password object Telethon's compute_check consumes."""
        return types.account.Password(
            new_algo=types.PasswordKdfAlgoUnknown(),
            new_secure_algo=types.SecurePasswordKdfAlgoUnknown(),
            secure_random=bytes(32),
            has_password=True,
            current_algo=self.algo,
            srp_B=self.srp_b,
            srp_id=self.srp_id,
            hint=hint,
        )

    def verify(self, check: object) -> bool:
        """Tell whether an InputCheckPasswordSRP proves knowledge of the password."""
        if not isinstance(check, types.InputCheckPasswordSRP) or check.srp_id != self.srp_id:
            return False
        p = int.from_bytes(P_BYTES, "big")
        a_big = int.from_bytes(check.A, "big")
        if not 0 < a_big < p:
            return False
        a_hash = tpw.big_num_for_hash(a_big)
        b_hash = tpw.num_bytes_for_hash(self.srp_b)
        u = int.from_bytes(tpw.sha256(a_hash, b_hash), "big")
        s = pow(a_big * pow(self.verifier, u, p) % p, self.b, p)
        k_hash = tpw.sha256(tpw.big_num_for_hash(s))
        p_hash = tpw.num_bytes_for_hash(P_BYTES)
        g_hash = tpw.big_num_for_hash(G)
        m1 = tpw.sha256(
            tpw.xor(tpw.sha256(p_hash), tpw.sha256(g_hash)),
            tpw.sha256(self.algo.salt1),
            tpw.sha256(self.algo.salt2),
            a_hash,
            b_hash,
            k_hash,
        )
        return hmac.compare_digest(m1, bytes(check.M1))


def new_challenge(seed: int, account: str, password: str, serial: int) -> SrpChallenge:
    """Create a fresh SRP challenge for `password` (deterministic from the arguments)."""
    rng = random.Random(derive_int("srp", seed, account, serial))
    algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
        salt1=rng.randbytes(40), salt2=rng.randbytes(16), g=G, p=P_BYTES
    )
    p = int.from_bytes(P_BYTES, "big")
    x = int.from_bytes(tpw.compute_hash(algo, password), "big")
    verifier = pow(G, x, p)
    k = int.from_bytes(tpw.sha256(tpw.num_bytes_for_hash(P_BYTES), tpw.big_num_for_hash(G)), "big")
    while True:
        b = int.from_bytes(rng.randbytes(256), "big")
        g_b = pow(G, b, p)
        if tpw.is_good_mod_exp_first(g_b, p):
            break
    srp_b = tpw.big_num_for_hash((k * verifier + g_b) % p)
    return SrpChallenge(srp_id=rng.getrandbits(62), b=b, srp_b=srp_b, algo=algo, verifier=verifier)
