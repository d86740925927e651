"""An insert's fields (what changes per parcel) split from its shape (what does not), in HTML."""
from __future__ import annotations

import hashlib
import html as htmllib
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

# Private-use characters around a field's value in HTML rendered for stamping; no font has
# them and no member data may contain them (fields.check_value).
OPEN, QR_OPEN, CLOSE = "\ue000", "\ue001", "\ue002"
SENTINELS = OPEN + QR_OPEN + CLOSE
_VALUE = re.compile(f"([{OPEN}{QR_OPEN}])([^{SENTINELS}]*){CLOSE}")
_STRAY = re.compile(f"[{SENTINELS}]")

# Tags, comments and raw-text elements, enough to find where an element ends: attribute values
# may hold '>' when quoted.
_TOKEN = re.compile(r"""<!--.*?-->|<(/?)([a-zA-Z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.S)
_RAW_TEXT = {"script", "style", "textarea", "title"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr"}
_INSERT_ID = re.compile(r"""\bid\s*=\s*["']?parcel-(\d+)["']?""")
# Selectors that tell an element's siblings apart: with one, a block laid out alone could look
# different from the same block among its siblings.
_SIBLING_SELECTORS = re.compile(r":(?:first|last|only|nth)-(?!letter|line)|-of-type|:empty|:has\("
                                r"|[^\s,]\s*[+~](?!=)")


class SplitError(ValueError):
    """The rendered HTML does not have the shape stamping needs (the caller lays it out whole)."""


def check_value(value: str) -> str:
    if _STRAY.search(value):
        raise ValueError("contains a private-use character (U+E000-U+E002) that marks fields")
    return value


def field_markup(value) -> Markup:
    """What |field writes when stamping: the escaped value between markers."""
    text = str(escape(value))
    return Markup(OPEN + check_value(text) + CLOSE)


def qr_markup(data: str) -> str:
    """What |qr_src writes when stamping: the code's data between markers (for an attribute)."""
    return QR_OPEN + check_value(str(data)) + CLOSE


def strip_markers(html: str) -> str:
    """The HTML as a reader would see it (markers dropped, QR data left out)."""
    return _VALUE.sub(lambda m: m[2] if m[1] == OPEN else "", html)


@dataclass(frozen=True)
class Field:
    kind: str            # "text", "qr" or "width"
    value: str           # text as written in the HTML (escaped); a QR code's data; a number
    unit: str = ""       # a width's unit, written after the field in the template ('%', 'mm')


@dataclass(frozen=True)
class Block:
    """One top-level element of an insert (or the insert's whole content), fields cut out."""

    key: str             # digest of everything that is not a field value
    parts: tuple[str, ...]   # the HTML around the fields: len(fields) + 1 pieces
    kinds: tuple[str, ...]   # each field's kind, in order


@dataclass(frozen=True)
class Insert:
    line: int
    blocks: tuple[tuple[Block, tuple[Field, ...]], ...]


@dataclass(frozen=True)
class Document:
    frame: str                 # the document with every insert element cut out, MARK where it was
    frame_key: str
    open_tag: str              # the insert element's start tag (id left out)
    close_tag: str
    inserts: tuple[Insert, ...]
    split_blocks: bool         # whether an insert's top-level elements may be laid out apart


MARK = "<!--memberportal:inserts-->"


def digest(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _element_end(html: str, start: int) -> int:
    """Index just after the element whose start tag begins at `start` (a lenient parser's
    reading: an end tag closes the nearest open element of its name)."""
    stack: list[str] = []
    pos = start
    while True:
        m = _TOKEN.search(html, pos)
        if m is None:
            raise SplitError("an element is not closed")
        pos = m.end()
        if m[0].startswith("<!--"):
            continue
        name = m[2].lower()
        if not m[1]:
            if name in _VOID or m[3].rstrip().endswith("/"):
                if not stack:
                    return pos
                continue
            stack.append(name)
            if name in _RAW_TEXT:
                close = re.compile(rf"</{name}\s*>", re.I).search(html, pos)
                if close is None:
                    raise SplitError(f"<{name}> is not closed")
                pos = close.start()
            continue
        if name not in stack:
            continue                                   # a stray end tag: ignored, as parsers do
        while stack and stack.pop() != name:
            pass
        if not stack:
            return pos


def _children(inner: str) -> list[str] | None:
    """The top-level elements of `inner`, or None when text stands between them."""
    out, pos = [], 0
    while True:
        m = _TOKEN.search(inner, pos)
        text = inner[pos:m.start() if m else len(inner)]
        if _VALUE.sub("x", text).strip():
            return None
        if m is None:
            return out
        if m[0].startswith("<!--"):
            pos = m.end()
            continue
        if m[1]:                                       # an end tag with nothing open
            return None
        end = _element_end(inner, m.start())
        out.append(inner[m.start():end])
        pos = end


_UNIT = re.compile(r"%|[a-zA-Z]+")


def _shape(skeleton: str, context: str) -> tuple[Block, tuple[str, ...]]:
    """A block from its HTML with every value taken out (markers left), and its widths' units."""
    parts, kinds, units = [], [], []
    last = 0
    for m in _VALUE.finditer(skeleton):
        in_tag = skeleton.rfind("<", 0, m.start()) > skeleton.rfind(">", 0, m.start())
        kind = "qr" if m[1] == QR_OPEN else ("width" if in_tag else "text")
        if kind == "qr" and not in_tag:
            raise SplitError("a QR code's data stands outside an attribute")
        after = _UNIT.match(skeleton, m.end()) if kind == "width" else None
        parts.append(skeleton[last:m.start()])
        kinds.append(kind)
        units.append(after[0] if after else "")
        last = m.end()
    parts.append(skeleton[last:])
    if _STRAY.search("".join(parts)):
        raise SplitError("field markers are nested or unbalanced")
    return Block(digest(context, *parts, *kinds), tuple(parts), tuple(kinds)), tuple(units)


def _blank(m: re.Match) -> str:
    return m[1] + CLOSE


def split(html: str, blocks: bool = True, known: dict | None = None) -> Document:
    """The rendered insert document cut into its frame and each insert's blocks.

    An insert is the element with id="parcel-LINE"; its top-level elements are its blocks,
    unless `blocks` is false, text stands between them or the styles can tell siblings apart
    (then the insert is one block). `known` keeps how inserts of a given skeleton (their HTML
    without values) were cut, for the next call."""
    starts = list(_INSERT_ID.finditer(html))
    if not starts:
        raise SplitError('no element with id="parcel-…"')
    known = {} if known is None else known
    spans, open_tag, close_tag = [], None, None
    for m in starts:
        tag_start = html.rfind("<", 0, m.start())
        tag_end = html.find(">", m.end()) + 1
        if (spans and tag_start < spans[-1][2]) or tag_end <= 0:
            raise SplitError("inserts overlap")
        tag = html[tag_start:tag_end]
        blank_tag = tag[:m.start() - tag_start] + tag[m.end() - tag_start:]
        if open_tag is None:
            name = re.match(r"<([a-zA-Z][\w:-]*)", tag)[1]
            open_tag, close_tag = blank_tag, f"</{name}>"
        elif blank_tag != open_tag:
            raise SplitError("inserts have different start tags")
        if spans:          # the previous insert runs up to this one, white space aside
            prev, end = spans[-1], tag_start
            while end > prev[2] and html[end - 1] in " \t\n\r\f":
                end -= 1
            spans[-1] = (prev[0], end, prev[2], prev[3])
        spans.append((tag_start, None, tag_end, int(m[1])))
    last = spans[-1]
    spans[-1] = (last[0], _element_end(html, last[0]), last[2], last[3])
    frame = html[:spans[0][0]] + MARK + html[spans[-1][1]:]
    if _STRAY.search(frame):
        raise SplitError("a field stands outside the inserts")
    styles = " ".join(re.findall(r"<style\b[^>]*>(.*?)</style>", frame, re.S | re.I))
    selectors = re.findall(r"([^{};]*)\{", _without_comments(styles))
    split_blocks = blocks and "<link" not in frame.lower() and \
        not any(_SIBLING_SELECTORS.search(s) for s in selectors)
    frame_key = digest(frame, open_tag)
    out = []
    for start, end, inner_start, line in spans:
        if not html.endswith(close_tag, inner_start, end):
            raise SplitError("something stands between the inserts, or one is not closed")
        inner = html[inner_start:end - len(close_tag)]
        skeleton = _VALUE.sub(_blank, inner)
        cut = known.get((frame_key, split_blocks, skeleton))
        if cut is None:
            if _element_end(html, start) != end:
                raise SplitError("something stands between the inserts")
            kids = _children(skeleton) if split_blocks else None
            cut = known[(frame_key, split_blocks, skeleton)] = tuple(
                _shape(p, frame_key) for p in (kids or [skeleton]))
        values = _VALUE.findall(inner)
        pieces, at = [], 0
        for block, units in cut:
            n = len(block.kinds)
            pieces.append((block, tuple(
                Field(kind, value if kind == "text" else htmllib.unescape(value), unit)
                for kind, (_, value), unit in zip(block.kinds, values[at:at + n], units))))
            at += n
        out.append(Insert(line, tuple(pieces)))
    return Document(frame, frame_key, open_tag, close_tag, tuple(out), split_blocks)


def _without_comments(css: str) -> str:
    return re.sub(r"/\*.*?\*/", "", css, flags=re.S)
