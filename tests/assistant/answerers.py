"""Small answerers for tests: the assistant takes any object with `decide` and `aclose`."""

from __future__ import annotations

import asyncio

from larkdou.answer.base import Decision
from larkdou.message import Message


class QuestionAnswerer:
    """Answers questions (ending in ? or ？), @mentions and direct chats with "答：<text>"; silent
    otherwise. `delay` seconds of "generation"; texts in `slow` take their own delay."""

    def __init__(self, delay: float = 0.0, slow: dict[str, float] | None = None):
        self.delay = delay
        self.slow = slow or {}
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.finished: list[str] = []
        self.in_flight: dict[str, int] = {}  # chat -> answers being generated
        self.most_at_once = 0  # across chats
        self.most_in_one_chat = 0

    async def decide(self, msg: Message) -> Decision:
        self.started.append(msg.content)
        chat = msg.group_id
        self.in_flight[chat] = self.in_flight.get(chat, 0) + 1
        self.most_at_once = max(self.most_at_once, sum(self.in_flight.values()))
        self.most_in_one_chat = max(self.most_in_one_chat, self.in_flight[chat])
        try:
            await asyncio.sleep(self.slow.get(msg.content, self.delay))
        except asyncio.CancelledError:
            self.cancelled.append(msg.content)
            raise
        finally:
            self.in_flight[chat] -= 1
        self.finished.append(msg.content)
        if msg.chat_type == "p2p":
            return Decision(True, "p2p", f"答：{msg.content}")
        if msg.mentioned_bot:
            return Decision(True, "mentioned", f"答：{msg.content}")
        if msg.content.rstrip().endswith(("?", "？")):
            return Decision(True, "relevant", f"答：{msg.content}", sources=["faq.md"], score=0.9)
        return Decision(False, "chitchat")

    async def aclose(self) -> None:
        pass
