"""Greetings, acknowledgements and small talk: messages a group assistant must never answer.

The check is deliberately conservative: a message is chit-chat when every piece of it is a known
social phrase (or it has no words at all, e.g. only emoji). Anything else goes on to the relevance
check against the knowledge base.
"""

from __future__ import annotations

import re
import unicodedata

PHRASES = frozenset("""
收到 收到了 好 好的 好滴 好嘞 好吧 好哒 行 行的 可以 嗯 嗯嗯 嗯呢 哦 哦哦 噢 喔 额 呃 啊 对 对的 是 是的 没错 明白 明白了 了解 了解了
知道了 懂了 ok okay okk k kk 谢谢 谢谢你 谢谢大家 谢了 多谢 感谢 感谢感谢 辛苦 辛苦了 辛苦啦 赞 点赞 厉害 牛 牛逼 666 6 +1 1 棒
太棒了 不客气 没事 没关系 没问题 客气了 早 早啊 早安 早上好 大家早上好 上午好 中午好 下午好 晚上好 晚安 你好 您好 大家好 哈喽 嗨
在吗 在不在 在的 我在 来了 拜拜 再见 回见 下班了 我先下班了 周末愉快 新年快乐 生日快乐 恭喜 恭喜恭喜 加油 冲 哈 呵呵 嘿嘿 嘻嘻
哇 哇塞 卧槽 无语 笑死 绝了 确实 有道理 同意 赞同 顶 稍等 等等 马上 好久不见
""".split())

EN_WORDS = frozenset("""
ok okay k kk yes yeah yep yup no nope sure fine cool nice great good awesome perfect thanks thank thx ty you u all
everyone everybody guys folks a lot so much very hi hello hey morning afternoon evening night good-night gn gm bye
see later tomorrow soon lol lmao haha hahaha wow got it noted np welcome congrats congratulations happy birthday
agreed agree right true indeed same here plus one +1 ack roger
""".split())

# "It works now": what people say when an answer solved their problem (a reply to the bot, say).
DONE_PHRASES = frozenset("""
解决 解决了 解决啦 已解决 问题解决了 搞定 搞定了 搞定啦 可以了 可以啦 好了 好啦 行了 行啦 成功了 成功啦 能用了 没问题了 懂啦
明白啦 了解啦 了 啦 原来如此 学到了 试试 我试试 试一下 我试一下
""".split())
DONE_WORDS = frozenset("""
works worked working fixed solved resolved done it now that this all makes sense will try i'll i ll
""".split())

# Greetings that, said to the bot itself (direct chat or @mention), get a short introduction.
GREETINGS = frozenset("""
你好 您好 大家好 哈喽 嗨 在吗 在不在 早 早啊 早安 早上好 上午好 中午好 下午好 晚上好 好久不见 hi hello hey morning
""".split())

_LAUGH = re.compile(r"^(?:[哈呵嘿嘻h]+|(?:ha)+h?|(?:he)+|(?:lo)+l|x+d+|2{3,}|6{2,})$", re.IGNORECASE)
_SPLIT = re.compile(r"[\s,，.。!！?？~～、…;；:：]+")


def _has_word(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def _social(word: str, phrases: frozenset[str] = PHRASES, words: frozenset[str] = EN_WORDS) -> bool:
    """Whether `word` is one social phrase, or several run together ("好的谢谢", "收到收到")."""
    if word in phrases or word in words or word.isdigit() or _LAUGH.match(word):
        return True
    reachable = [True] + [False] * len(word)
    for i in range(len(word)):
        if reachable[i]:
            for j in range(i + 1, min(len(word), i + 6) + 1):
                if word[i:j] in phrases or _LAUGH.match(word[i:j]):
                    reachable[j] = True
    return reachable[-1]


def _pieces(text: str) -> list[str]:
    return [p for p in _SPLIT.split(text.strip().lower()) if p]


def is_chitchat(text: str, *, done: bool = False) -> bool:
    """True for greetings, thanks, acknowledgements, laughter, bare numbers and emoji-only messages;
    with `done`, also for saying a problem is solved ("解决了", "ok 了", "it works now, thanks")."""
    phrases, words = (PHRASES | DONE_PHRASES, EN_WORDS | DONE_WORDS) if done else (PHRASES, EN_WORDS)
    pieces = _pieces(text)
    if not any(_has_word(p) for p in pieces):
        return True
    for piece in pieces:
        if not _has_word(piece):
            continue  # an emoji between words
        word = "".join(ch for ch in piece if unicodedata.category(ch)[0] in "LN" or ch in "+'")
        if not _social(word, phrases, words):
            return False
    return True


def is_greeting(text: str) -> bool:
    """True for chit-chat that greets ("你好", "在吗？", "hello"), as opposed to thanks or an acknowledgement."""
    return is_chitchat(text) and any(p in GREETINGS for p in _pieces(text))
