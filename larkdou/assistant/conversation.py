"""The worker's side of conversations: remembering what was said, so that a follow-up can be answered.

The context store (`larkdou.store.context`) lives in the assistant's store (the ledger's SQLite file
or the same Redis), never only in this process, so any assistant instance can answer a follow-up to
an answer another one sent:
- `heard(msg)`: a person's text message (group or direct chat), without its @mentions, when it is
  handled; not in chats whose mode is "off", not chat commands, not thanks and the like (they say
  nothing a follow-up needs, and would crowd a busy thread's last messages out);
- `answered(msg, reply, messages)`: after an answer was delivered, the bot's answer with its text and
  sources, under the id of its first message, at the time that message appeared (a reply to a later
  part of a long answer finds it through the reply tree they share). A recall in the chat that raced the recording is checked after it, as a send is, so a
  recalled answer never stays as context;
- `recalled(chat_id)`: a recall took the bot's words back: they are dropped from the context (on every
  instance, as the store is shared). The people's messages stay.
A failing context store never stops an answer: it is a log line, and the follow-up gets less context.
"""

from __future__ import annotations

import dataclasses
import logging

from larkdou.answer.reply import Reply
from larkdou.answer.commands import command_of
from larkdou.answer.policy import TEXT_TYPES, question_text
from larkdou.assistant.recall import Recaller
from larkdou.config import Settings
from larkdou.errors import StoreError
from larkdou.kb.chitchat import is_chitchat
from larkdou.message import Message
from larkdou.store.common import now_ms
from larkdou.store.context import ContextEntry, ContextStore

log = logging.getLogger(__name__)
REMEMBERED = ("llm", "extractive")  # the kinds of reply that are part of the conversation


def said(msg: Message) -> ContextEntry:
    """A person's message as it is remembered: its text without the @mentions."""
    return dataclasses.replace(ContextEntry.user(msg), text=question_text(msg))


class Conversation:
    """Records messages and answers in the context store; see the module docstring."""

    def __init__(self, settings: Settings, store: ContextStore, recaller: Recaller):
        self.settings = settings
        self.store = store
        self.recaller = recaller

    async def heard(self, msg: Message) -> None:
        """Remember a person's message (idempotent: a redelivered one is recorded once)."""
        if msg.sender_type not in ("user", "") or msg.message_type not in TEXT_TYPES or msg.source == "api":
            return
        if self.settings.for_chat(msg.chat_id).mode == "off" or command_of(msg) is not None:
            return
        entry = said(msg)
        if not entry.text or is_chitchat(entry.text, done=True):
            return
        try:
            await self.store.record(entry)
        except StoreError as exc:
            log.warning("chat=%s message=%s: not kept as context: %s", msg.chat_id, msg.msg_id, exc)

    async def answered(self, msg: Message, reply: Reply, messages: list[str]) -> None:
        """Remember the bot's answer to `msg`, just delivered in `messages` (the bot's message ids, by
        part). Notices (greetings, commands, "not built") and "not found" replies are not kept."""
        if reply.kind not in REMEMBERED or not messages or not reply.body.strip():
            return
        try:
            first = await self.recaller.ledger.find_sent(messages[0])  # when it appeared in the chat
            at_ms = first.sent_at_ms if first is not None and first.sent_at_ms else now_ms()
            await self.store.record(ContextEntry.bot(msg, messages[0], reply.body,
                                                     [s.citation for s in reply.sources], at_ms))
            if await self.recaller.is_stale(msg.chat_id, msg.msg_time):
                await self.store.drop_bot(msg.chat_id, [messages[0]])  # a recall raced the recording
        except StoreError as exc:
            log.warning("chat=%s message=%s: the answer is not kept as context: %s", msg.chat_id, msg.msg_id, exc)

    async def recalled(self, chat_id: str) -> None:
        """Forget the bot's answers in a chat whose messages were recalled."""
        try:
            dropped = await self.store.drop_bot(chat_id)
        except StoreError as exc:
            log.warning("chat=%s: recalled answers not dropped from the context: %s", chat_id, exc)
            return
        if dropped:
            log.info("chat=%s: %d recalled answer(s) dropped from the context", chat_id, dropped)
