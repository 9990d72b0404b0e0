"""Redis URL checks and password redaction (no server needed)."""

from __future__ import annotations

import logging

import pytest

from tgfetch.cluster.security import check_redis_url, connect, redact_url
from tgfetch.errors import UsageError


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://localhost",
        "redis://[::1]:6379",
        "rediss://localhost:6380/0",
        "unix:///run/redis.sock",
        "redis://:pw@10.0.0.5:6379/0",
        "rediss://user:pw@redis.example.com:6380/0",
        "redis://10.0.0.5/0?password=pw",
    ],
)
def test_accepted_urls(url: str):
    assert check_redis_url(url, insecure=False) == url


def test_remote_without_password_is_refused_in_one_line():
    with pytest.raises(UsageError) as info:
        check_redis_url("redis://10.0.0.5:6379/0", insecure=False)
    msg = str(info.value)
    assert "\n" not in msg and "password" in msg and "--insecure" in msg and "10.0.0.5" in msg
    assert info.value.exit_code == 2


def test_remote_without_password_is_allowed_when_insecure(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        assert check_redis_url("redis://10.0.0.5:6379/0", insecure=True)
    assert "no password" in caplog.text


def test_separate_password_counts():
    assert check_redis_url("rediss://redis.example.com", insecure=False, password="pw")


@pytest.mark.parametrize("url", ["http://localhost:6379", "redis://", "redis://host:notaport", "localhost:6379"])
def test_invalid_urls(url: str):
    with pytest.raises(UsageError):
        check_redis_url(url, insecure=True)


def test_password_is_never_echoed(caplog: pytest.LogCaptureFixture):
    secret = "Hunter2-secret"
    for url in [f"redis://:{secret}@10.0.0.5:6379/0", f"redis://u:{secret}@10.0.0.5", f"redis://{secret}@10.0.0.5"]:
        assert secret not in redact_url(url)
        with caplog.at_level(logging.WARNING):
            check_redis_url(url, insecure=False)
    assert secret not in redact_url(f"redis://10.0.0.5/0?password={secret}&db=1")
    with pytest.raises(UsageError) as info:
        check_redis_url(f"http://:{secret}@10.0.0.5", insecure=False)
    assert secret not in str(info.value)
    assert secret not in caplog.text
    assert redact_url("redis://:pw@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert redact_url("redis://localhost:6379") == "redis://localhost:6379"


def test_plaintext_password_across_network_warns(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        check_redis_url("redis://:pw@10.0.0.5", insecure=False)
    assert "without TLS" in caplog.text


async def test_connect_refuses_before_connecting():
    with pytest.raises(UsageError):
        connect("redis://10.0.0.5:6379/0")
    client = connect("redis://:pw@10.0.0.5:6379/0")
    assert client.get_connection_kwargs()["decode_responses"] is True
    await client.aclose()
