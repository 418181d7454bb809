"""The write key guarding the events and catalog APIs.

Set ``CHATCOMMERCE_WRITE_KEY`` in production. For the zero-setup default a key is generated
once, kept in the data dir (mode 0600) and printed at start-up so a developer can copy it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from app.settings import Settings


def key_file(settings: Settings) -> Path:
    return settings.data_dir / "write_key"


def resolve_write_key(settings: Settings) -> tuple[str, bool]:
    """The configured key, else the stored one, else a new one; and whether it was generated."""
    if settings.write_key is not None:
        return settings.write_key.get_secret_value(), False
    path = key_file(settings)
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "wk_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key, True
