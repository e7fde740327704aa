"""Lark callback requests in, verified event envelopes out (reference §1–§2).

`open_envelope` is pure: raw body bytes and headers in, a verified plaintext payload (or a
challenge) out, or an `EventError` saying why not. Authentication comes first and fails as an
`AuthError` (one opaque answer for every reason): with an encrypt key, a signed request is checked
(signature over the raw body, then the timestamp's age) before anything is decrypted, and an
unsigned one is accepted only as the URL challenge with the right verification token; without an
encrypt key, the verification token is the authentication. Only then is the event's shape read,
field by field (`larkdou.lark.shape`), with a specific 400 for what is wrong.

`to_message` (larkdou.lark.events) then turns a message event into a `Message`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from larkdou.errors import AuthError, DecryptError, EventError, SignatureError, TokenError
from larkdou.lark import crypto, shape

MESSAGE_RECEIVE = "im.message.receive_v1"
H_TIMESTAMP = "x-lark-request-timestamp"
H_NONCE = "x-lark-request-nonce"
H_SIGNATURE = "x-lark-signature"

# A signed request is refused once its timestamp is older than the dedup window less this skew, or
# more than this skew in the future: a replay then always meets its dedup key, which lives for the
# dedup window from the first delivery. Lark re-pushes for about 7.1 h; the window is at least 8 h.
CLOCK_SKEW = 300.0
DEFAULT_MAX_AGE = 8 * 3600.0 - CLOCK_SKEW
MAX_CHALLENGE_CHARS = 1024


@dataclass
class Envelope:
    """A verified event. `challenge` is set for url_verification (answer it, nothing else)."""

    payload: dict[str, Any] = field(default_factory=dict)
    event_type: str = ""
    event_id: str = ""
    schema: str = ""  # "2.0", "1.0", or "" for the challenge
    challenge: str | None = None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # plain dicts with Lark's spelling, e.g. "X-Lark-Signature"
        for k, v in headers.items():
            if k.lower() == name:
                return v
        return ""
    return value


def max_request_age(dedup_hours: float) -> float:
    """How old a signed request may be, for a dedup window of `dedup_hours`."""
    return dedup_hours * 3600.0 - CLOCK_SKEW


def check_timestamp(raw: str, *, max_age: float, now: float | None = None) -> None:
    """X-Lark-Request-Timestamp (seconds; milliseconds are tolerated) must be within the window."""
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16:
        raise SignatureError("X-Lark-Request-Timestamp is missing or not a number", reason="bad_timestamp")
    ts = int(raw)
    if ts > 100_000_000_000:  # milliseconds
        ts //= 1000
    age = (time.time() if now is None else now) - ts
    if age > max_age:
        raise SignatureError(f"request timestamp is {age / 3600:.1f} h old (replay?)", reason="stale_timestamp")
    if age < -CLOCK_SKEW:
        raise SignatureError(f"request timestamp is {-age:.0f} s in the future", reason="future_timestamp")


def _plaintext(body: bytes, encrypt_key: str) -> dict[str, Any]:
    """The event JSON: the body itself, or its decrypted `encrypt` field. Every failure here is an
    AuthError: nothing about a request that has not been authenticated is told apart."""
    try:
        outer = shape.json_object(body, "body")
    except EventError as exc:
        raise AuthError(str(exc), reason="not_json") from None
    if "encrypt" not in outer:
        return outer
    if not encrypt_key:
        raise DecryptError("body is encrypted but no encrypt_key is configured", reason="no_encrypt_key")
    if not isinstance(outer["encrypt"], str) or not outer["encrypt"]:
        raise DecryptError("encrypt field is empty or not a string")
    plain = crypto.decrypt(encrypt_key, outer["encrypt"])
    try:
        return shape.json_object(plain, "decrypted body")
    except EventError as exc:
        raise DecryptError(str(exc), reason="not_json") from None


def _token(payload: dict[str, Any]) -> Any:
    """Where the verification token is: `header.token` (schema 2.0), else top-level `token`."""
    if "schema" in payload:
        header = payload.get("header")
        return header.get("token") if isinstance(header, dict) else None
    return payload.get("token")


def _check_token(payload: dict[str, Any], verification_token: str) -> None:
    if not verification_token:
        raise TokenError("no verification_token is configured", reason="no_verification_token")
    if not crypto.tokens_equal(verification_token, _token(payload)):
        raise TokenError("verification token does not match")


def _challenge(payload: dict[str, Any]) -> str | None:
    """The challenge string of a well-formed url_verification payload, else None."""
    value = payload.get("challenge")
    if (payload.get("type") == "url_verification" and isinstance(value, str) and value
            and len(value) <= MAX_CHALLENGE_CHARS and shape.encodable(value)):
        return value
    return None


def open_envelope(body: bytes, headers: Mapping[str, str], *, encrypt_key: str, verification_token: str,
                  max_age: float = DEFAULT_MAX_AGE, now: float | None = None) -> Envelope:
    """Authenticate, decrypt and recognise one callback request.

    Raises AuthError (with the reason for the log) when the request is not authenticated, and
    EventError (400, a specific reason) when an authenticated event is malformed.
    """
    signature = _header(headers, H_SIGNATURE)
    if encrypt_key and signature:
        ts = _header(headers, H_TIMESTAMP)
        if not crypto.verify_signature(ts, _header(headers, H_NONCE), encrypt_key, body, signature):
            raise SignatureError("X-Lark-Signature does not match")
        check_timestamp(ts, max_age=max_age, now=now)
        payload = _plaintext(body, encrypt_key)
    elif encrypt_key:
        # unsigned: Lark sends only the URL challenge this way (reference §1.2); decrypt to see
        payload = _plaintext(body, encrypt_key)
        if _challenge(payload) is None:
            raise SignatureError("missing X-Lark-Signature headers", reason="missing_signature")
    else:
        # no encrypt key: any signature is unkeyed and proves nothing; the token authenticates
        if ts := _header(headers, H_TIMESTAMP):
            check_timestamp(ts, max_age=max_age, now=now)
        payload = _plaintext(body, "")
    _check_token(payload, verification_token)
    env, _ = classify(payload)
    return env


def classify(payload: dict[str, Any]) -> tuple[Envelope, Any]:
    """Recognise a plaintext payload (challenge, schema 2.0 or 1.0); returns it with its token.
    The fields read here are type-checked: EventError(400) names a field of the wrong type."""
    if payload.get("type") == "url_verification":
        challenge = _challenge(payload)
        if challenge is None:
            raise EventError("url_verification without a usable challenge", reason="missing_fields")
        return Envelope(challenge=challenge), payload.get("token")
    if "schema" in payload:
        schema = shape.text(payload, "schema", "body", max_chars=16)
        header = shape.table(payload, "header", "body", required=True)
        shape.table(payload, "event", "body", required=True)
        env = Envelope(payload=payload, event_type=_event_type(header, "header", "event_type"),
                       event_id=shape.ident(header, "event_id", "header"), schema=schema)
        return env, header.get("token")
    if "uuid" in payload:
        event = shape.table(payload, "event", "body", required=True)
        env = Envelope(payload=payload, event_type=_event_type(event, "event", "type"),
                       event_id=shape.ident(payload, "uuid", "body"), schema="1.0")
        return env, payload.get("token")
    raise EventError("not a Lark event: no schema, uuid or url_verification", reason="missing_fields")


def _event_type(obj: dict[str, Any], where: str, key: str) -> str:
    value = shape.text(obj, key, where, max_chars=128)
    if not shape.encodable(value):
        raise EventError(f"{where}.{key} is not valid Unicode", reason="bad_encoding")
    return value
