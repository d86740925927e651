"""Variable-data printing: each shape laid out once by WeasyPrint, each parcel's fields drawn on it.

A chunk of inserts is rendered with its fields marked (fields.py). Every distinct block shape
(an insert's top-level element with its field values cut out) is laid out by WeasyPrint once
per worker, the fields present but hidden; that layout tells where each field goes and in which
style. Each parcel's page is then those shapes as PDF form objects plus its own fields, drawn
here with WeasyPrint's own text engine (Pango, through WeasyPrint's line breaking) and the
operators WeasyPrint itself writes: under a millisecond an insert instead of ~15 ms of layout.

Nothing is guessed: a field is drawn here only where this module reproduces WeasyPrint's layout
of the shape's first value exactly (lines, widths, positions); a value whose lines differ from
that (more lines, other font metrics) gets a shape of its own, laid out by WeasyPrint; a field
this module cannot reproduce is laid out by WeasyPrint as part of the shape.
"""
from __future__ import annotations

import hashlib
import html as htmllib
import re
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from memberportal.errors import BuildError
from memberportal.print.joiner import pdf_number as _num
from memberportal.print.stamp import fields as F
from memberportal.print.weasy import one_page_each

# WeasyPrint versions whose layout tree, text layout and drawing this module reads (boxes,
# Pango layouts, the page transform); with any other, inserts are laid out whole.
TESTED_WEASYPRINT = ("70",)
HIDE = "<style>[data-mp-hide] { visibility: hidden !important; }</style>"
BLOCK_ID = "mp-block-"
EPS = 1e-3                     # CSS px: the positions this module computes agree to 1/1000 px
TALLY = 200                    # blocks a worker draws before it judges whether stamping pays


def supported() -> bool:
    try:
        import weasyprint
    except ImportError:
        return False
    return weasyprint.__version__.split(".")[0] in TESTED_WEASYPRINT


# --- slots: where a field goes and how it looks, read off a layout --------------------------


@dataclass
class Line:
    text: str
    top: float           # the text box's top, as WeasyPrint placed it (CSS px)
    height: float
    baseline: float
    width: float
    x: float


@dataclass
class TextSlot:
    style: Any                  # the field's computed style (WeasyPrint)
    left: float                 # the block container's content box: x and width
    avail: float
    wrap: bool
    lines: list[Line]           # the representative's lines
    aligns: tuple[str, str]     # alignment of lines but the last, of the last line
    visible: bool
    colour: tuple[float, float, float, float]

    def x(self, width: float, last: bool) -> float:
        align = self.aligns[1 if last else 0]
        if width >= self.avail or align == "start":
            return self.left
        return self.left + ((self.avail - width) / 2 if align == "center" else
                            self.avail - width)


@dataclass
class QrSlot:
    x: float
    y: float
    w: float
    h: float
    interpolate: bool
    visible: bool


@dataclass
class WidthSlot:
    x: float
    y: float
    h: float
    base: float                 # what a percentage is of: the containing block's width
    radii: tuple                # (tl, tr, br, bl), each (rx, ry) in px, before clamping
    colour: tuple[float, float, float, float]
    visible: bool


@dataclass
class Shape:
    """A laid-out block: its form's name and, per field, its slot (None: drawn in the form)."""

    form: str
    slots: list[Any]
    pinned: tuple[int, ...] = ()   # hidden fields this module cannot draw: a shape showing
                                   # them (their values in its key) is laid out instead


class NoSplit(Exception):
    """An insert's top-level elements depend on each other: inserts are laid out whole."""


def _walk(box, ancestors=()):
    box = getattr(box, "_box", box)            # an absolutely positioned box's placeholder
    yield box, ancestors
    kids = getattr(box, "children", None)
    if kids:
        inner = ancestors + (box,)
        for child in kids:
            yield from _walk(child, inner)


def _field_of(box) -> int | None:
    element = getattr(box, "element", None)
    if element is None or not hasattr(element, "get"):
        return None
    value = element.get("data-mp-field")
    return int(value) if value is not None else None


def _sized_by_content(box) -> bool:
    """Whether the box's width follows its content (shrink-to-fit), so a value could move it."""
    s = box.style
    if s["width"] != "auto" or type(s).__name__ == "AnonymousStyle":   # an anonymous block
        return False                                                   # fills its parent
    if s["position"] in ("absolute", "fixed"):
        return s["left"] == "auto" or s["right"] == "auto"
    return s["float"] != "none" or s["display"][0] != "block" or \
        s["display"][1] not in ("flow", "flow-root")


def _plain_painting(ancestors) -> bool:
    """Nothing between the block and the field paints it through a group or clips it."""
    for box in ancestors:
        s = box.style
        if s["opacity"] != 1 or s["transform"] or s["overflow"] != "visible":
            return False
    return True


def _rgba(colour) -> tuple[float, float, float, float] | None:
    if colour.space not in ("srgb", "hsl", "hwb"):
        return None
    r, g, b = colour.to("srgb").coordinates
    return (r, g, b, colour.alpha)


def _align(style, last: bool) -> str | None:
    align = style["text_align_all"]
    if last and style["text_align_last"] != "auto":
        align = style["text_align_last"]
    if align == "justify":
        align = "start" if last else None
    if align in ("left", "right"):
        align = "start" if (align == "left") ^ (style["direction"] == "rtl") else "end"
    return align if align in ("start", "end", "center") else None


def _no_background(box) -> bool:
    s = box.style
    return not s["background_color"].alpha and \
        all(layer[0] == "none" for layer in s["background_image"])


def _no_edges(box) -> bool:
    return not (box.padding_top or box.padding_right or box.padding_bottom or
                box.padding_left or box.border_top_width or box.border_right_width or
                box.border_bottom_width or box.border_left_width or
                box.style["box_shadow"] or box.style["outline_width"])


def analyse(root, fields: tuple[F.Field, ...], texts: list[str | None], shaper: "Shaper",
            ) -> list[Any]:
    """Per field its slot, or None where this module cannot reproduce WeasyPrint's layout.

    `texts` holds the representative's text values (plain text): a text slot must give back
    exactly the lines WeasyPrint made of it."""
    slots: list[Any] = [None] * len(fields)
    spans: dict[int, list] = {}
    for box, ancestors in _walk(root):
        k = _field_of(box)
        if k is None or k >= len(fields):
            continue
        inside = ancestors[1:] if ancestors and ancestors[0] is root else ancestors
        kind = type(box).__name__
        if fields[k].kind == "text" and kind == "InlineBox":
            spans.setdefault(k, []).append((box, ancestors))
        elif fields[k].kind == "qr" and kind in ("BlockReplacedBox", "InlineReplacedBox"):
            slots[k] = _qr_slot(box, ancestors, inside)
        elif fields[k].kind == "width" and kind == "BlockBox":
            slots[k] = _width_slot(box, ancestors, inside, fields[k])
    for k, frags in spans.items():
        slots[k] = _text_slot(frags, texts[k], shaper)
    return slots


def _text_slot(frags, text: str, shaper: "Shaper") -> TextSlot | None:
    lines, container, style = [], None, None
    for span, ancestors in frags:
        if len(ancestors) < 2 or type(ancestors[-1]).__name__ != "LineBox":
            return None
        line, block = ancestors[-1], ancestors[-2]
        if container is None:
            container = block
        elif block is not container:
            return None
        others = [c for c in line.children if c is not span and
                  type(c).__name__ != "AbsolutePlaceholder" and
                  not (type(c).__name__ == "TextBox" and not c.text.strip(" "))]
        if others or len(span.children) != 1 or type(span.children[0]).__name__ != "TextBox":
            return None
        if span.padding_left or span.padding_right or span.margin_left or \
                span.margin_right or span.border_left_width or span.border_right_width or \
                not _no_background(span) or not _plain_painting(ancestors[1:]) or \
                any(_sized_by_content(a) for a in ancestors[1:] if type(a).__name__ not in (
                    "LineBox", "InlineBox")):
            return None
        tb = span.children[0]
        style = tb.style
        lines.append(Line(tb.text, tb.position_y, tb.height, tb.baseline, tb.width,
                          tb.position_x))
    s = style
    if s is None or s["text_transform"] != "none" or s["text_decoration_line"] != "none" or \
            s["white_space"] not in ("normal", "nowrap") or s["direction"] != "ltr" or \
            s["vertical_align"] != "baseline" or s["font_size"] <= 0 or \
            s["hyphens"] == "auto" or s["overflow_wrap"] != "normal" or \
            s["word_break"] != "normal" or s["text_overflow"] != "clip" or \
            container.style["text_indent"].value != 0 or \
            container.style["block_ellipsis"] != "none":
        return None
    aligns = (_align(container.style, False), _align(container.style, True))
    colour = _rgba(s["color"])
    if None in aligns or colour is None:
        return None
    slot = TextSlot(s, container.content_box_x(), container.width,
                    s["white_space"] == "normal", lines, aligns,
                    container.style["visibility"] == "visible", colour)
    laid = shaper.lines(slot, text)
    if laid is None or len(laid) != len(lines):
        return None
    for i, (ours, theirs) in enumerate(zip(laid, lines)):
        if ours.text != theirs.text or abs(ours.width - theirs.width) > EPS or \
                abs(ours.height - theirs.height) > EPS or \
                abs(ours.baseline - theirs.baseline) > EPS or \
                abs(slot.x(ours.width, i == len(laid) - 1) - theirs.x) > EPS:
            return None
    return slot


def _qr_slot(box, ancestors, inside) -> QrSlot | None:
    s = box.style
    corners = (box.border_top_left_radius, box.border_top_right_radius,
               box.border_bottom_right_radius, box.border_bottom_left_radius)
    if s["width"] == "auto" or s["height"] == "auto" or s["object_fit"] != "fill" or \
            not _no_edges(box) or not _no_background(box) or any(map(any, corners)) or \
            s["opacity"] != 1 or s["transform"] or not _plain_painting(inside):
        return None
    parent = ancestors[-1] if ancestors else None
    visible = parent is None or parent.style["visibility"] == "visible"
    return QrSlot(box.content_box_x(), box.content_box_y(), box.width, box.height,
                  s["image_rendering"] == "auto", visible)


def _width_slot(box, ancestors, inside, fld: F.Field) -> WidthSlot | None:
    s = box.style
    corners = ("border_top_left_radius", "border_top_right_radius",
               "border_bottom_right_radius", "border_bottom_left_radius")
    if box.children or not _no_edges(box) or s["opacity"] != 1 or s["transform"] or \
            any(layer[0] != "none" for layer in s["background_image"]) or \
            s["min_width"] != "auto" and s["min_width"].value != 0 or \
            s["max_width"].value != float("inf") or s["position"] != "static" or \
            s["float"] != "none" or s["height"] == "auto" or not ancestors or \
            any(r.unit == "%" for c in corners for r in s[c]) or \
            not _plain_painting(inside) or fld.unit.lower() not in ("%", *_UNITS) or \
            any(_sized_by_content(a) for a in inside):
        return None
    colour = _rgba(s["background_color"])
    parent = ancestors[-1]
    if colour is None:
        return None
    slot = WidthSlot(box.border_box_x(), box.border_box_y(), box.border_height(),
                     parent.width, tuple(tuple(getattr(box, c)) for c in corners), colour,
                     parent.style["visibility"] == "visible")
    width = width_px(slot, fld)
    if width is None or abs(width - box.border_width()) > EPS:
        return None
    return slot


_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*\Z")
_UNITS = {"px": 1.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0, "pt": 96 / 72,
          "pc": 16.0, "q": 96 / 101.6}


def width_px(slot: WidthSlot, fld: F.Field) -> float | None:
    """A width field's value (the number before '%' or 'mm' in the template) in CSS px."""
    m = _NUMBER.match(fld.value)
    if m is None:
        return None
    unit = fld.unit.lower()
    if unit == "%":
        return slot.base * float(m[1]) / 100
    return float(m[1]) * _UNITS[unit] if unit in _UNITS else None


# --- text: WeasyPrint's own line breaking and shaping -----------------------------------------

_SPACES = re.compile(r"[ \t\n\r\f]+")
_GLYPH = struct.Struct("=IiiiI")        # PangoGlyphInfo: glyph, width, x/y offset, attributes
_HEX = [f"{i:04x}" for i in range(65536)]


@dataclass
class Laid:
    text: str
    width: float
    height: float
    baseline: float       # from the top of the text box's margin box (half-leading included)
    ops: str | None       # its TJ operators (None: glyphs WeasyPrint draws otherwise)
    used: dict            # font name: {glyph: its text}


class _Context:
    """What WeasyPrint's line breaking asks of a layout context (hyphenation dictionaries)."""

    def __init__(self):
        self.dictionaries: dict = {}


class Shaper:
    """Lines of a field value as WeasyPrint would lay them out in a slot, and their glyphs."""

    def __init__(self, fonts: "FontBook"):
        self.fonts = fonts
        self._layouts: dict[int, tuple] = {}  # id(style) -> (a Layout for one-line texts,
                                              # the line height)
        self._styles: list = []               # keeps the styles those ids belong to alive
        self._context = _Context()
        self._seen: dict[tuple, list[Laid] | None] = {}   # dates, products, reasons repeat

    def lines(self, slot: TextSlot, raw: str) -> list[Laid] | None:
        """The lines WeasyPrint makes of `raw` in the slot (its white space collapsed as
        WeasyPrint does), each with the metrics of its text box (split_text_box)."""
        key = (id(slot.style), slot.avail, slot.wrap, raw)
        got = self._seen.get(key, self)
        if got is self:
            if len(self._seen) > 50_000:
                self._seen.clear()
            got = self._seen[key] = self._lines(slot, raw)
        return got

    def _lines(self, slot: TextSlot, raw: str) -> list[Laid] | None:
        from weasyprint.text.ffi import FROM_UNITS, pango
        from weasyprint.text.line_break import Layout, line_size, split_first_line, strut
        text = _SPACES.sub(" ", raw).strip(" ")
        if not text:
            return []
        style = slot.style
        cached = self._layouts.get(id(style))
        if cached is None:
            cached = self._layouts[id(style)] = (Layout(style), strut(style)[0])
            self._styles.append(style)
        layout, line_height = cached
        layout.set_text(text)
        first, index = layout.get_first_line()
        if index is None:
            width, height = line_size(first, style)
            if not slot.wrap or width <= slot.avail:
                baseline = pango.pango_layout_get_baseline(layout.layout) * FROM_UNITS
                return [Laid(text, width, height, baseline + (line_height - height) / 2,
                             *self._glyphs(first, text))]
        out = []
        while text:
            lay, length, resume, width, height, baseline = split_first_line(
                text, style, self._context, slot.avail if slot.wrap else None, 0, True)
            if length == 0:
                return None
            lay.reactivate(style)
            out.append(Laid(lay.text, width, height, baseline + (line_height - height) / 2,
                            *self._glyphs(lay.get_first_line()[0], lay.text)))
            if resume is None:
                break
            text = text.encode()[resume:].decode().lstrip(" ")
        return out

    def _glyphs(self, first, text: str) -> tuple[str | None, dict]:
        """The TJ operators WeasyPrint writes for a Pango line (font changes included), or
        None for glyphs it would draw otherwise (emoji, missing glyphs, vertical offsets).

        As draw_text.draw_first_line: sizes are the Pango fonts' own (the CSS size rounded to
        1/1024 px), and each glyph's advance is the font's width corrected by a whole number
        of 1/1000 em."""
        from weasyprint.text.ffi import FROM_UNITS, ffi, pango
        utf8 = text.encode()
        ops: list[str] = []
        used: dict[str, dict[int, str]] = {}
        run = first.runs
        current = None
        tj: list[str] = []                 # the TJ array's items since the last font change
        stride = ffi.sizeof("PangoGlyphInfo")
        empty, unknown = pango.PANGO_GLYPH_EMPTY, pango.PANGO_GLYPH_UNKNOWN_FLAG
        while run != ffi.NULL:
            item = run.data
            run = run.next
            glyphs = item.glyphs
            count = glyphs.num_glyphs
            found = self.fonts.face(item.item.analysis.font)
            if found is None:
                return None, {}
            face, size = found
            if found != current:
                if tj:
                    ops.append(f"[{' '.join(tj)}] TJ")
                    tj = []
                current = found
                ops.append(f"/{face.name} {_num(size)} Tf")
            mine = used.setdefault(face.name, {})
            start, length = item.item.offset, item.item.length
            clusters = ffi.unpack(glyphs.log_clusters, count)
            infos = _GLYPH.iter_unpack(ffi.buffer(glyphs.glyphs, count * stride)) \
                if stride == _GLYPH.size else (
                    (g.glyph, g.geometry.width, g.geometry.x_offset, g.geometry.y_offset, 0)
                    for g in glyphs.glyphs[0:count])
            widths, scale = face.widths, 1000 * FROM_UNITS / size
            hexes: list[str] = []
            for i, (gid, width, x_offset, y_offset, _) in enumerate(infos):
                if gid == empty:
                    if hexes:
                        tj.append(f"<{''.join(hexes)}>")
                        hexes = []
                    tj.append(f"{-width / size}")
                    continue
                if gid & unknown or y_offset:
                    return None, {}
                if gid not in mine:
                    t2 = length if i == count - 1 else clusters[i + 1]
                    mine[gid] = utf8[start + clusters[i]:start + t2].decode(errors="replace")
                offset = x_offset / size
                if offset:
                    if hexes:
                        tj.append(f"<{''.join(hexes)}>")
                        hexes = []
                    tj.append(f"{-offset}")
                hexes.append(_HEX[gid])
                w = widths.get(gid)
                kerning = int((w if w is not None else face.width(gid)) + offset - width * scale)
                if kerning:
                    tj.append(f"<{''.join(hexes)}>")
                    tj.append(str(kerning))
                    hexes = []
            if hexes:
                tj.append(f"<{''.join(hexes)}>")
        if tj:
            ops.append(f"[{' '.join(tj)}] TJ")
        return " ".join(ops), used


# --- fonts the fields use ---------------------------------------------------------------------


@dataclass
class Face:
    """A font file the fields draw with: its resource name, advance widths, glyphs' text."""

    name: str
    data: bytes
    upem: int
    advances: Any                          # uharfbuzz Font (advance widths in font units)
    unicode: dict[int, str] = field(default_factory=dict)   # reported so far
    widths: dict[int, int] = field(default_factory=dict)

    def width(self, gid: int) -> int:
        w = self.widths.get(gid)
        if w is None:
            w = self.widths[gid] = round(self.advances.get_glyph_h_advance(gid) * 1000 /
                                         self.upem)
        return w


UNSUPPORTED_TABLES = {"EBDT", "CBDT", "sbix", "SVG ", "COLR", "fvar"}


class FontBook:
    """The font files behind Pango's fonts, each known by a digest of its bytes."""

    def __init__(self):
        self._by_font: dict[int, tuple[Face, float] | None] = {}
        self._by_digest: dict[str, Face] = {}
        self._by_hash: dict[str, Face] = {}      # WeasyPrint's font resource names

    def named(self, name: str) -> Face:
        return self._by_digest[name[1:]]

    def of_font(self, font) -> Face | None:
        """The face of a font WeasyPrint embedded (weasyprint.pdf.fonts.Font), or None for one
        it embeds its own way (colour, bitmap, variable)."""
        if font.hash not in self._by_hash:
            from weasyprint.text.fonts import get_hb_object_data
            self._by_hash[font.hash] = self._face(get_hb_object_data(font.hb_face))
        return self._by_hash[font.hash]

    def _face(self, data: bytes) -> Face | None:
        import uharfbuzz as hb
        digest = hashlib.blake2b(data, digest_size=8).hexdigest()
        if digest in self._by_digest:
            return self._by_digest[digest]
        hb_face = hb.Face(data)
        if UNSUPPORTED_TABLES & set(hb_face.table_tags) or \
                data[:4] not in (b"OTTO", b"\0\1\0\0", b"true"):
            face = None
        else:
            face = Face("T" + digest, data, hb_face.upem, hb.Font(hb_face))
        self._by_digest[digest] = face
        return face

    def face(self, pango_font) -> tuple[Face, float] | None:
        """The file behind a Pango font and the font's size (CSS px), or None for a font
        whose glyphs WeasyPrint draws as pictures (colour, bitmap) or varies."""
        from weasyprint.text.ffi import ffi
        key = int(ffi.cast("uintptr_t", pango_font))
        if key in self._by_font:
            return self._by_font[key]
        from weasyprint.text.fonts import (
            get_hb_object_data,
            get_pango_font_hb_face,
            get_pango_font_key,
        )
        size = get_pango_font_key(pango_font)[2]
        face = self._face(get_hb_object_data(get_pango_font_hb_face(pango_font)))
        self._by_font[key] = None if face is None else (face, size)
        return self._by_font[key]


# --- drawing a parcel's fields ----------------------------------------------------------------


@lru_cache(maxsize=256)
def _paint(colour: tuple[float, float, float, float]) -> str:
    r, g, b, a = colour
    ops = f"{_num(r)} {_num(g)} {_num(b)} rg"
    return ops if a == 1 else f"/a{_num(a)} gs " + ops


def _colour_ops(colour, alphas: set) -> str:
    if colour[3] != 1:
        alphas.add(colour[3])
    return _paint(colour)


def text_ops(slot: TextSlot, laid: list[Laid], alphas: set,
             used: dict[str, dict[int, str]]) -> str | None:
    if not slot.visible or not laid:
        return ""
    out = [_colour_ops(slot.colour, alphas), "BT"]
    for i, (line, rep) in enumerate(zip(laid, slot.lines)):
        if line.ops is None:
            return None
        for name, gids in line.used.items():
            used.setdefault(name, {}).update(gids)
        x = slot.x(line.width, i == len(laid) - 1)
        out.append(f"1 0 0 -1 {_num(x)} {_num(rep.top + line.baseline)} Tm {line.ops}")
    out.append("ET")
    return " ".join(out)


def qr_ops(slot: QrSlot, data: str) -> str:
    """The code as an inline 1-bit image (qr_png's pixels), placed as WeasyPrint places it."""
    from memberportal.render.qr import qr_bitmap
    if not slot.visible or not slot.w or not slot.h:
        return ""
    side, raw = qr_bitmap(data, "M")
    return (f"q {_num(slot.w)} 0 0 {_num(-slot.h)} {_num(slot.x)} {_num(slot.y + slot.h)} cm "
            f"BI /W {side} /H {side} /BPC 1 /CS /G /I {'true' if slot.interpolate else 'false'}"
            f" /F /AHx ID {raw.hex()}> EI Q")


def width_ops(slot: WidthSlot, width: float) -> str:
    """The bar at `width`: WeasyPrint's background, clipped to its rounded box (the caller
    names the colour's alpha, if any, among the page's states)."""
    if not slot.visible or not slot.colour[3]:       # (a zero width is drawn, as WeasyPrint
        return ""                                    # does: a viewer may show a hairline)
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = slot.radii
    ratio = min([1] + [extent / total for extent, total in (
        (width, tlx + trx), (width, blx + brx), (slot.h, tly + bly), (slot.h, try_ + bry))
        if total > 0])
    x, y, w, h = slot.x, slot.y, width, slot.h
    tl, tr, br, bl = ((tlx * ratio, tly * ratio), (trx * ratio, try_ * ratio),
                      (brx * ratio, bry * ratio), (blx * ratio, bly * ratio))
    n = _num
    if all(0 in corner for corner in (tl, tr, br, bl)):
        path = f"{n(x)} {n(y)} {n(w)} {n(h)} re"
    else:
        r = 0.45
        path = " ".join((
            f"{n(x + tl[0])} {n(y)} m {n(x + w - tr[0])} {n(y)} l",
            f"{n(x + w - tr[0] * r)} {n(y)} {n(x + w)} {n(y + tr[1] * r)} {n(x + w)} "
            f"{n(y + tr[1])} c {n(x + w)} {n(y + h - br[1])} l",
            f"{n(x + w)} {n(y + h - br[1] * r)} {n(x + w - br[0] * r)} {n(y + h)} "
            f"{n(x + w - br[0])} {n(y + h)} c {n(x + bl[0])} {n(y + h)} l",
            f"{n(x + bl[0] * r)} {n(y + h)} {n(x)} {n(y + h - bl[1] * r)} {n(x)} "
            f"{n(y + h - bl[1])} c {n(x)} {n(y + tl[1])} l",
            f"{n(x)} {n(y + tl[1] * r)} {n(x + tl[0] * r)} {n(y)} {n(x + tl[0])} {n(y)} c"))
    return f"q {path} W n {_paint(slot.colour)} {n(x)} {n(y)} {n(w)} {n(h)} re f Q"


# --- a chunk of inserts on a worker -----------------------------------------------------------


@dataclass
class Stamped:
    """A chunk's pages as content streams over shared forms, for joiner.Joiner."""

    pages: list[bytes]                                   # zlib-compressed content streams
    shapes: list[tuple[bytes, list[tuple[int, str]], dict[str, str]]]
    # ^ laid-out PDFs: which page is which form, and which of our fonts each of theirs is
    fonts: dict[str, tuple[bytes | None, dict[int, str]]]   # name: (file, glyphs' text)
    alphas: set[float]
    laid_out: int                                        # shapes this chunk laid out


@dataclass(frozen=True)
class Whole:
    """A chunk's inserts laid out whole, not stamped: their PDFs (100 inserts each) and why."""

    parts: list[bytes]
    reason: str


@dataclass
class _Need:
    key: str
    block: F.Block
    fields: tuple[F.Field, ...]
    visible: frozenset[int]
    who: dict                                            # the parcel whose values these are


class Stamper:
    """One per worker process: the shapes laid out so far, the fonts seen, what was sent."""

    def __init__(self, renderer):
        self.renderer = renderer
        self.fonts = FontBook()
        self.shaper = Shaper(self.fonts)
        self.shapes: dict[str, Shape] = {}
        self.whole: set[str] = set()       # frames whose inserts are laid out whole
        self.sent_fonts: set[str] = set()
        self.sent_forms: set[str] = set()
        self.skeletons: dict = {}          # how inserts were cut into blocks (fields.split)
        self.tally: dict[str, tuple[int, int]] = {}   # per frame: blocks drawn, shapes laid out
        self._bars: dict = {}              # (slot, width): its operators
        self.height: float | None = None   # the page's height in CSS px (for the flip)

    def chunk(self, html: str, base, what: str, inserts: list[dict], marks: bool) -> Stamped:
        """The pages of `inserts` (their contexts: line, order, member) from the HTML that
        rendering them with fields marked gave. Raises fields.SplitError when the HTML is not
        shaped for stamping."""
        if len(self.skeletons) > 5000:
            self.skeletons.clear()
        if len(self.shapes) > 5000:          # a template whose fields all became shapes:
            self.shapes = {k: v for k, v in self.shapes.items() if k.startswith("B")}
            self.shaper = Shaper(self.fonts)  # memory stays bounded (forms sent stay sent)
        doc = F.split(html, known=self.skeletons)
        blocks, laid = self.tally.get(doc.frame_key, (0, 0))
        if blocks >= TALLY and laid > blocks / 2:
            # a template whose per-parcel values are mostly not marked: a shape per block
            # costs more than laying the inserts out whole
            raise F.SplitError("most per-parcel values are not marked |field")
        if doc.frame_key in self.whole:
            doc = F.split(html, blocks=False, known=self.skeletons)
        by_line = {p["line"]: p for p in inserts}
        sent = set(self.sent_forms)
        try:
            try:
                return self._chunk(doc, base, what, by_line, marks)
            except NoSplit:
                self.sent_forms = set(sent)  # nothing of that try reaches the joined PDF
                self.whole.add(doc.frame_key)
                return self._chunk(F.split(html, blocks=False, known=self.skeletons), base,
                                   what, by_line, marks)
        except F.SplitError:                 # laid out whole by the caller: the forms this
            self.sent_forms = sent           # chunk laid out were never sent
            raise

    def _chunk(self, doc: F.Document, base, what, by_line, marks) -> Stamped:
        shapes_out: list = []
        alphas: set[float] = set()
        used: dict[str, dict[int, str]] = {}
        plans: list[list] = [[None] * len(ins.blocks) for ins in doc.inserts]
        todo = [(i, j) for i, ins in enumerate(doc.inserts) for j in range(len(ins.blocks))]
        laid = 0
        while todo:
            needs: dict[str, _Need] = {}
            waiting = []
            for i, j in todo:
                block, flds = doc.inserts[i].blocks[j]
                got = self._resolve(block, flds, alphas, used)
                if isinstance(got, _Need):
                    got.who = by_line.get(doc.inserts[i].line, {})
                    needs.setdefault(got.key, got)
                    waiting.append((i, j))
                else:
                    plans[i][j] = got
            if needs:
                shapes_out.append(self._lay_out(doc, list(needs.values()), base, what, used))
                laid += len(needs)
            todo = waiting
        bg = "B" + doc.frame_key if "B" + doc.frame_key in self.shapes else None
        flip = f"1 0 0 -1 0 {_num(self.height * 0.75)} cm 0.75 0 0 0.75 0 0 cm"
        pages = []
        for plan in plans:
            parts = [f"q /{bg} Do Q"] if bg else []
            for shape, stamps in plan:
                parts.append(f"q /{shape.form} Do Q")
                if stamps:
                    parts.append(f"q {flip} {' '.join(stamps)} Q")
            if marks:
                parts.append("q /Marks Do Q")
            pages.append(zlib.compress("\n".join(parts).encode(), 6))
        fonts = {}
        for name, gids in used.items():
            face = self.fonts.named(name)
            fresh = {g: t for g, t in gids.items() if g not in face.unicode}
            face.unicode.update(fresh)
            data = None if name in self.sent_fonts else face.data
            self.sent_fonts.add(name)
            if fresh or data is not None:
                fonts[name] = (data, fresh)
        blocks, before = self.tally.get(doc.frame_key, (0, 0))
        self.tally[doc.frame_key] = (blocks + sum(len(i.blocks) for i in doc.inserts),
                                     before + laid)
        return Stamped(pages, shapes_out, fonts, alphas, laid)

    def _resolve(self, block: F.Block, flds, alphas: set, used: dict):
        """(shape, field operators) for one block of one parcel, or what must be laid out.

        Starting from the block's shape, each step that the shape cannot take a value in
        moves to a more specific shape: fields the form must show (their values in the key),
        text whose lines differ from the shape's (the lines' count and metrics in the key)."""
        key, visible, moved = block.key, frozenset(), False
        for _step in range(2 * len(flds) + 4):
            shape = self.shapes.get(key)
            if shape is None:
                return _Need(key, block, flds, visible, {})
            hidden = set(shape.pinned) - visible
            if hidden:
                visible = visible | hidden
                key = _shown(key, flds, visible)
                continue
            got = self._stamp(shape, flds, visible, alphas, used)
            if isinstance(got, list):
                return shape, got
            what, detail = got
            if what == "lines" and not moved:
                key, moved = F.digest(key, "lines", *detail), True
            else:                    # text this module draws otherwise, or a variant that
                visible = visible | {detail}  # still differs: the form shows the field
                key = _shown(key, flds, visible)
        raise BuildError(f"the shape of a block could not be settled ({block.key})",
                         kind="insert")

    def _stamp(self, shape: Shape, flds, visible, alphas: set, used: dict):
        """The field operators, or ("lines", signature) / ("show", field) to move on."""
        stamps, mine_alphas, mine_used = [], set(), {}
        laid: dict[int, list[Laid]] = {}
        signature, differs = [], None
        for k, (fld, slot) in enumerate(zip(flds, shape.slots)):
            if slot is None or k in visible or fld.kind != "text":
                continue
            lines = self.shaper.lines(slot, htmllib.unescape(fld.value))
            if lines is None:
                return "show", k
            metrics = [(round(x.height, 3), round(x.baseline, 3)) for x in lines]
            signature.append(f"{k}:{metrics}")
            if metrics != [(round(x.height, 3), round(x.baseline, 3)) for x in slot.lines]:
                differs = k if differs is None else differs
            laid[k] = lines
        if differs is not None:
            return "lines", signature
        for k, (fld, slot) in enumerate(zip(flds, shape.slots)):
            if slot is None or k in visible:
                continue
            if fld.kind == "text":
                ops = text_ops(slot, laid[k], mine_alphas, mine_used)
            elif fld.kind == "qr":
                ops = qr_ops(slot, fld.value)
            else:
                width = width_px(slot, fld)
                ops = None if width is None else self._bars.get((id(slot), width))
                if ops is None and width is not None:
                    ops = self._bars[(id(slot), width)] = width_ops(slot, width)
                if slot.colour[3] != 1:
                    mine_alphas.add(slot.colour[3])
            if ops is None:
                return "show", k
            if ops:
                stamps.append(ops)
        alphas |= mine_alphas
        for name, gids in mine_used.items():
            used.setdefault(name, {}).update(gids)
        return stamps

    def _lay_out(self, doc: F.Document, needs: list[_Need], base, what: str, used: dict):
        """Lay out the needed shapes in one WeasyPrint document; keep their slots."""
        sections = []
        for i, need in enumerate(needs):
            filled = _fill(need)
            tag = doc.open_tag
            tag = re.sub(r"^(<[a-zA-Z][\w:-]*)", rf'\1 id="{BLOCK_ID}{i}"', tag)
            sections.append(tag + filled + doc.close_tag)
        frame = doc.frame
        head = re.search(r"</head\s*>", frame, re.I)
        if head:
            frame = frame[:head.start()] + HIDE + frame[head.start():]
        else:
            frame = frame.replace(F.MARK, HIDE + F.MARK)
        html = frame.replace(F.MARK, "".join(sections))
        laid = self.renderer.document(html, base, what)
        if any(page.links or page.bookmarks for page in laid.pages):
            # a form object carries no link annotations or outline entries
            raise F.SplitError("the insert has links or bookmarks")
        offset, bad = one_page_each(laid, [f"{BLOCK_ID}{i}" for i in range(len(needs))],
                                    what)
        if bad is not None:
            raise too_long(needs[bad].who)
        self.height = laid.pages[0].height
        mapping = []
        bg = "B" + doc.frame_key
        if offset and bg not in self.shapes:
            self.shapes[bg] = Shape(bg, [])
        if offset and bg not in self.sent_forms:
            mapping.append((0, bg))
            self.sent_forms.add(bg)
        roots = []
        for i in range(len(needs)):
            page = laid.pages[offset + i]
            root = _section(page._page_box, f"{BLOCK_ID}{i}")
            if root is None:
                raise BuildError(f"{what}: a laid-out shape has no insert element",
                                 kind="insert")
            if doc.split_blocks:
                _check_apart(page._page_box, root)
            roots.append(root)
        for i, (need, root) in enumerate(zip(needs, roots)):
            texts = [htmllib.unescape(f.value) if f.kind == "text" and k not in need.visible
                     else None for k, f in enumerate(need.fields)]
            slots = analyse(root, need.fields, texts, self.shaper)
            for k in need.visible:
                slots[k] = None
            pinned = tuple(k for k, (f, s) in enumerate(zip(need.fields, slots))
                           if s is None and k not in need.visible)
            name = _form_name(need, slots)
            self.shapes[need.key] = Shape(name, slots, pinned)
            if not pinned and name not in self.sent_forms:
                mapping.append((offset + i, name))
                self.sent_forms.add(name)
        if not mapping:
            return b"", [], {}
        data = self.renderer.write(laid, what)
        fonts: dict[str, str] = {}               # WeasyPrint's font resource: our face
        for font in laid.fonts.values():
            face = self.fonts.of_font(font)
            if face is not None and not font.missing:
                fonts[font.hash] = face.name
                used.setdefault(face.name, {}).update(font.to_unicode)
        return data, mapping, fonts


def too_long(insert: dict) -> BuildError:
    """The error for an insert (its context: order, line, member) longer than its page."""
    return BuildError(f"the insert for order {insert.get('order', '?')} does not fit on one "
                      f"page (line {insert.get('line', '?')}); shorten the template or use a "
                      "larger page", member=insert.get("member", {}).get("id"), kind="insert")


def _form_name(need: _Need, slots) -> str:
    """A shape's form is named by what its drawing depends on: the block, the values it shows,
    and the lines (count and metrics) of the hidden text; so the same form has the same name
    whichever worker laid it out with whichever parcel's values."""
    shown = [f"{k}:{need.fields[k].value}" for k in sorted(need.visible)]
    lines = [f"{k}:{[(round(x.height, 3), round(x.baseline, 3)) for x in s.lines]}"
             for k, s in enumerate(slots) if isinstance(s, TextSlot)]
    return "S" + F.digest(need.block.key, "form", *shown, "|", *lines)


def _shown(key: str, flds, visible) -> str:
    return F.digest(key, "shows", *(f"{k}:{flds[k].value}" for k in sorted(visible)))


def _section(page_box, element_id: str):
    for box, _ in _walk(page_box):
        element = getattr(box, "element", None)
        if element is not None and hasattr(element, "get") and \
                element.get("id") == element_id and type(box).__name__ != "LineBox":
            return box
    return None


def _check_apart(page_box, section) -> None:
    """An insert's blocks may be laid out apart only if each is positioned on its own and
    nothing around them paints (NoSplit otherwise)."""
    if not _no_background(page_box) or not _no_background(section) or \
            not _no_edges(section) or len(page_box.children) != 1:
        raise NoSplit()
    for child in section.children:
        if type(child).__name__ == "LineBox" and all(
                type(c).__name__ == "AbsolutePlaceholder" or
                (type(c).__name__ == "TextBox" and not c.text.strip())
                for c in child.children):
            kids = [c for c in child.children if type(c).__name__ == "AbsolutePlaceholder"]
        else:
            kids = [child]
        for kid in kids:
            s = kid.style
            if type(kid).__name__ != "AbsolutePlaceholder" or \
                    s["position"] not in ("absolute", "fixed") or s["top"] == "auto" or \
                    (s["left"] == "auto" and s["right"] == "auto") or s["z_index"] != "auto":
                raise NoSplit()


def _fill(need: _Need) -> str:
    """The block's HTML with the fields' values: shown, or hidden and marked for analysis."""
    from memberportal.render.qr import qr_data_uri
    out = need.block.parts[0]
    for k, (fld, rest) in enumerate(zip(need.fields, need.block.parts[1:])):
        hidden = k not in need.visible
        if fld.kind == "text":
            out += (f'<span data-mp-field="{k}" data-mp-hide>{fld.value}</span>' if hidden
                    else fld.value)
        else:
            value = qr_data_uri(fld.value) if fld.kind == "qr" else fld.value
            if hidden:
                at = out.rfind("<")
                m = re.match(r"<[a-zA-Z][\w:-]*", out[at:])
                cut = at + m.end()
                out = out[:cut] + f' data-mp-field="{k}" data-mp-hide' + out[cut:]
            out += htmllib.escape(value, quote=True)
        out += rest
    return out
