"""Which compiled catalogs passed their checks: decided by `kyr i18n compile`, read by the bot.

The checks (placeholders, limits, `msgfmt --check`) run once, when an editor compiles,
not inside a resident's message. Compiling writes `messages.passed` beside a `.mo` that
passed, holding the `.mo`'s digest; a running bot reloads recompiled catalogs only when
every live language's stamp matches its `.mo` (one hash per file, no subprocess).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bot.catalogs.tools import po_path


def stamp_path(home: Path, lang: str) -> Path:
    return po_path(home, lang).with_suffix(".passed")


def _digest(mo: Path) -> str:
    return hashlib.sha256(mo.read_bytes()).hexdigest()


def record(home: Path, lang: str, ok: bool) -> None:
    """After compiling `lang`: stamp its `.mo` as passed, or take the stamp away."""
    stamp = stamp_path(home, lang)
    if ok:
        stamp.write_text(_digest(po_path(home, lang).with_suffix(".mo")) + "\n")
    else:
        stamp.unlink(missing_ok=True)


def passed(home: Path, lang: str) -> bool:
    """Whether the `.mo` now on disk is the one that passed (English has no catalog)."""
    if lang == "en":
        return True
    stamp, mo = stamp_path(home, lang), po_path(home, lang).with_suffix(".mo")
    try:
        return stamp.read_text().strip() == _digest(mo)
    except OSError:
        return False
