"""Logging set-up: one line per event with context, and secrets scrubbed from every record."""

from __future__ import annotations

import logging
import sys

from pydantic import SecretStr

_SECRETS: set[str] = set()


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            text = record.getMessage()
            hit = False
            for s in _SECRETS:
                if s in text:
                    text = text.replace(s, "******")
                    hit = True
            if hit:
                record.msg, record.args = text, None
        return True


def register_secret(*values: str | SecretStr) -> None:
    """Never let these strings reach a log line (short values are ignored: too many false hits)."""
    for v in values:
        s = v.get_secret_value() if isinstance(v, SecretStr) else v
        if s and len(s) >= 3:
            _SECRETS.add(s)


def register_settings_secrets(settings) -> None:  # type: ignore[no-untyped-def]
    """Register every secret of a Settings object."""
    from larkdou.config import SECRET_ENV

    for (section, key) in SECRET_ENV:
        node = settings
        for part in section.split("."):
            node = getattr(node, part)
        value = getattr(node, key)
        if isinstance(value, SecretStr):
            register_secret(value)


def setup(level: str | int = "INFO") -> None:
    """Configure the root logger once (stderr, compact format, secrets redacted)."""
    root = logging.getLogger()
    if any(isinstance(f, _Redact) for h in root.handlers for f in h.filters):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redact())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
