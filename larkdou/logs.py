"""Logging set-up: one line per event with context, and secrets scrubbed from every record.

`scrub` is the one place text is cleaned before it reaches a log or an error message: every
registered secret is replaced by `******` where it stands as a whole value (never inside a longer
word: with the guide's keys `abc` / `def`, "undefined default" stays readable), and the password of
every URL (`redis://:pw@host`) is masked. A mask never shows a secret's length.
"""

from __future__ import annotations

import logging
import re
import sys
import threading

from pydantic import SecretStr

MASK = "******"
_SECRETS: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()

# scheme://[user]:password@host → the password masked; the user name stays (it is not a secret)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\s/]+?)"
                           r"(?=@[^\s/@]*(?:[/?#\s'\"]|$))")


def _secret_regex(secret: str) -> str:
    """`secret` as a whole value: not glued to word characters on a side where it has one itself."""
    body = re.escape(secret)
    head = r"(?<!\w)" if re.match(r"\w", secret) else ""
    tail = r"(?!\w)" if re.match(r"\w", secret[-1]) else ""
    return head + body + tail


def _compile() -> None:
    global _pattern
    ordered = sorted(_SECRETS, key=len, reverse=True)  # a longer secret wins over one inside it
    _pattern = re.compile("|".join(_secret_regex(s) for s in ordered)) if ordered else None


def mask_url(url: str) -> str:
    """The URL with its password, if any, replaced by the mask."""
    return _URL_PASSWORD.sub(lambda m: m["head"] + MASK, url)


def scrub(text: str) -> str:
    """`text` with every registered secret and every URL password masked."""
    pattern = _pattern
    if pattern is not None and any(s in text for s in _SECRETS):
        text = pattern.sub(MASK, text)
    if "://" in text:
        text = mask_url(text)
    return text


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = scrub(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


def register_secret(*values: str | SecretStr) -> None:
    """Never let these strings reach a log line (values under 3 characters are ignored: they would
    mask ordinary words)."""
    with _lock:
        added = False
        for v in values:
            s = v.get_secret_value() if isinstance(v, SecretStr) else v
            if s and len(s) >= 3 and s not in _SECRETS:
                _SECRETS.add(s)
                added = True
        if added:
            _compile()


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
