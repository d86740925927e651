"""Safe YAML reading that keeps the line of every value: no aliases, no tags, no duplicate keys."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from memberportal.errors import InputError, Where, worded

try:  # libyaml parses in C; fall back to the pure-Python parser.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader

_STD = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _STD + "str", _STD + "map", _STD + "seq", _STD + "merge"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_NULL = _STD + "null"
_NULL_TEXT = re.compile(r"(?:~|null|Null|NULL|)\Z")  # YAML 1.1's null, as PyYAML resolves it
_MEANS = {_STD + "int": "int", _STD + "float": "float", _STD + "bool": "bool", _NULL: "null",
          _STD + "timestamp": "timestamp"}   # error.yaml_as_<name>: what the tag means
_Path = tuple  # a path into a document: keys and list indexes
MAX_DEPTH = 32  # a member record nests about six deep; deeper is an attack or an accident
_NO_KEY = object()  # a mapping frame waiting for its next key


class Document:
    """One parsed YAML file: plain Python data plus the line of every path in it.

    Read with lines=False, only the top level has lines; asking for a deeper path parses
    the text again with every line, which only errors need.
    """

    def __init__(self, file: str, data: Any = None, lines: dict[_Path, int] | None = None,
                 text: str | None = None, complete: bool = True):
        self.file, self.data, self.text = file, data, text
        self._lines = lines if lines is not None else {}
        self._complete = complete or text is None

    @property
    def lines(self) -> dict[_Path, int]:
        if not self._complete:
            self._lines = parse_yaml(self.text, self.file).lines
            self._complete = True
        return self._lines

    def line(self, path: _Path) -> int:
        """The line of `path`, or of its nearest parent that has one."""
        path = tuple(path)
        lines = self._lines if len(path) <= 1 and path in self._lines else self.lines
        while path:
            if path in lines:
                return lines[path]
            path = path[:-1]
        return lines.get((), 1)

    def where(self, path: _Path = ()) -> Where:
        return Where(self.file, self.line(path))


def _cannot_read(value: str, tag: str) -> dict:
    return worded(f"error.yaml_as_{_MEANS[tag]}", value=repr(value))


def decode(raw: bytes, shown: str) -> str:
    """UTF-8 text, or an error naming the line of the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(**worded("error.not_utf8", byte=f"0x{raw[e.start]:02x}"),
                         where=Where(shown, line)) from None


def read_yaml(path: Path, shown: str | None = None, lines: bool = True) -> Document:
    """Read one YAML file safely; every problem is an InputError with file and line."""
    shown = shown or str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(**worded("error.cannot_read", why=e.strerror),
                         where=Where(shown)) from None
    return parse_yaml(decode(raw, shown), shown, lines)


def parse_yaml(text: str, shown: str, lines: bool = True) -> Document:
    """Parse `text`; with lines=False only the top level keeps its lines (faster)."""
    loader = _Loader(text)
    try:
        return _Builder(shown, text, lines).build(loader)
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        code = e.character if isinstance(e.character, int) else ord(e.character)
        raise InputError(**worded("error.yaml_character", code=f"{code:04X}", why=e.reason),
                         where=Where(shown, line)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        problem = e.problem or e.context or "invalid YAML"
        if "maximum nesting depth" in problem:  # PyYAML >= 6.0.4 stops before our own check
            raise InputError(**worded("error.yaml_depth", n=MAX_DEPTH),
                             where=Where(shown, line)) from None
        raise InputError(**worded("error.yaml_syntax", why=problem),
                         where=Where(shown, line)) from None
    except yaml.YAMLError as e:
        raise InputError(**worded("error.yaml_other", why=str(e)), where=Where(shown)) from None
    finally:
        loader.dispose()


_scalar_cache: dict[tuple[str, str], Any] = {}  # (tag, text) -> value; values are immutable
_plain_cache: dict[str, Any] = {}  # untagged plain text -> value: skips the resolver's regexes
_MISS = object()


def _remember(cache: dict, key: Any, value: Any) -> None:
    if len(cache) > 50_000:
        cache.clear()
    cache[key] = value


class _Builder:
    """Turns the parser's events into data; refuses what a member file never needs.

    Events rather than composed nodes: one pass, no node objects, and an alias is refused
    before anything it points at is expanded.
    """

    def __init__(self, file: str, text: str, track: bool):
        self.file, self.text, self.track = file, text, track
        self.lines: dict[_Path, int] = {}
        self.scalars = yaml.constructor.SafeConstructor()
        self.resolver = _Loader.__new__(_Loader)

    def fail(self, told: dict, line: int, path: _Path) -> InputError:
        """`told`: errors.worded(...), the message and its catalogue entries."""
        if not self.track:  # every error is reported from the full parse, with every line
            parse_yaml(self.text, self.file, lines=True)
        fieldname = ".".join(str(p) for p in path) or None
        return InputError(**told, where=Where(self.file, line), field=fieldname)

    def scalar(self, ev: ScalarEvent, path: _Path) -> Any:
        tag = ev.tag
        plain = False
        if tag is None or tag == "!":
            if not ev.implicit[0]:
                return ev.value  # quoted: always text
            value = _plain_cache.get(ev.value, _MISS)
            if value is not _MISS:
                return value
            tag = self.resolver.resolve(yaml.ScalarNode, ev.value, ev.implicit)
            plain = True
        if tag == _STR:
            if plain:
                _remember(_plain_cache, ev.value, ev.value)
            return ev.value
        line = ev.start_mark.line + 1
        if tag not in _SCALAR_TAGS:
            raise self.fail(worded("error.yaml_tag", tag=repr(tag)), line, path)
        key = (tag, ev.value)
        if key in _scalar_cache:
            return _scalar_cache[key]
        if tag == _NULL and not _NULL_TEXT.match(ev.value):  # PyYAML drops such text
            raise self.fail(_cannot_read(ev.value, tag), line, path)
        try:
            value = self.scalars.yaml_constructors[tag](self.scalars,
                                                        yaml.ScalarNode(tag, ev.value))
        except (ValueError, IndexError, KeyError, AttributeError, TypeError) as e:
            if tag == _STD + "timestamp" and isinstance(e, ValueError):
                raise self.fail(worded("error.yaml_date", value=repr(ev.value), why=str(e)), line,
                                path) from None
            # PyYAML's constructors fail in many ways (`!!int` of nothing: IndexError)
            raise self.fail(_cannot_read(ev.value, tag), line, path) from None
        _remember(_scalar_cache, key, value)
        if plain:
            _remember(_plain_cache, ev.value, value)
        return value

    def key(self, ev: Any, out: dict, path: _Path) -> Any:
        line = ev.start_mark.line + 1
        if not isinstance(ev, ScalarEvent):
            if isinstance(ev, AliasEvent):
                raise self.alias(ev, path)
            raise self.fail(worded("error.yaml_key"), line, path)
        if (ev.tag is None and ev.implicit[0] and ev.value == "<<") or ev.tag == _MERGE:
            raise self.fail(worded("error.yaml_merge"), line, path)
        key = self.scalar(ev, path)
        if isinstance(key, (int, float, bool)) or key is None:
            key = ev.value  # keys are names: `2024:` stays the text "2024"
        if key in out:
            first = self.lines.get(path + (key,), "?")
            raise self.fail(worded("error.yaml_duplicate", name=key, first=first), line,
                            path + (key,))
        if self.track or len(path) < 1:
            self.lines[path + (key,)] = line
        return key

    def alias(self, ev: AliasEvent, path: _Path) -> InputError:
        return self.fail(worded("error.yaml_alias"), ev.start_mark.line + 1, path)

    def build(self, loader) -> Document:
        get = loader.get_event
        ev = get()
        assert isinstance(ev, StreamStartEvent)
        ev = get()
        data = None
        if isinstance(ev, DocumentStartEvent):
            data = self.node(get)
            ev = get()
            assert isinstance(ev, DocumentEndEvent)
            ev = get()
            if not isinstance(ev, StreamEndEvent):
                raise InputError(**worded("error.yaml_documents"),
                                 where=Where(self.file, ev.start_mark.line + 1))
        return Document(self.file, data, self.lines, self.text, complete=self.track)

    def node(self, get) -> Any:
        """One whole node: a loop over events with an explicit stack (no recursion).

        Plain keys and values seen before (in _plain_cache) skip key() and scalar(): most of
        a member file is the same few dozen field names and values, and the loop is half the
        parse. A key read as text goes in as it is; others (2024:, dates) take key()."""
        track, lines, plain = self.track, self.lines, _plain_cache
        stack: list[list] = []  # [container, its path, pending key (mappings)]
        root: Any = None
        while True:
            ev = get()
            kind = type(ev)
            if stack:
                top = stack[-1]
                container = top[0]
                if type(container) is dict:
                    if top[2] is _NO_KEY:
                        if kind is MappingEndEvent:
                            stack.pop()
                            if not stack:
                                return root
                            continue
                        if kind is ScalarEvent and ev.tag is None and ev.implicit[0]:
                            key = plain.get(ev.value)
                            if type(key) is str and key not in container:
                                top[2] = key
                                if track or not top[1]:
                                    lines[top[1] + (key,)] = ev.start_mark.line + 1
                                continue
                        top[2] = self.key(ev, container, top[1])
                        continue
                    path = top[1] + (top[2],) if track or len(stack) < 2 else None
                else:
                    if kind is SequenceEndEvent:
                        stack.pop()
                        if not stack:
                            return root
                        continue
                    path = top[1] + (len(container),) if track or len(stack) < 2 else None
            else:
                path = ()
            if path is not None:
                lines.setdefault(path, ev.start_mark.line + 1)
            if kind is ScalarEvent:
                if ev.tag is None:
                    if not ev.implicit[0]:
                        value = ev.value  # quoted: always text
                    else:
                        value = plain.get(ev.value, _MISS)
                        if value is _MISS:
                            value = self.scalar(ev, path if path is not None else top[1])
                else:
                    value = self.scalar(ev, path if path is not None else top[1])
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                line = ev.start_mark.line + 1
                mapping = kind is MappingStartEvent
                if ev.tag not in (None, "!", _MAP if mapping else _SEQ):
                    raise self.fail(worded("error.yaml_tag", tag=repr(ev.tag)), line,
                                    path if path is not None else top[1])
                if len(stack) >= MAX_DEPTH:
                    here = path if path is not None else top[1]
                    raise self.fail(worded("error.yaml_depth", n=MAX_DEPTH), line, here[:3])
                value = {} if mapping else []
            elif kind is AliasEvent:
                raise self.alias(ev, path if path is not None else top[1])
            else:  # pragma: no cover - the parser never sends anything else here
                raise self.fail(f"unexpected {kind.__name__}", ev.start_mark.line + 1, ())
            if not stack:
                root = value
            elif type(container) is dict:
                container[top[2]] = value
                top[2] = _NO_KEY
            else:
                container.append(value)
            if kind is ScalarEvent:
                if not stack:
                    return root
            else:
                stack.append([value, path if path is not None else (), _NO_KEY])
