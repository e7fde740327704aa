"""reStructuredText documents, parsed by docutils into clean, structured sections.

Parser complaints (unknown directives, malformed markup) never reach the index: they are returned as
the document's warnings, which the build reports. Common Sphinx markup is understood: `toctree` and
the autodoc directives are dropped, `code-block` is a code block, `:doc:`/`:ref:`/`:func:`… give their
text.
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives, roles
from docutils.parsers.rst.directives.body import CodeBlock

from larkdou.kb.document import Document, SectionBuilder, fence, list_item, pipe_table

_DROPPED_DIRECTIVES = ("toctree autosummary automodule autoclass autofunction automethod autoattribute autodata "
                       "autoexception currentmodule module index tabularcolumns highlight literalinclude "
                       "sectionauthor codeauthor moduleauthor").split()
_CONTAINER_DIRECTIVES = "versionadded versionchanged deprecated seealso only centered hlist glossary".split()
_TEXT_ROLES = ("doc ref term numref any download abbr samp kbd guilabel menuselection program option envvar "
               "file command mimetype newsfragment").split()
_CODE_ROLES = [f"{prefix}{name}" for prefix in ("", "py:") for name in
               "class func meth mod attr data exc obj const".split()]
_TARGET = re.compile(r"^(.*?)\s*<[^<>]*>$", re.DOTALL)
_registered = False
_lock = threading.Lock()


class _Dropped(Directive):
    has_content = True
    optional_arguments = 10
    final_argument_whitespace = True
    option_spec = None  # accept any option

    def run(self) -> list[nodes.Node]:
        return []


class _Container(_Dropped):
    def run(self) -> list[nodes.Node]:
        node = nodes.container()
        if self.arguments:
            node += nodes.paragraph(text=" ".join(self.arguments))
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


def _role_text(text: str) -> str:
    text = nodes.unescape(text).lstrip("!")
    m = _TARGET.match(text)
    if m and m.group(1).strip():
        return m.group(1).strip()
    return text.lstrip("~").rsplit(".", 1)[-1] if text.startswith("~") else text


def _text_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
               options: dict | None = None, content: list | None = None) -> tuple[list, list]:
    return [nodes.Text(_role_text(text))], []


def _code_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any,
               options: dict | None = None, content: list | None = None) -> tuple[list, list]:
    return [nodes.literal(rawtext, _role_text(text))], []


def _register_sphinx_markup() -> None:
    global _registered
    with _lock:
        if _registered:
            return
        for name in _DROPPED_DIRECTIVES:
            directives.register_directive(name, _Dropped)
        for name in _CONTAINER_DIRECTIVES:
            directives.register_directive(name, _Container)
        for name in ("code-block", "sourcecode"):
            directives.register_directive(name, CodeBlock)
        for name in _TEXT_ROLES:
            roles.register_local_role(name, _text_role)
        for name in _CODE_ROLES:
            roles.register_local_role(name, _code_role)
        _registered = True


def _inline(node: nodes.Node) -> str:
    parts = []
    for child in node.children:
        if isinstance(child, nodes.literal):
            parts.append(f"`{child.astext()}`")
        elif isinstance(child, (nodes.Text,)):
            parts.append(child.astext())
        elif isinstance(child, (nodes.image, nodes.target, nodes.footnote_reference)):
            continue
        else:
            parts.append(_inline(child) if child.children else child.astext())
    return " ".join("".join(parts).split())


def _items(node: nodes.Element) -> list[str]:
    enumerated = isinstance(node, nodes.enumerated_list)
    start = int(node.get("start", 1))
    items = [list_item(f"{n}. " if enumerated else "- ", _blocks(item.children))
             for n, item in enumerate(node.children, start)]
    return [i for i in items if i]


def _table(node: nodes.table) -> str:
    rows = [[" ".join(entry.astext().split()) for entry in row.children]
            for row in node.findall(nodes.row)]
    return pipe_table(rows)


def _blocks(children: list[nodes.Node]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for node in children:
        if isinstance(node, (nodes.section, nodes.title, nodes.comment, nodes.target, nodes.substitution_definition,
                             nodes.raw, nodes.image, nodes.transition, nodes.system_message, nodes.pending)):
            continue
        if isinstance(node, nodes.paragraph):
            out.append(("text", _inline(node)))
        elif isinstance(node, (nodes.literal_block, nodes.doctest_block)):
            classes = [c for c in node.get("classes", []) if c != "code"]
            out.append(("code", fence(node.astext(), classes[0] if classes else "")))
        elif isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            out.extend(("item", item) for item in _items(node))
        elif isinstance(node, nodes.table):
            out.append(("table", _table(node)))
        elif isinstance(node, nodes.definition_list):
            out.extend(("item", f"- {_inline(i.children[0])}: " + " ".join(i.children[-1].astext().split()))
                       for i in node.children if isinstance(i, nodes.definition_list_item))
        elif isinstance(node, nodes.field_list):
            out.extend(("item", f"- {f.children[0].astext()}: " + " ".join(f.children[1].astext().split()))
                       for f in node.children if isinstance(f, nodes.field))
        elif isinstance(node, nodes.line_block):
            out.append(("text", "\n".join(" ".join(line.astext().split()) for line in node.findall(nodes.line))))
        elif isinstance(node, nodes.figure):
            out.extend(("text", _inline(c)) for c in node.children if isinstance(c, (nodes.caption, nodes.legend)))
        elif isinstance(node, nodes.Element) and node.children:  # admonitions, quotes, containers, topics
            out.extend(_blocks(list(node.children)))
    return [(k, t) for k, t in out if t.strip()]


def _walk(section: nodes.Element, level: int, out: SectionBuilder) -> None:
    for kind, text in _blocks(list(section.children)):
        out.add(kind, text)
    for child in section.children:
        if isinstance(child, nodes.section):
            title = child.next_node(nodes.title)
            ids = child.get("ids") or [""]
            out.heading(level + 1, title.astext() if title is not None else "", anchor=ids[0])
            _walk(child, level + 1, out)


def parse_rst(text: str) -> Document:
    """reStructuredText into sections; parser messages become warnings ("line N: …"), never text."""
    _register_sphinx_markup()
    doctree = publish_doctree(text, settings_overrides={
        "report_level": 5, "halt_level": 5, "warning_stream": io.StringIO(), "file_insertion_enabled": False,
        "raw_enabled": False, "doctitle_xform": False, "sectsubtitle_xform": False, "syntax_highlight": "none",
    })
    out = SectionBuilder()
    for msg in list(doctree.findall(nodes.system_message)):
        if msg.get("level", 0) >= 2:
            first = msg.next_node(nodes.paragraph)
            line = msg.get("line")
            out.warn(f"{'line ' + str(line) + ': ' if line else ''}{(first or msg).astext().strip()}")
        msg.parent.remove(msg)
    for node in list(doctree.findall(nodes.problematic)):
        node.parent.replace(node, nodes.Text(node.astext()))
    _walk(doctree, 0, out)
    return out.done()


def load_rst(path: Path) -> Document:
    return parse_rst(path.read_text(encoding="utf-8", errors="replace"))
