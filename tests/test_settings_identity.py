from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.core.problems import StartupError
from bot.identity import resident_key
from bot.settings import load_settings


def test_defaults_are_embedded_sqlite_in_a_data_folder(tmp_path: Path) -> None:
    s = load_settings({"KYR_DATA_DIR": str(tmp_path), "HOME": str(tmp_path / "home")})
    assert s.database_url == f"sqlite:///{tmp_path / 'kyr.sqlite3'}"
    assert s.languages == ("en", "es", "pl", "zh_Hans", "ar", "fr", "ht", "uk",
                           "tl", "ko", "hi", "ur", "gu", "ru")
    assert s.secret_file == tmp_path / "home" / ".config" / "kyr" / "secret_key"
    assert s.retention_days == 30


def test_database_url_and_languages_from_environment(tmp_path: Path) -> None:
    s = load_settings({"KYR_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://x@h/db",
                       "KYR_LANGUAGES": "es, pl"})
    assert s.database_url == "postgresql://x@h/db"
    assert s.languages == ("en", "es", "pl")


def test_secret_is_generated_once_private_and_away_from_the_data(tmp_path: Path) -> None:
    s = load_settings({"KYR_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path / "home")})
    first = s.secret_key()
    assert len(first) == 64 and s.secret_key() == first
    assert stat.S_IMODE(os.stat(s.secret_file).st_mode) == 0o600
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").rglob("secret*"))


def test_production_database_needs_an_explicit_secret(tmp_path: Path) -> None:
    import pytest

    s = load_settings({"KYR_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://x@h/db",
                       "HOME": str(tmp_path)})
    with pytest.raises(StartupError, match="KYR_SECRET_KEY must be set"):
        s.secret_key()


def test_resident_key_is_keyed_and_stable() -> None:
    a = resident_key(b"k1", "telegram", "12345")
    assert a == resident_key(b"k1", "telegram", "12345")
    assert a != resident_key(b"k2", "telegram", "12345")
    assert a != resident_key(b"k1", "whatsapp", "12345")
    assert "12345" not in a


def test_kyr_serve_keeps_numpy_to_one_thread_per_worker(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A served worker is one process per core: BLAS threads only take CPU from the others
    (README, "Production"). Set before the engine loads; an operator's own value wins."""
    import argparse

    import bot.web.app
    from bot import cli

    started: list[dict[str, str | None]] = []
    monkeypatch.setattr(bot.web.app, "serve", lambda *a: started.append(
        {name: os.environ.get(name) for name in cli.SERVE_THREADS}))
    for name in cli.SERVE_THREADS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "4")  # the operator's
    args = argparse.Namespace(host="127.0.0.1", port=0, workers=1)
    assert cli.cmd_serve(args, load_settings({"KYR_HOME": str(tmp_path)})) == 0
    assert started == [{"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "4"}]
