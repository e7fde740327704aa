"""`[[groups]]`: per-group settings read from a config file, and the errors a user gets."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from larkdou.cli import main
from larkdou.config import load_settings
from larkdou.errors import ConfigError

CONFIG = """
[frontend.lark_group]
recall_keywords = ["豆哥撤回", "撤回吧"]
recall_allow = ["ou_admin"]

[[groups]]
chat_id = "oc_ops"
mode = "mention"
kb = "ops"
recall_keywords = ["撤回"]

[[groups]]
chat_id = "oc_quiet"
mode = "off"
recall_allow = []
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.ini"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env={})
    return str(info.value)


def test_each_group_gets_its_table_and_the_rest_the_top_level(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG), env={})
    ops = settings.for_chat("oc_ops")
    assert (ops.mode, ops.kb, ops.recall_keywords, ops.recall_allow) == ("mention", "ops", ("撤回",), ("ou_admin",))
    assert ops.configured and ops.answers(addressed=True) and not ops.answers(addressed=False)
    quiet = settings.for_chat("oc_quiet")
    assert (quiet.mode, quiet.kb, quiet.recall_keywords, quiet.recall_allow) == ("off", "default", ("豆哥撤回", "撤回吧"), ())
    assert not quiet.answers(addressed=True) and quiet.may_recall("ou_anyone")
    other = settings.for_chat("oc_elsewhere")
    assert (other.mode, other.kb, other.recall_keywords) == ("auto", "default", ("豆哥撤回", "撤回吧"))
    assert not other.configured and other.answers(addressed=False)
    assert other.may_recall("ou_admin") and not other.may_recall("ou_someone")


def test_a_star_table_sets_the_defaults_of_every_other_chat(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG + '\n[[groups]]\nchat_id = "*"\nmode = "mention"\nkb = "general"\n'),
                             env={})
    assert (settings.for_chat("oc_new").mode, settings.for_chat("oc_new").kb) == ("mention", "general")
    assert (settings.for_chat("oc_quiet").mode, settings.for_chat("oc_quiet").kb) == ("off", "general")
    assert settings.for_chat("oc_ops").kb == "ops"


def test_no_groups_means_the_top_level_everywhere(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[assistant]\nport = 8888\n"), env={})
    assert settings.groups == []
    chat = settings.for_chat("oc_any")
    assert (chat.mode, chat.kb, chat.recall_keywords, chat.recall_allow) == ("auto", "default", ("豆哥撤回",), ())


@pytest.mark.parametrize("table, expected", [
    ('chat_id = "oc_a"\nmode = "sometimes"',
     """[[groups]] entry 1 (chat_id = 'oc_a'): mode: expected "auto", "mention" or "off", got 'sometimes'"""),
    ('chat_id = "oc_a"\nkb = "../etc"', "[[groups]] entry 1 (chat_id = 'oc_a'): kb: must be a simple name"),
    ('chat_id = "oc_a"\nkb = "运维"', "[[groups]] entry 1 (chat_id = 'oc_a'): kb: must be a simple name"),
    ('mode = "off"', "[[groups]] entry 1: chat_id is required"),
    ('chat_id = "ops"', "[[groups]] entry 1 (chat_id = 'ops'): chat_id: must be a chat id"),
    ('chat_id = "oc_a"\nmdoe = "off"', "[[groups]] entry 1 (chat_id = 'oc_a'): unknown key 'mdoe' (did you mean 'mode'?)"),
    ('chat_id = "oc_a"\nrecall_keywords = "撤回"', "[[groups]] entry 1 (chat_id = 'oc_a'): recall_keywords: expected a list"),
    ('chat_id = "oc_a"\nrecall_keywords = [" "]', "recall_keywords: needs at least one non-empty keyword"),
    ('chat_id = 5', "[[groups]] entry 1: chat_id: expected a string, got 5"),
])
def test_a_bad_table_names_the_entry_and_the_key(tmp_path: Path, table: str, expected: str) -> None:
    message = error_of(tmp_path, f"[[groups]]\n{table}\n")
    assert expected in message and message.startswith(str(tmp_path / "config.ini"))


def test_duplicate_chat_ids_and_single_brackets_are_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[[groups]]\nchat_id = "oc_a"\n[[groups]]\nchat_id = "oc_b"\n'
                                 '[[groups]]\nchat_id = "oc_a"\nmode = "off"\n')
    assert "[[groups]] entry 3: chat_id 'oc_a' is already used by entry 1" in message
    assert "double brackets" in error_of(tmp_path, '[groups]\nchat_id = "oc_a"\n')


def test_config_check_shows_the_groups_and_refuses_bad_ones(tmp_path: Path) -> None:
    secrets = {"LARKDOU_APP_ID": "cli_x", "LARKDOU_APP_SECRET": "s", "LARKDOU_ENCRYPT_KEY": "k",
               "LARKDOU_VERIFICATION_TOKEN": "v", "LARKDOU_FETCH_TOKEN": "f"}
    r = CliRunner(env=secrets).invoke(main, ["config", "check", "--config", str(write(tmp_path, CONFIG))])
    assert r.exit_code == 0, r.output
    assert "[[groups]]\n  chat_id = 'oc_ops'\n  mode = 'mention'\n  kb = 'ops'\n  recall_keywords = ['撤回']" in r.output
    bad = write(tmp_path, '[[groups]]\nchat_id = "oc_a"\nmode = "loud"\n')
    r = CliRunner().invoke(main, ["config", "check", "--config", str(bad)])
    assert r.exit_code == 2 and "mode: expected" in r.output and "Traceback" not in r.output
