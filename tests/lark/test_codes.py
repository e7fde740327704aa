"""Lark's documented error answers map to the typed exceptions of larkdou.errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from larkdou.errors import (
    CardContentError,
    ContentRejectedError,
    ContentTooLongError,
    LarkAPIError,
    LarkAuthError,
    LarkRateLimited,
    LarkServerError,
    MessageGoneError,
    NotOwnMessageError,
    RecallWindowError,
    UpdateWindowError,
)
from larkdou.lark.codes import error_for, is_transient


def answer(status: int, body: dict[str, Any] | None, **headers: str) -> LarkAPIError | None:
    return error_for(status, body, httpx.Headers(headers))


@pytest.mark.parametrize(("status", "code", "kind"), [
    (400, 230009, RecallWindowError),
    (400, 230026, NotOwnMessageError),
    (400, 230011, MessageGoneError),
    (400, 231003, MessageGoneError),
    (400, 99991663, LarkAuthError),
    (401, 99991663, LarkAuthError),
    (400, 99991661, LarkAuthError),
    (400, 99991543, LarkAuthError),
    (400, 230002, LarkAPIError),
    (400, 230025, ContentTooLongError),
    (400, 230099, CardContentError),
    (400, 230110, MessageGoneError),
    (400, 230031, UpdateWindowError),
    (403, 99991672, LarkAPIError),
])
def test_codes_map_to_their_exception(status: int, code: int, kind: type[LarkAPIError]) -> None:
    err = answer(status, {"code": code, "msg": "m", "error": {"log_id": "2024LOG"}})
    assert type(err) is kind
    assert (err.code, err.http_status, err.log_id) == (code, status, "2024LOG")


def test_refused_content_is_one_catchable_kind_and_keeps_the_sub_code() -> None:
    msg = "Failed to create card content, ext=ErrCode: 200621; ErrMsg: parse card json err"
    err = answer(400, {"code": 230099, "msg": msg})
    assert isinstance(err, ContentRejectedError) and "200621" in str(err)
    assert isinstance(answer(400, {"code": 230025, "msg": "too long"}), ContentRejectedError)


def test_success_is_no_error() -> None:
    assert answer(200, {"code": 0, "msg": "success", "data": {}}) is None


@pytest.mark.parametrize(("status", "code"), [(429, 99991400), (400, 99991400), (400, 230020), (429, -1)])
def test_rate_limits_carry_the_reset_header(status: int, code: int) -> None:
    body = {"code": code, "msg": "request trigger frequency limit"} if code != -1 else None
    err = answer(status, body, **{"x-ogw-ratelimit-limit": "50", "x-ogw-ratelimit-reset": "3"})
    assert isinstance(err, LarkRateLimited)
    assert err.retry_after == 3.0


@pytest.mark.parametrize("reset", [None, "soon", "nan", "-4", "100000"])
def test_odd_reset_headers_give_a_bounded_wait(reset: str | None) -> None:
    headers = {} if reset is None else {"x-ogw-ratelimit-reset": reset}
    err = answer(429, {"code": 99991400, "msg": "limit"}, **headers)
    assert 0 < err.retry_after <= 60


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_a_server_error_with_or_without_json(status: int) -> None:
    assert isinstance(answer(status, None), LarkServerError)
    assert isinstance(answer(status, {"code": 1, "msg": "internal"}), LarkServerError)


def test_401_without_json_is_an_auth_error() -> None:
    assert type(answer(401, None)) is LarkAuthError


def test_log_id_falls_back_to_the_header() -> None:
    err = answer(400, {"code": 230001, "msg": "invalid param"}, **{"X-Tt-Logid": "HDRLOG"})
    assert err.log_id == "HDRLOG"


@pytest.mark.parametrize(("status", "body"), [
    (200, None),                      # not JSON
    (200, {"msg": "no code"}),        # no code
    (200, {"code": "0"}),             # code of the wrong type
    (404, {"code": 0, "msg": ""}),    # code 0 on an error status
])
def test_malformed_answers_are_errors_not_successes(status: int, body: dict[str, Any] | None) -> None:
    err = answer(status, body)
    assert isinstance(err, LarkAPIError) and err.code == -1


@pytest.mark.parametrize(("status", "code", "transient"), [
    (500, 2200, True), (503, -1, True), (429, 99991400, True), (400, 230020, True),  # server, rate limits
    (400, 99991663, True), (401, 99991543, True),  # the app's token or credentials: fixable, try again
    (400, 230009, False), (400, 230026, False), (400, 230011, False), (400, 231003, False),
    (400, 230001, False), (400, 230002, False), (403, 99991672, False),  # refused for good
])
def test_one_rule_says_which_failures_are_worth_another_try(status: int, code: int, transient: bool) -> None:
    exc = answer(status, {"code": code, "msg": "x"})
    assert exc is not None and is_transient(exc) is transient
