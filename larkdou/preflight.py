"""What each role needs from the config: one function for the services' start-up and `config check`.

`problems(settings, role)` returns every error and warning for a role:
- `gateway`: the verification token (webhook) or the app credentials (long connection), and the
  fetch token that guards `/fetch`;
- `assistant`: the app credentials, the fetch token and `webhook_url` to reach the gateway, an API
  that listens on loopback or has an `api_token`, and a usable LLM setting;
- `standalone` (`larkdou assistant --standalone`): as the assistant, but it reads its own queue (no
  fetch token needed; without one its `/fetch` is off) and receives events itself;
- `all`: the gateway and the assistant (the guide's two machines with one config file).

`check(settings, role)` is what the services call before anything starts: it raises one
`ConfigError` listing every error, and logs the warnings. `check_file(path, role)` is
`larkdou config check`: it also reports what the file itself got wrong, all in one run.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from larkdou.config import Settings, missing
from larkdou.config_load import read_file, read_settings
from larkdou.errors import ConfigError

log = logging.getLogger("larkdou.config")

Role = Literal["gateway", "assistant", "standalone", "all"]
ROLES: tuple[str, ...] = ("gateway", "assistant", "standalone", "all")


@dataclass
class Report:
    """What `config check` prints: the settings read, and every error and warning."""

    settings: Settings
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _gateway(s: Settings) -> tuple[list[str], list[str]]:
    errors, warnings = [], []
    why = " for the gateway"
    if s.lark_group.receive_mode == "long_connection":
        keys = ["frontend.lark_group.app_id", "frontend.lark_group.app_secret"]
    else:
        keys = ["frontend.lark_group.verification_token"]
        if not s.secret(s.lark_group.encrypt_key):
            warnings.append(f"{s.source}: [frontend.lark_group] encrypt_key is not set: the gateway accepts "
                            "unsigned events (verification token only); set the same Encrypt Key as in the "
                            "developer console")
    errors += [p for k in keys if (p := missing(s, k, why))]
    if p := missing(s, "gateway.fetch_token", " for the gateway (the assistant's Bearer token for /fetch)"):
        errors.append(p)
    return errors, warnings


def _assistant(s: Settings, standalone: bool) -> tuple[list[str], list[str]]:
    from larkdou.answer.llm import llm_endpoint

    errors, warnings = [], []
    why = " for the assistant"
    errors += [p for k in ("frontend.lark_group.app_id", "frontend.lark_group.app_secret") if (p := missing(s, k, why))]
    if standalone:
        if s.lark_group.receive_mode == "webhook" and (
                p := missing(s, "frontend.lark_group.verification_token", " for --standalone (it receives events)")):
            errors.append(p)
        if s.gateway.port == s.assistant.port:
            errors.append(f"{s.source}: [gateway] port and [assistant] port are both {s.gateway.port}: "
                          "--standalone serves both, give them different ports")
    elif p := missing(s, "gateway.fetch_token", " for the assistant (it fetches from the gateway with it)"):
        errors.append(p)
    elif not s.frontend.webhook_url.rstrip("/").endswith("/fetch"):
        warnings.append(f"{s.source}: [frontend] webhook_url {s.frontend.webhook_url!r} does not end in /fetch: "
                        "it must be the gateway's /fetch URL, e.g. http://101.133.161.20:6666/fetch")
    if not is_loopback(s.assistant.host) and not s.secret(s.assistant.api_token):
        errors.append(f"{s.source}: [assistant] host {s.assistant.host!r} is not a loopback address: set "
                      "[assistant] api_token (or LARKDOU_API_TOKEN) so that /api/ask needs it, or listen on "
                      "127.0.0.1")
    try:
        llm_endpoint(s)
    except ConfigError as exc:
        errors.append(str(exc))
    return errors, warnings


def problems(settings: Settings, role: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) of `settings` for `role` (see the module docstring)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    errors: list[str] = []
    warnings: list[str] = list(settings.ignored)
    parts = []
    if role in ("gateway", "all"):
        parts.append(_gateway(settings))
    if role in ("assistant", "standalone", "all"):
        parts.append(_assistant(settings, standalone=role == "standalone"))
    seen: set[str] = set()
    for e, w in parts:
        for error in e:  # a key both roles need is said once
            if (key := _key_of(error)) not in seen:
                seen.add(key)
                errors.append(error)
        warnings += w
    return errors, list(dict.fromkeys(warnings))


def check(settings: Settings, role: str) -> None:
    """Before a service starts: raise one ConfigError with every error; log the warnings."""
    errors, warnings = problems(settings, role)
    if errors:
        raise ConfigError("\n".join(errors))
    for warning in warnings:
        log.warning("%s", warning)


def check_file(path: str | Path | None, role: str) -> Report:
    """`larkdou config check`: the file's own problems (unknown keys, types, ranges) and the role's,
    all at once. A missing or unreadable file is a ConfigError."""
    data, source, base_dir = read_file(path, required=True)
    settings, errors, _ = read_settings(data, source=source, base_dir=base_dir)
    role_errors, warnings = problems(settings, role)
    bad_keys = {_key_of(e) for e in errors}
    errors += [e for e in role_errors if _key_of(e) not in bad_keys]  # "wrong type" already says it
    return Report(settings, errors, warnings)


def _key_of(problem: str) -> str:
    """'[gateway] fetch_token' from a problem line, to avoid saying the same key twice."""
    start = problem.find("[")
    return problem[start:].split(":")[0].split(" is required")[0] if start >= 0 else problem
