"""Envelope verification and message normalisation (pure functions)."""

import json

import pytest

from larkdou.errors import AuthError, DecryptError, EventError, SignatureError, TokenError
from larkdou.lark import crypto
from larkdou.lark.events import is_recall_command, open_envelope, to_message
from larkdou.message import Mention
from tests.factories import (BOT_OPEN_ID, ENCRYPT_KEY, VERIFICATION_TOKEN, bot_mention, message_event,
                             signed_request)

KW = ["豆哥撤回"]


def opened(payload, **kw):
    body, headers = signed_request(payload, **kw)
    return open_envelope(body, headers, encrypt_key=ENCRYPT_KEY, verification_token=VERIFICATION_TOKEN)


def test_encrypted_signed_message_opens():
    env = opened(message_event("hi", message_id="om_1", event_id="e1"))
    assert (env.event_type, env.event_id, env.schema, env.challenge) == ("im.message.receive_v1", "e1", "2.0", None)


def test_encrypted_challenge_needs_no_signature():
    env = opened({"challenge": "c1", "token": VERIFICATION_TOKEN, "type": "url_verification"}, sign=False)
    assert env.challenge == "c1"


def test_plain_challenge_without_encrypt_key():
    body = json.dumps({"challenge": "c2", "token": VERIFICATION_TOKEN, "type": "url_verification"}).encode()
    assert open_envelope(body, {}, encrypt_key="", verification_token=VERIFICATION_TOKEN).challenge == "c2"


def test_challenge_with_wrong_token_is_rejected():
    with pytest.raises(TokenError):
        opened({"challenge": "c", "token": "nope", "type": "url_verification"}, sign=False)


def test_event_without_signature_is_rejected_when_key_configured():
    with pytest.raises(SignatureError) as err:
        opened(message_event("x"), sign=False)
    assert err.value.reason == "missing_signature"


def test_tampered_body_fails_signature():
    body, headers = signed_request(message_event("x"))
    with pytest.raises(SignatureError):
        open_envelope(body.replace(b'"}', b'A"}'), headers, encrypt_key=ENCRYPT_KEY,
                      verification_token=VERIFICATION_TOKEN)


def test_lowercase_header_names_work():
    body, headers = signed_request(message_event("x"))
    lower = {k.lower(): v for k, v in headers.items()}
    assert open_envelope(body, lower, encrypt_key=ENCRYPT_KEY, verification_token=VERIFICATION_TOKEN).event_id


def test_wrong_token_in_header_is_rejected():
    with pytest.raises(TokenError):
        opened(message_event("x", token="wrong"))


def test_encrypted_with_another_key_is_undecryptable():
    payload = json.dumps(message_event("x")).encode()
    body, headers = signed_request(payload, encrypt_key="another key")
    # re-sign with the right key so only decryption can fail
    from larkdou.lark import crypto
    headers["X-Lark-Signature"] = crypto.signature(headers["X-Lark-Request-Timestamp"],
                                                   headers["X-Lark-Request-Nonce"], ENCRYPT_KEY, body)
    with pytest.raises((DecryptError, EventError)):
        open_envelope(body, headers, encrypt_key=ENCRYPT_KEY, verification_token=VERIFICATION_TOKEN)


def test_encrypted_body_without_configured_key():
    body, headers = signed_request(message_event("x"))
    with pytest.raises(DecryptError) as err:
        open_envelope(body, headers, encrypt_key="", verification_token=VERIFICATION_TOKEN)
    assert err.value.reason == "no_encrypt_key"


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'"str"', b"[" * 100000, b'{"a":' * 5000])
def test_a_body_that_is_not_a_json_object_is_not_authenticated(body):
    with pytest.raises(AuthError) as err:
        open_envelope(body, {}, encrypt_key="", verification_token=VERIFICATION_TOKEN)
    assert err.value.reason == "not_json" and err.value.status == 401


def _unsigned_challenge_cipher(plaintext: bytes) -> bytes:
    return json.dumps({"encrypt": crypto.encrypt(ENCRYPT_KEY, plaintext)}).encode()


def test_unsigned_bad_padding_and_good_padding_fail_alike():
    import base64
    good_padding_not_json = _unsigned_challenge_cipher(b"not json at all")
    raw = bytearray(base64.b64decode(json.loads(good_padding_not_json)["encrypt"]))
    raw[-17] ^= 0x01  # flips the last plaintext byte: the padding no longer checks out
    bad_padding = json.dumps({"encrypt": base64.b64encode(bytes(raw)).decode()}).encode()
    not_a_challenge = _unsigned_challenge_cipher(json.dumps(message_event("x")).encode())
    errors = []
    for body in (bad_padding, good_padding_not_json, not_a_challenge):
        with pytest.raises(AuthError) as err:
            open_envelope(body, {}, encrypt_key=ENCRYPT_KEY, verification_token=VERIFICATION_TOKEN)
        errors.append(err.value)
    assert [e.reason for e in errors] == ["undecryptable", "not_json", "missing_signature"]
    assert all(isinstance(e, AuthError) and e.status == 401 for e in errors)


def test_unsigned_request_is_only_ever_a_challenge_with_the_right_token():
    with pytest.raises(AuthError):
        opened({"challenge": "c", "token": "wrong", "type": "url_verification"}, sign=False)
    with pytest.raises(AuthError):  # the challenge alone, without the token
        opened({"challenge": "c", "type": "url_verification"}, sign=False)
    plain = json.dumps({"challenge": "c3", "token": VERIFICATION_TOKEN, "type": "url_verification"}).encode()
    assert open_envelope(plain, {}, encrypt_key=ENCRYPT_KEY, verification_token=VERIFICATION_TOKEN).challenge == "c3"


def test_a_signed_challenge_is_answered_too():
    assert opened({"challenge": "c4", "token": VERIFICATION_TOKEN, "type": "url_verification"}).challenge == "c4"


@pytest.mark.parametrize("age,reason", [(9 * 3600, "stale_timestamp"), (-3600, "future_timestamp")])
def test_timestamp_outside_the_window_is_refused(age, reason):
    import time
    body, headers = signed_request(message_event("x"), timestamp=int(time.time()) - age)
    with pytest.raises(SignatureError) as err:
        open_envelope(body, headers, encrypt_key=ENCRYPT_KEY, verification_token=VERIFICATION_TOKEN)
    assert err.value.reason == reason


def test_timestamp_window_follows_the_dedup_window():
    import time
    from larkdou.lark.envelope import max_request_age
    body, headers = signed_request(message_event("x"), timestamp=int(time.time()) - 7 * 3600 - 600)
    assert open_envelope(body, headers, encrypt_key=ENCRYPT_KEY, verification_token=VERIFICATION_TOKEN,
                         max_age=max_request_age(8)).event_id  # Lark's last re-push, ~7.1 h late
    with pytest.raises(SignatureError):
        open_envelope(body, headers, encrypt_key=ENCRYPT_KEY, verification_token=VERIFICATION_TOKEN,
                      max_age=max_request_age(7))


def test_without_a_configured_verification_token_nothing_is_accepted():
    body = json.dumps(message_event("x", token="")).encode()
    with pytest.raises(TokenError):
        open_envelope(body, {}, encrypt_key="", verification_token="")


def _message(**fields):
    event = message_event("x")
    event["event"]["message"].update(fields)
    return event


@pytest.mark.parametrize("fields,reason", [
    ({"mentions": 1}, "bad_field"),
    ({"mentions": [1]}, "bad_field"),
    ({"mentions": [{"key": "@_user_1", "id": "ou_x"}]}, "bad_field"),
    ({"message_id": 5}, "bad_field"),
    ({"message_id": {"a": 1}}, "bad_field"),
    ({"chat_id": ["oc_1"]}, "bad_field"),
    ({"create_time": "yesterday"}, "bad_field"),
    ({"content": 5}, "bad_field"),
    ({"content": "{not json"}, "bad_content"),
    ({"content": "[" * 100000}, "bad_content"),
    ({"content": json.dumps({"text": 5})}, "bad_field"),
    ({"message_type": "post", "content": json.dumps({"content": 5})}, "bad_field"),
    ({"message_type": "post", "content": json.dumps({"content": [5]})}, "bad_field"),
    ({"message_type": "post", "content": json.dumps({"content": [[{"tag": "text", "text": []}]]})}, "bad_field"),
    ({"content": '{"text": "\ud800"}'}, "bad_encoding"),
    ({"message_id": "om_\ud800"}, "bad_encoding"),
    ({"mentions": [{"key": "@_user_1", "name": "\udfff"}]}, "bad_encoding"),
])
def test_a_malformed_message_field_is_named(fields, reason):
    event = _message(**fields)
    body = json.dumps(event).encode()  # a lone surrogate goes out as a \ud800 escape
    env = open_envelope(body, {}, encrypt_key="", verification_token=VERIFICATION_TOKEN)
    with pytest.raises(EventError) as err:
        to_message(env, recall_keywords=KW)
    assert err.value.reason == reason and err.value.status == 400 and not isinstance(err.value, AuthError)


def test_text_message_with_bot_mention():
    event = message_event("@_user_1 how do I set the key?", message_id="om_9", chat_id="oc_9",
                          mentions=[bot_mention()], create_time_ms=1700000000123)
    msg = to_message(opened(event), bot_open_id=BOT_OPEN_ID, recall_keywords=KW)
    assert msg.content == "@豆哥 how do I set the key?"
    assert msg.mentioned_bot and not msg.is_recall
    assert (msg.msg_id, msg.group_id, msg.user_id, msg.msg_time) == ("om_9", "oc_9", "ou_alice", 1700000000123)
    assert msg.to_fetch_dict("d1")["delivery_id"] == "d1"


def test_mention_of_someone_else_is_not_the_bot():
    event = message_event("@_user_1 hi", mentions=[bot_mention(name="Tom", open_id="ou_tom")])
    msg = to_message(opened(event), bot_open_id=BOT_OPEN_ID, recall_keywords=KW)
    assert not msg.mentioned_bot and msg.content == "@Tom hi"


def test_ten_mentions_replace_longest_key_first():
    mentions = [bot_mention(key=f"@_user_{i}", name=f"U{i}", open_id=f"ou_{i}") for i in range(1, 11)]
    event = message_event("@_user_10 @_user_1", mentions=mentions)
    assert to_message(opened(event), recall_keywords=KW).content == "@U10 @U1"


def test_post_content_becomes_text():
    content = {"title": "标题", "content": [[{"tag": "at", "user_id": "@_user_1", "user_name": "豆哥"},
                                             {"tag": "text", "text": " 怎么部署？"}],
                                            [{"tag": "img", "image_key": "img_1"}]]}
    event = message_event(message_type="post", content=content, mentions=[bot_mention()])
    msg = to_message(opened(event), bot_open_id=BOT_OPEN_ID, recall_keywords=KW)
    assert msg.content == "标题\n@豆哥 怎么部署？\n[image]" and msg.mentioned_bot


def test_language_wrapped_post():
    content = {"zh_cn": {"title": "", "content": [[{"tag": "text", "text": "豆哥撤回"}]]}}
    msg = to_message(opened(message_event(message_type="post", content=content)), recall_keywords=KW)
    assert msg.content == "豆哥撤回" and msg.is_recall


@pytest.mark.parametrize("text,expected", [
    ("豆哥撤回", True), ("  豆哥撤回！", True), ("@_user_1 豆哥撤回", True), ("豆哥撤回。", True),
    ("豆哥 撤回", True), ("请豆哥撤回一下", False), ("豆哥撤回吧我说错了", False), ("", False), ("撤回", False),
])
def test_recall_matching(text, expected):
    assert is_recall_command(text, [Mention(key="@_user_1", name="豆哥")], KW) is expected


def test_recall_keywords_are_configurable_and_case_insensitive():
    assert is_recall_command("Recall!", [], ["recall", "豆哥撤回"])
    assert not is_recall_command("豆哥撤回", [], ["recall"])


@pytest.mark.parametrize("drop", ["message_id", "chat_id"])
def test_message_without_ids_is_rejected(drop):
    event = message_event("x")
    del event["event"]["message"][drop]
    with pytest.raises(EventError) as err:
        to_message(opened(event), recall_keywords=KW)
    assert err.value.reason == "missing_fields"


def test_image_message_has_placeholder_text():
    msg = to_message(opened(message_event(message_type="image", content={"image_key": "img_1"})), recall_keywords=KW)
    assert msg.content == "[image]" and msg.message_type == "image"
