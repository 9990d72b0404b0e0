"""Settings: every default, every bad input, .env handling and precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tgfetch.config import load_settings
from tgfetch.errors import ConfigError
from tgfetch.model import LoadBalanceMetric

DEFAULTS = {
    "task_distribution_mode": "media_group_aware",
    "load_balance_metric": LoadBalanceMetric.FILE_COUNT,
    "max_imbalance_ratio": 0.3,
    "prefer_large_groups_first": True,
    "enable_distribution_validation": True,
    "grouping_batch_size": 200,
    "grouping_max_retries": 3,
    "grouping_timeout": 30.0,
    "enable_strategy_comparison": False,
    "auto_strategy_recommendation": True,
    "log_level": "INFO",
    "tg_api_id": None,
    "tg_api_hash": None,
    "tg_sessions": [],
    "tg_session_dir": Path("sessions"),
    "tg_session_strings": [],
    "channel": None,
    "start_message_id": None,
    "end_message_id": None,
    "download_dir": Path("downloads"),
    "max_concurrent_downloads_per_client": None,  # the server's download queues
    "state_db": None,
    "file_name_template": "{message_id}_{file_name}",
    "flood_wait_handoff_seconds": 60.0,
}


@pytest.mark.parametrize(("name", "value"), DEFAULTS.items())
def test_default(name: str, value: object) -> None:
    assert getattr(load_settings(env_file=None), name) == value


def test_state_db_defaults_to_the_channel_folder(tmp_path: Path) -> None:
    from tgfetch.context import default_state_db

    assert default_state_db(tmp_path, tmp_path / "chan", 5) == tmp_path / "chan" / ".tgfetch.sqlite"


BAD = [
    ("MAX_IMBALANCE_RATIO", "abc", "a number from 0 to 1"),
    ("MAX_IMBALANCE_RATIO", "1.5", "a number from 0 to 1"),
    ("MAX_IMBALANCE_RATIO", "-0.1", "a number from 0 to 1"),
    ("TASK_DISTRIBUTION_MODE", "bogus", "media_group_aware"),
    ("LOAD_BALANCE_METRIC", "weight", "estimated_time"),
    ("GROUPING_BATCH_SIZE", "0", "from 1 to 200"),
    ("GROUPING_BATCH_SIZE", "201", "from 1 to 200"),
    ("GROUPING_TIMEOUT", "-1", "greater than 0"),
    ("GROUPING_MAX_RETRIES", "-2", "from 0 to 100"),
    ("PREFER_LARGE_GROUPS_FIRST", "maybe", "boolean"),
    ("ENABLE_DISTRIBUTION_VALIDATION", "perhaps", "boolean"),
    ("ENABLE_STRATEGY_COMPARISON", "2", "boolean"),
    ("AUTO_STRATEGY_RECOMMENDATION", "yess", "boolean"),
    ("LOG_LEVEL", "LOUD", "DEBUG"),
    ("MAX_CONCURRENT_DOWNLOADS_PER_CLIENT", "0", "from 1 to 64"),
    ("START_MESSAGE_ID", "0", "at least 1"),
    ("TG_SESSIONS", "a/b", "session names"),
    ("FILE_NAME_TEMPLATE", "{file_name}", "{message_id}"),
]


@pytest.mark.parametrize(("var", "value", "allowed"), BAD)
def test_bad_value_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, allowed: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    msg = str(info.value)
    assert "\n" not in msg
    assert var in msg and repr(value) in msg and allowed in msg


def test_start_after_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("START_MESSAGE_ID", "10")
    monkeypatch.setenv("END_MESSAGE_ID", "5")
    with pytest.raises(ConfigError, match="START_MESSAGE_ID=10 is greater than END_MESSAGE_ID=5"):
        load_settings(env_file=None)


def test_file_size_is_an_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAD_BALANCE_METRIC", "file_size")
    assert load_settings(env_file=None).load_balance_metric is LoadBalanceMetric.ESTIMATED_SIZE


def test_env_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("GROUPING_BATCH_SIZE=50\nTASK_DISTRIBUTION_MODE=load_balanced\nUNRELATED=1\n")
    s = load_settings(env_file=env)
    assert s.grouping_batch_size == 50 and s.task_distribution_mode == "load_balanced"
    monkeypatch.setenv("GROUPING_BATCH_SIZE", "70")
    assert load_settings(env_file=env).grouping_batch_size == 70
    assert load_settings(env_file=env, grouping_batch_size=90).grouping_batch_size == 90


def test_corrupt_env_line_is_named(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("GROUPING_BATCH_SIZE=50\nthis is not a setting\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_settings(env_file=env)


def test_session_lists_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_SESSIONS", "alice, bob,carol")
    assert load_settings(env_file=None).tg_sessions == ["alice", "bob", "carol"]


def test_secret_values_never_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_API_ID", "-5")
    monkeypatch.setenv("TG_API_HASH", "0123456789abcdef0123456789abcdef")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert "0123456789abcdef" not in str(info.value)


def test_env_example_is_a_valid_env_file() -> None:
    example = Path(__file__).resolve().parents[1] / ".env.example"
    s = load_settings(env_file=example)
    assert s.task_distribution_mode == "media_group_aware" and s.tg_api_id is None
    text = example.read_text()
    for name in DEFAULTS:
        assert f"\n{name.upper()}=" in text, name
