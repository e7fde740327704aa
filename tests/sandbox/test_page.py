"""The sandbox's web page in a real headless Chromium: post from the box, see the bot's reply quote the
question, see a recall shown as recalled, all without reloading the page."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.sandbox.conftest import Sandbox, wait_until


async def test_post_reply_and_recall_show_live(page: Page, sandbox: Sandbox) -> None:
    await expect(page.locator("#chat-name")).to_have_text("larkdou 测试群")

    await page.fill("#user", "bob")
    await page.check("#mention-bot")
    await page.fill("#text", "怎么配置 encrypt key?")
    await page.click("#send")

    question = page.locator(".message.user").last
    await expect(question).to_contain_text("bob")
    await expect(question).to_contain_text("@豆哥 怎么配置 encrypt key?")
    posted = (await sandbox.messages())[0]
    assert (posted["sender"]["name"], posted["mentions"][0]["open_id"]) == ("bob", sandbox.state.bot.open_id)
    assert await question.get_attribute("data-message-id") == posted["message_id"]
    await wait_until(lambda: sandbox.receiver.pushes)  # and it went out as an event

    # the bot answers through the Open API; the page shows it quoting the question
    auth = await sandbox.token()
    reply = (await sandbox.reply(posted["message_id"], "在 [frontend.lark_group] 里填 encrypt_key。", auth)).json()
    answer = page.locator(f'[data-message-id="{reply["data"]["message_id"]}"]')
    await expect(answer).to_contain_text("在 [frontend.lark_group] 里填 encrypt_key。")
    await expect(answer.locator(".quote")).to_contain_text("bob: @豆哥 怎么配置 encrypt key?")
    await expect(answer.locator(".sender")).to_contain_text("豆哥")

    # the bot recalls it: shown as recalled, its text gone
    await sandbox.http.delete(f"/open-apis/im/v1/messages/{reply['data']['message_id']}", headers=auth)
    await expect(answer).to_have_class("message app recalled")
    await expect(answer).to_have_text("豆哥 撤回了一条消息")
    await expect(page.locator("#messages")).not_to_contain_text("里填 encrypt_key")


async def test_page_shows_a_clear_error_and_new_chats(page: Page, sandbox: Sandbox) -> None:
    await page.fill("#user", " ")
    await page.fill("#text", "hello")
    await page.click("#send")
    await expect(page.locator("#error")).to_contain_text("user")
    assert await sandbox.messages() == []

    await page.fill("#new-chat-name", "运维群")
    await page.click("#new-chat button")
    await expect(page.locator("#chat-name")).to_have_text("运维群")
    await page.fill("#user", "carol")
    await page.fill("#text", "in the new chat")
    await page.click("#send")
    await expect(page.locator(".message.user")).to_have_count(1)
    chats = (await sandbox.http.get("/sandbox/chats")).json()["items"]
    new = next(c for c in chats if c["name"] == "运维群")
    assert [m["text"] for m in await sandbox.messages(new["chat_id"])] == ["in the new chat"]
