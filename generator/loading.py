"""Safe YAML reading that keeps the line of every value: no aliases, no tags, no duplicate keys."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Where

try:  # libyaml composes nodes in C; fall back to the pure-Python parser.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_Path = tuple  # a path into a document: keys and list indexes
MAX_DEPTH = 32  # a member record nests about six deep; deeper is an attack or an accident


@dataclass
class Document:
    """One parsed YAML file: plain Python data plus the line of every path in it."""

    file: str
    data: Any
    lines: dict[_Path, int] = field(default_factory=dict)

    def line(self, path: _Path) -> int:
        """The line of `path`, or of its nearest parent that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def where(self, path: _Path = ()) -> Where:
        return Where(self.file, self.line(path))


def decode(raw: bytes, shown: str) -> str:
    """UTF-8 text, or an error naming the line of the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8",
                         Where(shown, line)) from None


def read_yaml(path: Path, shown: str | None = None) -> Document:
    """Read one YAML file safely; every problem is an InputError with file and line."""
    shown = shown or str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", Where(shown)) from None
    return parse_yaml(decode(raw, shown), shown)


def parse_yaml(text: str, shown: str) -> Document:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except RecursionError:
        raise InputError(f"nested more than {MAX_DEPTH} levels deep", Where(shown)) from None
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        code = e.character if isinstance(e.character, int) else ord(e.character)
        raise InputError(f"character U+{code:04X} is not allowed in YAML ({e.reason})",
                         Where(shown, line)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        problem = e.problem or e.context or "invalid YAML"
        raise InputError(f"YAML syntax error: {problem}", Where(shown, line)) from None
    except yaml.YAMLError as e:
        raise InputError(f"YAML error: {e}", Where(shown)) from None
    doc = Document(shown, None)
    if node is None:
        return doc
    doc.data = _Builder(doc, text).build(node, ())
    return doc


class _Builder:
    """Turns a node tree into data; refuses what a member file never needs."""

    def __init__(self, doc: Document, text: str):
        self.doc, self.text = doc, text
        self.seen: set[int] = set()
        self.scalars = yaml.constructor.SafeConstructor()

    def fail(self, message: str, line: int, path: _Path) -> InputError:
        fieldname = ".".join(str(p) for p in path) or None
        return InputError(message, Where(self.doc.file, line), field=fieldname)

    def _first_alias_line(self) -> int:
        """The line of the first alias; only parsed again on this rare error path."""
        for event in yaml.parse(self.text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                return event.start_mark.line + 1
        return 0

    def build(self, node: yaml.Node, path: _Path) -> Any:
        line = node.start_mark.line + 1
        if id(node) in self.seen:
            # The composer hands out the same node object for every alias of an anchor.
            raise self.fail("YAML anchors and aliases (&name / *name) are not allowed; "
                            "write the value out", self._first_alias_line(), path)
        self.seen.add(id(node))
        if len(path) > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep", line, path[:3])
        self.doc.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _STD + "map":
                raise self.fail(f"tag {node.tag!r} is not allowed", line, path)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if key_node.tag == _STD + "merge":
                    raise self.fail("YAML merge keys (<<) are not allowed", key_line, path)
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail("a key must be plain text", key_line, path)
                key = self.build(key_node, path)
                if isinstance(key, (int, float, bool)) or key is None:
                    key = key_node.value  # keys are names: `2024:` stays the text "2024"
                if key in out:
                    first = self.doc.lines.get(path + (key,), "?")
                    raise self.fail(f"duplicate key '{key}' (first at line {first})",
                                    key_line, path + (key,))
                self.doc.lines[path + (key,)] = key_line
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _STD + "seq":
                raise self.fail(f"tag {node.tag!r} is not allowed", line, path)
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        if node.tag not in _SCALAR_TAGS:
            raise self.fail(f"tag {node.tag!r} is not allowed (only plain values)", line, path)
        try:
            return self.scalars.yaml_constructors[node.tag](self.scalars, node)
        except ValueError as e:
            if node.tag == _STD + "timestamp":
                raise self.fail(f"impossible date {node.value!r} ({e})", line, path) from None
            raise self.fail(f"cannot read {node.value!r}: {e}", line, path) from None
