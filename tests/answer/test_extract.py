"""The part of a passage that answers a question, and how a reply reads."""

from __future__ import annotations

from larkdou.answer.extract import asks_quantity, excerpt, holds_quantity, units_of
from larkdou.answer.reply import Reply, Source, question_language, source_url
from larkdou.kb.chunking import Chunk
from larkdou.kb.tokens import tokenize

FAQ = """1. 如果`curl … /fetch`执行超时如下图。 解答：如果你的GPU机器有公网IP，修改webhook url地址为127.0.0.1

2. 报错huggingface_hub.utils._validators.HFValidationError: Repo id must be in the form repo_name' or 'namespace/repo_name'. 解答：sentence_transformers包的bug,包版本降到2.2.2可以修复。"""

TABLE = """- Error codes: the official table as of 2023-01.

  | Code | Message | Meaning |
  | --- | --- | --- |
  | 230001 | invalid param | bad parameter |
  | 230009 | "Message can only be recalled within one days." | too old |
  | 230026 | "No permission to recall this message." | not the bot's own message |"""

INSTALL = """Click to agree to the BCE model agreement, log in huggingface.

Install dependencies:

```bash
apt update
pip install -r requirements.txt
```

Then build the knowledge base. It takes a while. Put your documents under repodir first."""


def _idf(token: str) -> float:
    return 1.0


def _excerpt(passage: str, question: str, budget: int = 500):  # type: ignore[no-untyped-def]
    return excerpt(passage, "", set(tokenize(question)), _idf, budget, asks_quantity(question))


RECALL = """Who may recall what:

- A bot may recall its own messages.
- A group owner may recall messages in the group.
- The bot must be in the group; for p2p chats the user must be within the bot's availability.
- Messages from batch-send cannot be recalled here.
- Its own messages only within the recall window set by the tenant admin; the default is **24 h**."""


def test_a_question_for_an_amount_is_answered_with_the_sentence_that_states_one() -> None:
    ex = _excerpt(RECALL, "How long after sending can the bot still recall its own message?", budget=120)
    assert "**24 h**" in ex.text and "batch-send" not in ex.text
    # asked for no amount, the sentence with most of the question's words leads
    assert _excerpt(RECALL, "Can the bot recall its own messages?", budget=60).text.startswith("Who may recall")


def test_what_asks_for_an_amount_and_what_states_one() -> None:
    assert all(asks_quantity(q) for q in ("How many questions were used?", "标准版需要多少显存？", "撤回要在多久以内",
                                          "Which port does the API server listen on?", "一个应用最多几个长连接"))
    assert not any(asks_quantity(q) for q in ("How do I install it?", "怎么建立知识库？", "what is a chat_id"))
    assert all(holds_quantity(t) for t in ("up to **1 year** old", "发送时间不超过1天(24小时)", "needs 10GB",
                                           "a total of 2302 questions"))
    assert not any(holds_quantity(t) for t in ("1. What if the robot is too chatty?", "version 1.7.5", "2026-08",
                                               "the e5 model", "issues #96, #119", "see /pull/139"))


def test_an_faq_answer_comes_with_its_question_and_nothing_else() -> None:
    ex = _excerpt(FAQ, "报错 HFValidationError: Repo id must be in the form 怎么解决")
    assert ex.text.startswith("2. 报错huggingface_hub") and ex.text.endswith("包版本降到2.2.2可以修复。")
    assert "curl" not in ex.text and not ex.cut


def test_a_table_shows_its_header_and_the_matching_rows() -> None:
    ex = _excerpt(TABLE, "recall 接口的错误码 230009 是什么意思")
    assert ex.text == ('  | Code | Message | Meaning |\n  | --- | --- | --- |\n'
                       '  | 230009 | "Message can only be recalled within one days." | too old |')
    assert ex.cut


def test_a_code_block_is_kept_whole_with_the_line_that_introduces_it() -> None:
    ex = _excerpt(INSTALL, "how do I install the dependencies?", budget=60)
    assert ex.text == "Install dependencies:\n\n```bash\napt update\npip install -r requirements.txt\n```"
    assert ex.cut


LOOP = """- `start()` captures a module-level asyncio loop at import and runs it with `run_until_complete`, so calling it inside a running loop fails with "This event loop is already running".
  - Common workaround: run it in its own thread with a new loop.
- The handler runs on the client's loop."""


def test_the_next_item_of_the_list_is_shown_past_the_budget_when_it_matches_the_question() -> None:
    question = "I get 'This event loop is already running' when calling start(). Is there a workaround?"
    assert "own thread" in _excerpt(LOOP, question, budget=200).text  # 228 characters with the nested item
    assert "own thread" not in _excerpt(LOOP, "What does start() capture at import?", budget=200).text
    assert "handler" not in _excerpt(LOOP, question, budget=200).text


def test_excerpts_stop_at_sentence_ends_within_the_budget() -> None:
    ex = _excerpt(INSTALL, "build the knowledge base", budget=50)
    assert ex.text == "Then build the knowledge base. It takes a while.…" and ex.cut
    assert len(units_of(INSTALL)) == 6


def test_replies_speak_the_language_of_the_question() -> None:
    assert question_language("recall 接口的错误码 230009 是什么意思") == "zh"
    assert question_language("报错 HFValidationError: Repo id must be in the form 怎么解决") == "zh"
    assert question_language("kubernetes 的 ingress 怎么配置") == "zh"
    assert question_language("How do I use 豆哥撤回?") == "en"
    assert question_language("How do I install HuixiangDou?") == "en"


def test_sources_as_links_or_file_and_heading() -> None:
    chunk = Chunk("id", "docs/zh/安装.md", "Guide › 4. Open APIs (all JSON responses share a shape) › 4.5 Recall",
                  "text", title="Guide", anchor="45-recall")
    url = source_url("https://github.com/InternLM/HuixiangDou/blob/main/", chunk)
    assert url == "https://github.com/InternLM/HuixiangDou/blob/main/docs/zh/%E5%AE%89%E8%A3%85.md#45-recall"
    source = Source(chunk.source, chunk.heading, chunk.title, url)
    assert source.citation == "docs/zh/安装.md › 4. Open APIs › 4.5 Recall"
    reply = Reply("zh", "正文", "extractive", "文档里是这样写的：", [source], more=f"全文：{url}")
    assert reply.to_text() == f"文档里是这样写的：\n正文\n\n来源：docs/zh/安装.md › 4. Open APIs › 4.5 Recall\n全文：{url}"
    two = Reply("en", "Body", "extractive", "From the docs:", [Source("a.md", "A"), Source("b.md")])
    assert two.to_text() == "From the docs:\nBody\n\nSource: a.md › A\n        b.md"
