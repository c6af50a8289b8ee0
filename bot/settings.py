"""Settings read from the environment, with safe embedded defaults.

Every setting is documented in the README; nothing else reads os.environ.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.core.languages import NATIVE_NAMES
from bot.core.problems import StartupError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ALL_LANGUAGES = tuple(NATIVE_NAMES)  # every language the bot has names and catalogs for


@dataclass(frozen=True)
class Settings:
    home: Path
    data_dir: Path
    database_url: str
    model_dir: Path
    languages: tuple[str, ...]
    secret_file: Path
    secret_key_env: str | None
    retention_days: int
    transcript_hours: int
    # Serving (kyr serve): messages older than this by their platform timestamp are
    # recorded and not answered (0 = answer any age); /metrics needs this bearer token
    # unless asked from loopback; worker processes; WhatsApp's messages per second.
    max_message_age_hours: float = 24.0
    metrics_token: str | None = None
    workers: int = 1
    whatsapp_mps: float = 80.0
    lease_seconds: float = 30.0  # a dead worker's messages are taken again after this
    # Alerts (bot.app.broadcast): the share of each platform's limit bulk messages may use
    # (replies to residents keep the rest), and the WhatsApp messaging-limit tier: unique
    # residents reached by template (outside the 24-hour window) in a rolling 24 hours
    # (None: unlimited).
    bulk_share: float = 0.8
    whatsapp_tier: int | None = 250

    @property
    def content_dir(self) -> Path:
        return self.home / "content"

    @property
    def flows_dir(self) -> Path:
        return self.home / "flows"

    @property
    def locales_dir(self) -> Path:
        return self.home / "locales"

    def secret_key(self) -> bytes:
        """The key of the resident hashes: KYR_SECRET_KEY, or one generated on first run.

        A generated key is written with mode 0600 under ~/.config/kyr, not beside the
        database: whoever copies the data folder must not get the key with it (with the key,
        hashed phone numbers can be brute-forced). Outside SQLite, the key must be set.
        """
        if self.secret_key_env:
            return self.secret_key_env.encode()
        if not self.database_url.startswith("sqlite"):
            raise StartupError("KYR_SECRET_KEY must be set when DATABASE_URL is not SQLite")
        try:
            return self.secret_file.read_bytes().strip()
        except FileNotFoundError:
            self.secret_file.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_hex(32).encode()
            fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
            return key


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("KYR_HOME") or PROJECT_ROOT).resolve()
    data_dir = Path(env.get("KYR_DATA_DIR") or home / "data").resolve()
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'kyr.sqlite3'}"
    model_dir = Path(env.get("KYR_MODEL_DIR") or home / "build" / "model").resolve()
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME") or "~").expanduser() / ".config")
    languages = tuple(
        code.strip() for code in (env.get("KYR_LANGUAGES") or ",".join(ALL_LANGUAGES)).split(",")
        if code.strip()
    )
    if "en" not in languages:
        languages = ("en",) + languages
    return Settings(
        home=home,
        data_dir=data_dir,
        database_url=database_url,
        model_dir=model_dir,
        languages=languages,
        secret_file=Path(env.get("KYR_SECRET_FILE") or config_home / "kyr" / "secret_key"),
        secret_key_env=env.get("KYR_SECRET_KEY") or None,
        retention_days=int(env.get("KYR_RETENTION_DAYS") or 30),
        transcript_hours=int(env.get("KYR_TRANSCRIPT_HOURS") or 72),
        max_message_age_hours=float(env.get("KYR_MAX_MESSAGE_AGE_HOURS") or 24),
        metrics_token=env.get("KYR_METRICS_TOKEN") or None,
        workers=max(1, int(env.get("KYR_WORKERS") or 1)),
        whatsapp_mps=float(env.get("KYR_WHATSAPP_MPS") or 80),
        lease_seconds=float(env.get("KYR_LEASE_SECONDS") or 30),
        bulk_share=bulk_share(env.get("KYR_BULK_SHARE")),
        whatsapp_tier=whatsapp_tier(env.get("KYR_WHATSAPP_TIER")),
    )


WHATSAPP_TIERS = (250, 2000, 10_000, 100_000)


def bulk_share(raw: str | None) -> float:
    share = float(raw or 0.8)
    if not 0 < share <= 1:
        raise SystemExit(f"KYR_BULK_SHARE={raw!r}: a fraction of the platform's limit, "
                         "above 0 and at most 1 (0.8 leaves a fifth for replies)")
    return share


def whatsapp_tier(raw: str | None) -> int | None:
    """Meta's messaging-limit tiers; a typo must not let a broadcast run past the real one."""
    text = (raw or "250").strip().lower().replace(",", "").replace("_", "")
    if text == "unlimited":
        return None
    if text.isdigit() and int(text) in WHATSAPP_TIERS:
        return int(text)
    raise SystemExit(f"KYR_WHATSAPP_TIER={raw!r}: one of 250, 2000, 10000, 100000 or "
                     "unlimited (the business portfolio's messaging limit in Meta's manager)")
