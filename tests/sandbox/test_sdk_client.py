"""The official lark-oapi SDK as the client: proof that the sandbox speaks Lark's wire format."""

from __future__ import annotations

import asyncio
import json

import lark_oapi as lark
import pytest
from lark_oapi.api.auth.v3 import InternalTenantAccessTokenRequest, InternalTenantAccessTokenRequestBody
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    DeleteMessageRequest,
    GetMessageRequest,
    ListMessageRequest,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.enum import AccessTokenType, HttpMethod
from lark_oapi.core.exception import ObtainAccessTokenException

from tests.sandbox.conftest import Sandbox


def sdk_client(sb: Sandbox) -> lark.Client:
    return (lark.Client.builder().app_id(sb.state.creds.app_id).app_secret(sb.state.creds.app_secret)
            .domain(sb.url).timeout(10).log_level(lark.LogLevel.ERROR).build())


def text(value: str) -> str:
    return json.dumps({"text": value}, ensure_ascii=False)


async def test_sdk_token_create_reply_delete_info_list(sandbox: Sandbox) -> None:
    client = sdk_client(sandbox)
    chat_id = sandbox.state.default_chat.chat_id
    question = await sandbox.post("what is larkdou?", mention_bot=True)

    # the SDK's blocking calls run in a thread: the sandbox serves from this test's event loop
    token = await asyncio.to_thread(client.auth.v3.tenant_access_token.internal,
                                    InternalTenantAccessTokenRequest.builder().request_body(
                                        InternalTenantAccessTokenRequestBody.builder()
                                        .app_id(sandbox.state.creds.app_id)
                                        .app_secret(sandbox.state.creds.app_secret).build()).build())
    assert token.success(), token.msg
    token_body = json.loads(token.raw.content)
    assert token_body["tenant_access_token"].startswith("t-") and token_body["expire"] == 7200

    info = await asyncio.to_thread(client.request, lark.BaseRequest.builder().http_method(HttpMethod.GET)
                                   .uri("/open-apis/bot/v3/info").token_types({AccessTokenType.TENANT}).build())
    bot = json.loads(info.raw.content)["bot"]
    assert bot["open_id"] == sandbox.state.bot.open_id and bot["activate_status"] == 2

    created = await asyncio.to_thread(client.im.v1.message.create, CreateMessageRequest.builder()
                                      .receive_id_type("chat_id").request_body(
                                          CreateMessageRequestBody.builder().receive_id(chat_id).msg_type("text")
                                          .content(text("hello group")).uuid("create-1").build()).build())
    assert created.success(), created.msg
    assert created.data.chat_id == chat_id and created.data.sender.sender_type == "app"

    replied = await asyncio.to_thread(client.im.v1.message.reply, ReplyMessageRequest.builder()
                                      .message_id(question["message_id"]).request_body(
                                          ReplyMessageRequestBody.builder().msg_type("text")
                                          .content(text("a knowledge assistant")).reply_in_thread(False)
                                          .uuid("reply-1").build()).build())
    assert replied.success(), replied.msg
    assert replied.data.parent_id == question["message_id"] == replied.data.root_id

    deleted = await asyncio.to_thread(client.im.v1.message.delete, DeleteMessageRequest.builder()
                                      .message_id(created.data.message_id).build())
    assert deleted.success(), deleted.msg

    listed = await asyncio.to_thread(client.im.v1.message.list, ListMessageRequest.builder()
                                     .container_id_type("chat").container_id(chat_id)
                                     .sort_type("ByCreateTimeAsc").page_size(20).build())
    assert listed.success(), listed.msg
    got = [(m.message_id, m.sender.sender_type, m.deleted) for m in listed.data.items]
    assert got == [(question["message_id"], "user", False), (created.data.message_id, "app", True),
                   (replied.data.message_id, "app", False)]
    assert json.loads(listed.data.items[2].body.content) == {"text": "a knowledge assistant"}

    fetched = await asyncio.to_thread(client.im.v1.message.get, GetMessageRequest.builder()
                                      .message_id(replied.data.message_id).build())
    assert fetched.success() and fetched.data.items[0].parent_id == question["message_id"]

    # what the chat shows: the question, a recalled message, the reply quoting the question
    shown = await sandbox.messages()
    assert [(m["text"], m["deleted"], m["parent_id"]) for m in shown] == [
        ("@豆哥 what is larkdou?", False, ""), ("hello group", True, ""),
        ("a knowledge assistant", False, question["message_id"])]


async def test_sdk_sees_lark_error_codes(sandbox: Sandbox) -> None:
    client = sdk_client(sandbox)
    question = await sandbox.post("not yours to recall")

    refused = await asyncio.to_thread(client.im.v1.message.delete, DeleteMessageRequest.builder()
                                      .message_id(question["message_id"]).build())
    assert not refused.success()
    assert (refused.code, refused.raw.status_code) == (230026, 400)
    assert refused.error["log_id"]  # header names arrive lowercased, so the SDK's get_log_id() misses them

    # another app_id: the SDK caches tokens per app_id for the whole process
    bad = (lark.Client.builder().app_id("cli_not_this_app").app_secret(sandbox.state.creds.app_secret)
           .domain(sandbox.url).log_level(lark.LogLevel.ERROR).build())
    with pytest.raises(ObtainAccessTokenException) as denied:
        await asyncio.to_thread(bad.im.v1.message.delete, DeleteMessageRequest.builder()
                                .message_id(question["message_id"]).build())
    assert denied.value.code == 99991543
    assert not any(m["deleted"] for m in await sandbox.messages())


async def test_sdk_async_methods_work_too(sandbox: Sandbox) -> None:
    client = sdk_client(sandbox)
    question = await sandbox.post("async?")
    # the SDK fetches its token synchronously even in async calls; fetch it first in a thread
    await asyncio.to_thread(client.im.v1.message.get, GetMessageRequest.builder()
                            .message_id(question["message_id"]).build())
    replied = await client.im.v1.message.areply(ReplyMessageRequest.builder().message_id(question["message_id"])
                                                .request_body(ReplyMessageRequestBody.builder().msg_type("text")
                                                              .content(text("yes")).build()).build())
    assert replied.success(), replied.msg
    deleted = await client.im.v1.message.adelete(DeleteMessageRequest.builder()
                                                 .message_id(replied.data.message_id).build())
    assert deleted.success(), deleted.msg
    assert [m["deleted"] for m in await sandbox.messages()] == [False, True]


async def test_sdk_sends_replies_and_patches_cards(sandbox: Sandbox) -> None:
    from lark_oapi.api.im.v1 import ListChatRequest, PatchMessageRequest, PatchMessageRequestBody

    from larkdou.lark.cards import answer_card, card_content, streaming_card, thinking_card

    client = sdk_client(sandbox)
    chat_id = sandbox.state.default_chat.chat_id
    question = await sandbox.post("cards?")
    created = await asyncio.to_thread(client.im.v1.message.create, CreateMessageRequest.builder()
                                      .receive_id_type("chat_id").request_body(
                                          CreateMessageRequestBody.builder().receive_id(chat_id)
                                          .msg_type("interactive").content(card_content(thinking_card()))
                                          .uuid("card-1").build()).build())
    assert created.success(), created.msg
    replied = await asyncio.to_thread(client.im.v1.message.reply, ReplyMessageRequest.builder()
                                      .message_id(question["message_id"]).request_body(
                                          ReplyMessageRequestBody.builder().msg_type("interactive")
                                          .content(card_content(streaming_card("正在写"))).uuid("card-2")
                                          .build()).build())
    assert replied.success(), replied.msg
    final = answer_card("**写完了**")
    patched = await asyncio.to_thread(client.im.v1.message.patch, PatchMessageRequest.builder()
                                      .message_id(replied.data.message_id).request_body(
                                          PatchMessageRequestBody.builder().content(card_content(final)).build())
                                      .build())
    assert patched.success(), patched.msg
    refused = await asyncio.to_thread(client.im.v1.message.patch, PatchMessageRequest.builder()
                                      .message_id(replied.data.message_id).request_body(
                                          PatchMessageRequestBody.builder().content('{"schema":"2.0"}').build())
                                      .build())
    assert (refused.code, refused.raw.status_code) == (230099, 400)
    fetched = await asyncio.to_thread(client.im.v1.message.get, GetMessageRequest.builder()
                                      .message_id(replied.data.message_id).build())
    item = fetched.data.items[0]
    assert item.msg_type == "interactive" and item.updated is True and json.loads(item.body.content) == final
    chats = await asyncio.to_thread(client.im.v1.chat.list, ListChatRequest.builder().page_size(20).build())
    assert chats.success() and [c.chat_id for c in chats.data.items] == [chat_id]
