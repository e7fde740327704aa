"""Outgoing text: idempotency keys and splitting long answers."""

from __future__ import annotations

import json

import pytest

from larkdou.lark.text import TEXT_BODY_MAX, TEXT_LIMIT, UUID_MAX, encoded_size, reply_uuid, split_text, text_content


def test_reply_uuid_is_stable_short_and_distinct_per_part() -> None:
    long_id = "om_x100b54e6" + "f" * 80
    keys = [reply_uuid(long_id, i) for i in range(200)]
    assert keys == [reply_uuid(long_id, i) for i in range(200)]
    assert len(set(keys)) == 200
    assert all(0 < len(k) <= UUID_MAX for k in keys)
    assert reply_uuid("om_a") != reply_uuid("om_b")
    assert reply_uuid("om_a") == reply_uuid("om_a", 0)


@pytest.mark.parametrize("bad", [("", 0), ("om_a", -1)])
def test_reply_uuid_rejects_bad_input(bad: tuple[str, int]) -> None:
    with pytest.raises(ValueError):
        reply_uuid(*bad)


def test_encoded_size_matches_the_real_request_body() -> None:
    for text in ["hello", "你好，世界", 'quote " and \\ back', "line\nline\ttab", "emoji 😀", ""]:
        body = json.dumps({"msg_type": "text", "content": text_content(text)}, ensure_ascii=False).encode()
        empty = json.dumps({"msg_type": "text", "content": text_content("")}, ensure_ascii=False).encode()
        assert len(body) - len(empty) == encoded_size(text)


def test_short_text_is_one_part() -> None:
    assert split_text("一个问题的答案。\n\n第二段。") == ["一个问题的答案。\n\n第二段。"]
    assert TEXT_LIMIT < TEXT_BODY_MAX


def test_split_keeps_paragraphs_whole_and_in_order() -> None:
    paragraphs = [f"第{i}段：" + "内容" * 40 for i in range(30)]
    text = "\n\n".join(paragraphs)
    parts = split_text(text, limit=1000)
    assert len(parts) > 1
    assert all(encoded_size(p) <= 1000 for p in parts)
    # every paragraph lands whole in exactly one part, in the original order
    rebuilt = [para for part in parts for para in part.split("\n\n")]
    assert rebuilt == paragraphs


def test_split_cuts_an_oversized_paragraph_at_sentences_then_anywhere() -> None:
    sentence = "这是一句很长的话" * 10 + "。"
    text = sentence * 20 + "\n\n" + "x" * 5000
    parts = split_text(text, limit=600)
    assert all(encoded_size(p) <= 600 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    assert all(p.endswith("。") for p in parts if "这" in p and "x" not in p)


def test_split_of_chinese_answer_under_lark_body_limit() -> None:
    text = "\n\n".join("汉字" * 20000 for _ in range(5))  # ~600 KB once encoded
    parts = split_text(text)
    assert len(parts) >= 5
    for p in parts:
        body = json.dumps({"receive_id": "oc_x", "msg_type": "text", "content": text_content(p),
                           "uuid": reply_uuid("om_x", 99)}, ensure_ascii=False).encode()
        assert len(body) < TEXT_BODY_MAX


def test_blank_text_gives_no_parts_and_tiny_limit_is_refused() -> None:
    assert split_text("\n\n  \n") == []
    with pytest.raises(ValueError):
        split_text("abc", limit=3)
