"""Per-group recall keywords decide the recall lane at the gateway, as the top-level ones do."""

from __future__ import annotations

import httpx

from larkdou.config import build_settings
from larkdou.gateway.app import create_app
from larkdou.serving import serving
from tests.factories import FETCH_TOKEN, message_event, settings_dict, signed_request

AUTH = {"Authorization": f"Bearer {FETCH_TOKEN}"}


async def test_each_group_recalls_with_its_own_keywords(store_url: str) -> None:
    data = settings_dict(store_url)
    data["groups"] = [{"chat_id": "oc_ops", "recall_keywords": ["撤回", "take it back"]}]
    async with serving(create_app(build_settings(data, env={}))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for chat_id, text in [("oc_ops", "豆哥撤回"), ("oc_ops", "撤回！"), ("oc_ops", "Take it back."),
                                  ("oc_dev", "撤回"), ("oc_dev", "豆哥撤回")]:
                body, headers = signed_request(message_event(text, chat_id=chat_id))
                assert (await client.post("/event", content=body, headers=headers)).status_code == 200
            got = []
            while (m := (await client.post("/fetch", headers=AUTH)).json()) != {}:
                got.append((m["group_id"], m["content"], m["is_recall"]))
    # the recall lane first, in arrival order; then the rest
    assert got == [("oc_ops", "撤回！", True), ("oc_ops", "Take it back.", True), ("oc_dev", "豆哥撤回", True),
                   ("oc_ops", "豆哥撤回", False), ("oc_dev", "撤回", False)]
