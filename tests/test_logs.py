"""Secrets are masked where they stand as whole values, never inside words, never by length."""

from __future__ import annotations

import logging

import pytest

from larkdou import logs


@pytest.fixture(autouse=True)
def guide_secrets():
    saved = set(logs._SECRETS)
    logs.register_secret("abc", "def", "s3cr3t-fetch-token")
    yield
    logs._SECRETS.clear()
    logs._SECRETS.update(saved)
    logs._compile()


@pytest.mark.parametrize("text,expected", [
    ("undefined default", "undefined default"),
    ("abcdef, abcd and xdef stay", "abcdef, abcd and xdef stay"),
    ("encrypt_key=abc token=def", "encrypt_key=****** token=******"),
    ('"abc"', '"******"'),
    ("Bearer s3cr3t-fetch-token.", "Bearer ******."),
    ("redis://:hunter2@10.0.0.5:6379/0", "redis://:******@10.0.0.5:6379/0"),
    ("rediss://default:pa:ss@cache.example.com/1 failed", "rediss://default:******@cache.example.com/1 failed"),
    ("http://example.com:8080/fetch", "http://example.com:8080/fetch"),
])
def test_scrub(text, expected):
    assert logs.scrub(text) == expected


def test_a_mask_never_shows_the_length():
    assert logs.scrub("abc") == logs.scrub("s3cr3t-fetch-token") == logs.MASK


def test_log_records_are_scrubbed(caplog):
    logs.setup("INFO")
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, logs._Redact) for f in h.filters))
    caplog.handler.addFilter(handler.filters[0])
    with caplog.at_level(logging.INFO, logger="larkdou.test"):
        logging.getLogger("larkdou.test").info("store %s with key %s: undefined default", "redis://:pw@h/0", "abc")
    assert caplog.records[-1].getMessage() == "store redis://:******@h/0 with key ******: undefined default"
