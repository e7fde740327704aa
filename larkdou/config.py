"""One typed settings object, read once at the edge and passed down.

The file is TOML, named `config.ini` by default (as in the guide). Every secret can also come from an
environment variable (see `SECRET_ENV`); a set, non-empty variable wins over the file.
Unknown keys and wrong types are `ConfigError`s that name the key and what was expected.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from larkdou.errors import ConfigError

DEFAULT_CONFIG = "config.ini"
DEFAULT_RECALL_KEYWORDS = ["豆哥撤回"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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


class GatewayConfig(_Section):
    host: str = "0.0.0.0"
    port: int = Field(6666, ge=1, le=65535)
    store: str = ""  # default: sqlite:///<work_dir>/gateway.db
    fetch_token: SecretStr = SecretStr("")
    fetch_wait: float = Field(5.0, ge=0, le=300)  # default /fetch long-poll (?wait= overrides), seconds
    lease_seconds: float = Field(120.0, gt=0)  # a fetched message not acked by then is delivered again
    dedup_hours: float = Field(12.0, ge=8)  # Lark re-pushes for about 7.1 h
    max_body_bytes: int = Field(1024 * 1024, gt=0)


class AssistantConfig(_Section):
    host: str = "0.0.0.0"
    port: int = Field(8888, ge=1, le=65535)
    store: str = ""  # the sent-message ledger; default: sqlite:///<work_dir>/assistant.db
    work_dir: str = "workdir"
    concurrency: int = Field(8, ge=1)  # chats answered at the same time
    fetch_wait: float = Field(20.0, ge=0, le=300)
    recall_concurrency: int = Field(10, ge=1)


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
    base_url: str = ""
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


class KBConfig(_Section):
    dir: str = ""  # default: <work_dir>/kb
    docs: str = ""  # default document folder for `kb build`
    top_k: int = Field(4, ge=1)
    threshold: float | None = Field(None, ge=0, le=1)  # the answer decision's threshold (a probability); overrides the built one
    llm_check: bool = True  # with an LLM, borderline group decisions are confirmed by it
    chunk_size: int = Field(600, ge=50)
    chunk_overlap: int = Field(80, ge=0)
    embedding: Literal["none", "", "e5", "local", "api"] = "none"  # "" is "none"; "e5" needs larkdou[e5]
    embedding_model: str = ""  # local model path, or the API model name
    embedding_base_url: str = ""
    embedding_api_key: SecretStr = SecretStr("")


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

    # where relative paths are resolved (the config file's folder); not a config key
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str = Field("<defaults>", exclude=True)

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


# Environment variables for secrets: (section path, key) -> variable name.
SECRET_ENV: dict[tuple[str, str], str] = {
    ("frontend.lark_group", "app_id"): "LARKDOU_APP_ID",
    ("frontend.lark_group", "app_secret"): "LARKDOU_APP_SECRET",
    ("frontend.lark_group", "encrypt_key"): "LARKDOU_ENCRYPT_KEY",
    ("frontend.lark_group", "verification_token"): "LARKDOU_VERIFICATION_TOKEN",
    ("gateway", "fetch_token"): "LARKDOU_FETCH_TOKEN",
    ("llm", "api_key"): "LARKDOU_LLM_API_KEY",
    ("llm.server", "remote_api_key"): "LARKDOU_REMOTE_API_KEY",
    ("kb", "embedding_api_key"): "LARKDOU_EMBEDDING_API_KEY",
}

SECRET_KEYS = {key for (_, key) in SECRET_ENV}

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [n for n, f in model.model_fields.items() if not f.exclude]


def _submodel(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    field = model.model_fields.get(key)
    ann = getattr(field, "annotation", None)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _check_unknown(data: Mapping[str, Any], model: type[BaseModel], where: str, source: str) -> None:
    """Reject unknown keys with a suggestion, before pydantic sees them (clearer messages)."""
    known = _known_keys(model)
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
            raise ConfigError(f"{source}: unknown key '{key}' in [{where or 'top level'}]{hint}")
        sub = _submodel(model, key)
        if sub is not None and isinstance(value, Mapping):
            _check_unknown(value, sub, _join(where, key), source)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _describe(err: dict[str, Any], source: str) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    section, _, key = loc.rpartition(".")
    name = f"[{section}] {key}" if section else key
    expected = _TYPE_WORDS.get(err["type"])
    if key in SECRET_KEYS:
        got = "(hidden)"
    else:
        got = repr(err.get("input"))
    if expected:
        return f"{source}: {name}: expected {expected}, got {got}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{source}: {name}: {msg} (got {got})"


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for (section, key), var in SECRET_ENV.items():
        value = env.get(var)
        if not value:
            continue
        node = data
        for part in section.split("."):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"[{section}] must be a table to take {var}")
        node[key] = value


def build_settings(data: dict[str, Any], *, source: str = "<config>", base_dir: Path | None = None,
                   env: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed TOML document (plus secret environment variables) into `Settings`."""
    data = dict(data)
    _apply_env(data, os.environ if env is None else env)
    _check_unknown(data, Settings, "", source)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(e, source) for e in exc.errors())) from None
    settings.base_dir = (base_dir or Path.cwd()).resolve()
    settings.source = source
    return settings


def load_settings(path: str | Path | None = None, *, required: bool = False,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config file. A missing file gives the defaults unless `required`."""
    p = Path(path or DEFAULT_CONFIG)
    if not p.exists():
        if required or path is not None:
            raise ConfigError(f"config file not found: {p} (create one with `larkdou config init`)")
        return build_settings({}, source="<defaults>", env=env)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    return build_settings(data, source=str(p), base_dir=p.resolve().parent, env=env)


def require(settings: Settings, *keys: str) -> None:
    """Raise ConfigError unless each dotted key (e.g. 'frontend.lark_group.verification_token') is set."""
    for dotted in keys:
        node: Any = settings
        for part in dotted.split("."):
            node = getattr(node, part)
        value = node.get_secret_value() if isinstance(node, SecretStr) else node
        if not value:
            section, _, key = dotted.rpartition(".")
            env = SECRET_ENV.get((section, key))
            hint = f" or set {env}" if env else ""
            if settings.source == "<defaults>":
                hint += f" (no {DEFAULT_CONFIG} here: write one with `larkdou config init`, or pass --config)"
            raise ConfigError(f"{settings.source}: [{section}] {key} is required{hint}")


def masked(value: Any) -> str:
    """How `config check` shows a secret."""
    s = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return "(not set)" if not s else f"****** ({len(s)} chars)"


def describe_settings(settings: Settings) -> list[str]:
    """Lines for `config check`: every key with its value, secrets masked."""
    lines: list[str] = []

    def walk(model: BaseModel, where: str) -> None:
        scalars, tables = [], []
        for name in _known_keys(type(model)):
            value = getattr(model, name)
            (tables if isinstance(value, BaseModel) else scalars).append((name, value))
        if scalars:
            lines.append(f"[{where}]")
            for name, value in scalars:
                shown = masked(value) if isinstance(value, SecretStr) else repr(value)
                lines.append(f"  {name} = {shown}")
        for name, value in tables:
            walk(value, _join(where, name))

    for name in _known_keys(Settings):
        walk(getattr(settings, name), name)
    return lines
