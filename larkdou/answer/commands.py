"""Chat commands: `/help`, `/kb`, `/forget` — recognising them and writing their replies.

Pure functions: the caller (the answer pipeline) looks up what a reply needs (the chat's settings,
the knowledge base's build facts, how many messages `/forget` dropped from the context store) and
sends the text. Meant for direct chats, where every message is addressed to the bot; in a group the
caller decides (e.g. only when the bot is @mentioned).

A message is a command when, once @mentions are removed, its first word is `/` and a command name
(`/help`, `/kb`, `/forget`, or the Chinese `/帮助`, `/知识库`, `/忘记`), in any case, with a
half- or full-width slash. Anything else — `/etc/hosts 怎么改？` — is an ordinary question.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from larkdou.answer.policy import question_text
from larkdou.groups import ChatSettings
from larkdou.message import Message

if TYPE_CHECKING:
    from larkdou.kb.registry import KBInfo

HELP, KB, FORGET = "help", "kb", "forget"
NAMES = {"help": HELP, "帮助": HELP, "kb": KB, "知识库": KB, "forget": FORGET, "忘记": FORGET}
_MODES = {
    "auto": ("自动判断，能用知识库回答的问题就回答", "I answer the questions my knowledge base can answer"),
    "mention": ("只在 @我 或回复我时回答", "I answer only when @mentioned or replied to"),
    "off": ("不回答", "I do not answer here"),
}


@dataclass(frozen=True)
class Command:
    name: str  # HELP | KB | FORGET
    argument: str = ""  # what follows the command word, if anything


def parse_command(text: str) -> Command | None:
    """The command `text` gives, or None when it is not one."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text.startswith("/") or text[1:2].isspace():
        return None
    word, *rest = text[1:].split(maxsplit=1) or [""]
    name = NAMES.get(word.rstrip("?!.,;:。").casefold())
    return None if name is None else Command(name, rest[0].strip() if rest else "")


def command_of(msg: Message) -> Command | None:
    """The command of a received message (its @mentions removed), or None."""
    return parse_command(question_text(msg))


def help_reply(chat: ChatSettings) -> str:
    """What `/help` answers in `chat`."""
    keyword = chat.recall_keywords[0]
    zh, en = _MODES[chat.mode]
    return "\n".join([
        "我是这里的知识助手，从文档里找答案并注明出处。",
        "- 直接提问（群里请 @我）；回复我的回答就能接着问。",
        "- /kb：这里用哪个知识库、什么时候建立的、有多少文档",
        "- /forget：忘掉这里之前的对话，重新开始",
        "- /help：显示这段说明",
        f"- 说“{keyword}”：撤回我在这里发过的所有消息",
        f"这里的模式：{zh}。",
        "",
        "I am the knowledge assistant here: I answer from the documents and cite them.",
        "- Ask directly (in a group, @mention me); reply to my answer to follow up.",
        "- /kb: which knowledge base answers here, when it was built, how many documents",
        "- /forget: forget the conversation so far and start over",
        "- /help: this text",
        f"- Say \"{keyword}\": I take back everything I said here",
        f"Here: {en}.",
    ])


def _ago(seconds: float) -> tuple[str, str]:
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return "刚刚", "just now"
    if minutes < 60:
        return f"{minutes} 分钟前", f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小时前", f"{minutes // 60} h ago"
    return f"{minutes // 1440} 天前", f"{minutes // 1440} days ago"


def kb_reply(chat: ChatSettings, info: "KBInfo | None", *, now: float | None = None) -> str:
    """What `/kb` answers: the chat's knowledge base, when it was built and how many documents it has
    (`info` None: it has not been built)."""
    name = chat.kb
    if info is None:
        return (f"这里由知识库“{name}”回答，但它还没有建立。管理员可以运行 "
                f"`larkdou kb build --name {name} --docs <文档目录>`。\n"
                f"Knowledge base \"{name}\" answers here, but it is not built yet "
                f"(`larkdou kb build --name {name} --docs DIR`).")
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.built_at))
    zh_ago, en_ago = _ago((time.time() if now is None else now) - info.built_at)
    return (f"这里由知识库“{name}”回答：{info.documents} 个文档，{info.chunks} 个段落，"
            f"建立于 {built}（{zh_ago}）。\n"
            f"Knowledge base \"{name}\" answers here: {info.documents} documents, {info.chunks} passages, "
            f"built {built} ({en_ago}).")


def forget_reply(dropped: int) -> str:
    """What `/forget` answers once the chat's context is cleared (`dropped` messages)."""
    if dropped <= 0:
        return "这里没有需要忘掉的对话。\nThere was no earlier conversation here to forget."
    return (f"好的，我忘掉了这里之前的对话（{dropped} 条消息），下一个问题重新开始。\n"
            f"Done: I forgot the conversation here ({dropped} messages); the next question starts afresh.")
