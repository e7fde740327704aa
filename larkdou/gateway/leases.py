"""What `/fetch`, `/ack` and `/extend` accept and answer, apart from the store calls: request parsing
into clear 400s, and the JSON a consumer gets back.

- `POST /fetch` answers one message (the guide's form) or `{}`; `POST /fetch?max=N` answers
  `{"messages": [...]}` with up to N messages, each in the same form.
- `POST /ack` takes `{"delivery_id": "…"}` (answer `{"acked": true|false}`) or `{"delivery_ids": [...]}`
  (answer `{"acked": [true|false, ...]}`, one per id, in order).
- `POST /extend` takes the same ids plus `"seconds"` (default `[gateway] lease_seconds`) and answers
  `{"extended": …}` in the same shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from larkdou.errors import EventError
from larkdou.store.base import Delivery

MAX_BATCH = 1000  # messages per /fetch?max=N, ids per /ack or /extend
MAX_EXTEND = 24 * 3600.0
IDS_HINT = 'send {"delivery_id": "…"} or {"delivery_ids": ["…", …]}'


@dataclass
class LeaseIds:
    """The delivery ids of an /ack or /extend body; `single` when it used the one-id form."""

    ids: list[str]
    single: bool

    def answer(self, key: str, results: list[bool]) -> dict[str, Any]:
        return {key: results[0] if self.single else results}


def batch_size(query: Mapping[str, str]) -> int | None:
    """`?max=N` of /fetch: None when absent (the single form), else 1..MAX_BATCH; EventError if bad."""
    raw = query.get("max")
    if raw is None:
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_BATCH:
        raise EventError(f"max must be a whole number from 1 to {MAX_BATCH}", reason="bad_max")
    return int(raw)


def fetch_answer(deliveries: list[Delivery], batch: int | None) -> dict[str, Any]:
    """The /fetch answer: the guide's single message (or `{}`), or `{"messages": [...]}`."""
    messages = [_wire(d) for d in deliveries]
    if batch is None:
        return messages[0] if messages else {}
    return {"messages": messages}


def _wire(delivery: Delivery) -> dict[str, Any]:
    out = delivery.message.to_fetch_dict(delivery.delivery_id)
    out["attempts"] = delivery.attempts
    return out


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
        raise EventError(f"body is not JSON; {IDS_HINT}", reason="not_json") from None
    if not isinstance(data, dict):
        raise EventError(f"body is not a JSON object; {IDS_HINT}", reason="not_json")
    return data


def lease_ids(data: dict[str, Any]) -> LeaseIds:
    """The ids of an /ack or /extend body; EventError (400) when missing or of the wrong type."""
    one, many = data.get("delivery_id"), data.get("delivery_ids")
    if one is not None and many is not None:
        raise EventError(f"both delivery_id and delivery_ids given; {IDS_HINT}", reason="bad_fields")
    if one is not None or many is None:
        if not isinstance(one, str) or not one:
            raise EventError(IDS_HINT, reason="missing_fields")
        return LeaseIds([one], True)
    if (not isinstance(many, list) or not many or len(many) > MAX_BATCH
            or not all(isinstance(i, str) and i for i in many)):
        raise EventError(f"delivery_ids must be a list of 1 to {MAX_BATCH} non-empty strings", reason="bad_fields")
    return LeaseIds(many, False)


def extend_seconds(data: dict[str, Any], default: float) -> float:
    """The `seconds` of an /extend body (default: the gateway's lease); EventError when out of range."""
    seconds = data.get("seconds", default)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_EXTEND:
        raise EventError(f"seconds must be a number above 0 and at most {MAX_EXTEND:g}", reason="bad_seconds")
    return float(seconds)
