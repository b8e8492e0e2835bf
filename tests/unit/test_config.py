from datetime import date
from pathlib import Path

import pytest

from outfalls.config import PROJECT_DIR, load_settings
from outfalls.errors import ConfigError


def test_defaults_come_from_config_toml():
    s = load_settings(env={})
    assert s.database.is_embedded
    assert s.storage.data_dir == (PROJECT_DIR / "data").resolve()
    assert s.storage.pg_dir == s.storage.data_dir / "pg"
    assert s.server.port == 5000 and s.server.default_locale == "zh"
    # the national default targets ship as data
    assert (date(2023, 12, 31), "traced", 0.8) in [(t.deadline, t.metric, t.share) for t in s.targets]
    assert (date(2024, 12, 31), "remediated", 0.7) in [(t.deadline, t.metric, t.share) for t in s.targets]


def test_environment_overrides(tmp_path: Path):
    s = load_settings(
        env={
            "OUTFALLS_DATA_DIR": str(tmp_path),
            "OUTFALLS_DATABASE_URL": "postgresql+psycopg://u@db.internal/outfalls",
            "OUTFALLS_SERVER_PORT": "8080",
            "OUTFALLS_UNRELATED_THING": "ignored",
        }
    )
    assert s.storage.data_dir == tmp_path.resolve()
    assert not s.database.is_embedded
    assert s.server.port == 8080


def test_config_file_overrides_defaults(tmp_path: Path):
    f = tmp_path / "site.toml"
    f.write_text('[server]\nport = 5100\ndefault_locale = "en"\n[map]\nextent = [100, 30, 110, 40]\n')
    s = load_settings(env={"OUTFALLS_CONFIG": str(f)})
    assert s.server.port == 5100 and s.server.default_locale == "en"
    assert s.map.extent == (100.0, 30.0, 110.0, 40.0)


def test_unknown_key_names_the_dotted_key(tmp_path: Path):
    f = tmp_path / "site.toml"
    f.write_text('[database]\nurll = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown configuration key 'database\.urll'") as info:
        load_settings(env={"OUTFALLS_CONFIG": str(f)})
    assert info.value.params["key"] == "database.urll"


def test_unknown_section_and_wrong_type(tmp_path: Path):
    f = tmp_path / "site.toml"
    f.write_text("[databse]\nurl = 'x'\n")
    with pytest.raises(ConfigError, match="'databse'"):
        load_settings(env={"OUTFALLS_CONFIG": str(f)})
    f.write_text("[server]\nport = 'eighty'\n")
    with pytest.raises(ConfigError, match=r"'server\.port' must be int"):
        load_settings(env={"OUTFALLS_CONFIG": str(f)})


def test_bad_values_fail_at_start(tmp_path: Path):
    with pytest.raises(ConfigError, match="not a number"):
        load_settings(env={"OUTFALLS_SERVER_PORT": "http"})
    with pytest.raises(ConfigError, match="default_locale"):
        load_settings(env={}, overrides={"server.default_locale": "fr"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"OUTFALLS_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={"OUTFALLS_CONFIG": str(broken)})


def test_settings_are_immutable():
    s = load_settings(env={})
    with pytest.raises(AttributeError):
        s.server.port = 1  # type: ignore[misc]


def test_read_replicas_from_the_file_or_the_environment(tmp_path: Path):
    assert load_settings(env={}).database.replica_urls == ()
    assert load_settings(env={}).database.replica_max_lag_s == 30.0
    f = tmp_path / "site.toml"
    f.write_text('[database]\nreplica_urls = ["postgresql+psycopg://u@r1/outfalls"]\nreplica_max_lag_s = 5\n')
    s = load_settings(env={"OUTFALLS_CONFIG": str(f)})
    assert s.database.replica_urls == ("postgresql+psycopg://u@r1/outfalls",)
    assert s.database.replica_max_lag_s == 5.0
    s = load_settings(env={"OUTFALLS_DATABASE_REPLICA_URLS": "postgresql://u@r1/o, postgresql://u@r2/o,"})
    assert s.database.replica_urls == ("postgresql://u@r1/o", "postgresql://u@r2/o")


@pytest.mark.parametrize(("overrides", "key"), [
    ({"database.replica_urls": ["r1.internal"]}, "database.replica_urls"),
    ({"database.replica_urls": "postgresql://u@r1/o"}, "database.replica_urls"),
    ({"database.replica_max_lag_s": 0}, "database.replica_max_lag_s"),
    ({"database.replica_max_lag_s": float("nan")}, "database.replica_max_lag_s"),
])  # fmt: skip
def test_bad_replica_settings_name_their_key(overrides: dict[str, object], key: str):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        load_settings(env={}, overrides=overrides)
    assert info.value.params["key"] == key
