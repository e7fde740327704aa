"""Reading a config file into `Settings`, reporting every problem at once.

`read_settings` never stops at the first problem: unknown keys (with a suggestion), wrong types and
values out of range are all collected, each naming its key and what was expected, and the settings
come back with the defaults in place of what was wrong, so that a caller (`larkdou config check`)
can go on and check what a role needs. HuixiangDou's own tables and keys are not errors: they are
listed once, as ignored (`larkdou.config_compat`). `build_settings` and `load_settings` raise one
`ConfigError` holding every problem, one per line.
"""

from __future__ import annotations

import copy
import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from larkdou import config_compat as compat
from larkdou.config import DEFAULT_CONFIG, SECRET_ENV, SECRET_KEYS, Settings, known_keys
from larkdou.errors import ConfigError
from larkdou.groups import check_groups

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


_RANGE_WORDS = {"greater_than": "more than", "greater_than_equal": "at least",
                "less_than": "less than", "less_than_equal": "at most"}


def _submodel(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    field = model.model_fields.get(key)
    ann = getattr(field, "annotation", None)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _sort_keys(data: Mapping[str, Any], model: type[BaseModel], where: str, source: str,
               errors: list[str], ignored: list[str]) -> dict[str, Any]:
    """`data` without the keys `model` does not know: a mistake is an error (with a suggestion), a
    HuixiangDou table or key is noted as ignored."""
    known = known_keys(model)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            if compat.is_foreign(where, key, known):
                ignored.append(compat.describe(where, key, value))
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
            errors.append(f"{source}: unknown key '{key}' in [{where or 'top level'}]{hint}")
            continue
        sub = _submodel(model, key)
        if sub is not None and isinstance(value, Mapping):
            value = _sort_keys(value, sub, compat.join(where, key), source, errors, ignored)
        out[key] = value
    return out


def _describe(err: Any, source: str) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    section, _, key = loc.rpartition(".")
    name = f"[{section}] {key}" if section else key
    expected = _TYPE_WORDS.get(err["type"])
    got = "(hidden)" if key in SECRET_KEYS else repr(err.get("input"))
    if expected:
        return f"{source}: {name}: expected {expected}, got {got}"
    if err["type"] == "literal_error":
        return f"{source}: {name}: expected {err['ctx']['expected']}, got {got}"
    if err["type"] in _RANGE_WORDS:
        bound = next(iter(err.get("ctx", {}).values()), "?")
        return f"{source}: {name}: must be {_RANGE_WORDS[err['type']]} {bound}, got {got}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{source}: {name}: {msg} (got {got})"


def _drop(data: dict[str, Any], loc: tuple[Any, ...]) -> None:
    """Remove the value at `loc` (a pydantic error location), so that its default applies."""
    node: Any = data
    for part in loc[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(loc[-1], None)


def _apply_env(data: dict[str, Any], env: Mapping[str, str], errors: list[str]) -> None:
    for (section, key), var in SECRET_ENV.items():
        value = env.get(var)
        if not value:
            continue
        node = data
        for part in section.split("."):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                errors.append(f"[{section}] must be a table to take {var}")
                break
        else:
            node[key] = value


def read_settings(data: dict[str, Any], *, source: str = "<config>", base_dir: Path | None = None,
                  env: Mapping[str, str] | None = None) -> tuple[Settings, list[str], list[str]]:
    """(settings, errors, ignored): every problem of a parsed TOML document (plus the secret
    environment variables), and the settings with defaults in place of what was wrong."""
    errors: list[str] = []
    ignored: list[str] = []
    data = copy.deepcopy(data)
    _apply_env(data, os.environ if env is None else env, errors)
    clean = _sort_keys(data, Settings, "", source, errors, ignored)
    try:
        check_groups(clean.get("groups"), source)
    except ConfigError as exc:
        errors.extend(str(exc).splitlines())
        clean.pop("groups", None)
    settings = None
    for _ in range(8):  # each round drops the values pydantic refused; nested tables may need more
        try:
            settings = Settings.model_validate(clean)
            break
        except ValidationError as exc:
            for err in exc.errors():
                errors.append(_describe(err, source))
                _drop(clean, tuple(err["loc"]))
    if settings is None:
        settings = Settings()
    settings.base_dir = (base_dir or Path.cwd()).resolve()
    settings.source = source
    settings.ignored = [compat.ignored_note(source, ignored)] if ignored else []
    return settings, list(dict.fromkeys(errors)), settings.ignored


def build_settings(data: dict[str, Any], *, source: str = "<config>", base_dir: Path | None = None,
                   env: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed TOML document (plus secret environment variables) into `Settings`; one
    ConfigError lists every problem."""
    settings, errors, _ = read_settings(data, source=source, base_dir=base_dir, env=env)
    if errors:
        raise ConfigError("\n".join(errors))
    return settings


def read_file(path: str | Path | None = None, *, required: bool = False) -> tuple[dict[str, Any], str, Path | None]:
    """(parsed TOML, source name, its folder). A missing file is {} unless `required` or named."""
    p = Path(path or DEFAULT_CONFIG)
    if not p.exists():
        if required or path is not None:
            raise ConfigError(f"config file not found: {p} (create one with `larkdou config init`)")
        return {}, "<defaults>", None
    try:
        return tomllib.loads(p.read_text(encoding="utf-8")), str(p), p.resolve().parent
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None


def load_settings(path: str | Path | None = None, *, required: bool = False,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config file. A missing file gives the defaults unless `required`."""
    data, source, base_dir = read_file(path, required=required)
    return build_settings(data, source=source, base_dir=base_dir, env=env)
