"""The `larkdou` command line (also `python -m larkdou`): one click group, one module per command
group. The packages below it (`kb`, `gateway`, `assistant`, …) expose functions; the commands live here."""

from larkdou.cli.common import load
from larkdou.cli.main import main

__all__ = ["load", "main"]
