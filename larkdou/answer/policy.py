"""Who is being talked to, and what was asked: the part of the answer decision that needs no index.

Direct chats and @mentions of the bot are addressed to it, and so are replies to its messages (the
answer pipeline finds those out from the sent-message ledger: `larkdou.answer.followup`); messages
in a thread where the bot answered are meant for it too, but answered only when they are questions it
can answer. Other group messages are answered only when the knowledge base finds them relevant
(decided later). Chit-chat (thanks, "解决了", "ok 了" included), non-text messages and messages from bots
get silence whoever they address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from larkdou.kb.chitchat import is_chitchat
from larkdou.message import Message

TEXT_TYPES = frozenset({"text", "post"})
_PLACEHOLDER = re.compile(r"@_(?:user_\d+|all)\b")


ADDRESSED = ("p2p", "mentioned", "reply")


@dataclass
class Route:
    question: str  # the message text without @mentions
    reason: str  # "p2p", "mentioned", "reply" (to the bot), "thread" (where the bot answered) or "group"
    silence: str = ""  # set when the message is never answered: "chitchat", "not_text", "from_bot", "empty"

    @property
    def addressed(self) -> bool:
        """Put to the bot: it always gets a reply (the answer, or what the documents cover)."""
        return self.reason in ADDRESSED

    @property
    def for_bot(self) -> bool:
        """Meant for the bot (addressed, or in a thread where it answered): a "mention" group answers it."""
        return self.addressed or self.reason == "thread"


def mentions_bot(msg: Message, bot_open_id: str = "") -> bool:
    """The gateway's verdict, or a mention carrying the bot's open_id (never judged by name)."""
    return msg.mentioned_bot or bool(bot_open_id) and any(m.open_id == bot_open_id for m in msg.mentions)


def question_text(msg: Message) -> str:
    """The message text with every @mention (as "@Name" or a raw "@_user_N" placeholder) removed."""
    text = msg.content
    for m in msg.mentions:
        for form in (f"@{m.name}", m.key):
            if form.strip("@"):
                text = text.replace(form, " ")
    return " ".join(_PLACEHOLDER.sub(" ", text).split())


def route(msg: Message, bot_open_id: str = "") -> Route:
    """Classify a message before any retrieval."""
    if msg.chat_type == "p2p":
        reason = "p2p"
    elif mentions_bot(msg, bot_open_id):
        reason = "mentioned"
    else:
        reason = "group"
    question = question_text(msg)
    if msg.sender_type not in ("user", ""):
        return Route(question, reason, "from_bot")
    if msg.message_type not in TEXT_TYPES:
        return Route(question, reason, "not_text")
    if not question:
        return Route(question, reason, "empty")
    if is_chitchat(question, done=True):
        return Route(question, reason, "chitchat")
    return Route(question, reason)
