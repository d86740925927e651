"""WeasyPrint 70's layout as stamping reads it: boxes and styles, Pango lines and glyphs, fonts."""
from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from memberportal.print.joiner import pdf_number as _num
from memberportal.print.stamp import fields as F
from memberportal.print.stamp.slots import (
    UNITS,
    Laid,
    Line,
    QrSlot,
    TextSlot,
    WidthSlot,
    width_px,
)

# WeasyPrint versions whose layout tree and text layout this module reads (boxes, Pango
# layouts), and whose drawing drawing.py and stamper.py repeat; with any other, inserts are laid
# out whole. tests/test_weasyprint_contract.py checks each internal read here.
TESTED_WEASYPRINT = ("70",)
EPS = 1e-3                     # CSS px: the positions this module computes agree to 1/1000 px

try:    # another WeasyPrint may have moved these: then supported() is false, none is used
    from weasyprint.css import AnonymousStyle
    from weasyprint.formatting_structure.boxes import (
        BlockBox,
        BlockReplacedBox,
        FootnoteAreaBox,
        InlineBox,
        InlineReplacedBox,
        LineBox,
        TableCaptionBox,
        TextBox,
    )
    from weasyprint.layout.absolute import AbsolutePlaceholder
    from weasyprint.text.ffi import FROM_UNITS, ffi, pango
    from weasyprint.text.fonts import (
        get_hb_object_data,
        get_pango_font_hb_face,
        get_pango_font_key,
    )
    from weasyprint.text.line_break import Layout, line_size, split_first_line, strut
    _IMPORTED = True
except ImportError:
    _IMPORTED = False


def supported() -> bool:
    """Whether the installed WeasyPrint is one whose internals this module reads."""
    if not _IMPORTED:
        return False
    import weasyprint
    return weasyprint.__version__.split(".")[0] in TESTED_WEASYPRINT


# --- the layout tree: where each field is and how it looks ------------------------------------


def _walk(box, ancestors=()):
    if isinstance(box, AbsolutePlaceholder):   # where an absolutely positioned box was
        box = box._box
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
    if s["width"] != "auto" or isinstance(s, AnonymousStyle):   # an anonymous block
        return False                                              # fills its parent
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


def _plain_block(box) -> bool:
    """A block box, not one of the kinds of block laid out otherwise (caption, footnote area)."""
    return isinstance(box, BlockBox) and not isinstance(box, (TableCaptionBox, FootnoteAreaBox))


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
        kind = fields[k].kind
        if kind == "text" and isinstance(box, InlineBox):
            spans.setdefault(k, []).append((box, ancestors))
        elif kind == "qr" and isinstance(box, (BlockReplacedBox, InlineReplacedBox)):
            slots[k] = _qr_slot(box, ancestors, inside)
        elif kind == "width" and _plain_block(box):
            slots[k] = _width_slot(box, ancestors, inside, fields[k])
    for k, frags in spans.items():
        slots[k] = _text_slot(frags, texts[k], shaper)
    return slots


def _text_slot(frags, text: str, shaper: "Shaper") -> TextSlot | None:
    lines, container, style = [], None, None
    for span, ancestors in frags:
        if len(ancestors) < 2 or not isinstance(ancestors[-1], LineBox):
            return None
        line, block = ancestors[-1], ancestors[-2]
        if container is None:
            container = block
        elif block is not container:
            return None
        others = [c for c in line.children if c is not span and
                  not isinstance(c, AbsolutePlaceholder) and
                  not (isinstance(c, TextBox) and not c.text.strip(" "))]
        if others or len(span.children) != 1 or not isinstance(span.children[0], TextBox):
            return None
        if span.padding_left or span.padding_right or span.margin_left or \
                span.margin_right or span.border_left_width or span.border_right_width or \
                not _no_background(span) or not _plain_painting(ancestors[1:]) or \
                any(_sized_by_content(a) for a in ancestors[1:]
                    if not isinstance(a, (LineBox, InlineBox))):
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
            not _plain_painting(inside) or fld.unit.lower() not in ("%", *UNITS) or \
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


def section(page, element_id: str):
    """The box of the element `element_id` on a laid-out page (weasyprint.Page), or None."""
    for box, _ in _walk(page._page_box):
        element = getattr(box, "element", None)
        if element is not None and hasattr(element, "get") and \
                element.get("id") == element_id and not isinstance(box, LineBox):
            return box
    return None


def apart(page, section) -> bool:
    """Whether an insert's blocks (the children of its box `section` on `page`) may be laid out
    apart: each is positioned on its own and nothing around them paints."""
    page_box = page._page_box
    if not _no_background(page_box) or not _no_background(section) or \
            not _no_edges(section) or len(page_box.children) != 1:
        return False
    for child in section.children:
        if isinstance(child, LineBox) and all(
                isinstance(c, AbsolutePlaceholder) or
                (isinstance(c, TextBox) and not c.text.strip())
                for c in child.children):
            kids = [c for c in child.children if isinstance(c, AbsolutePlaceholder)]
        else:
            kids = [child]
        for kid in kids:
            s = kid.style
            if not isinstance(kid, AbsolutePlaceholder) or \
                    s["position"] not in ("absolute", "fixed") or s["top"] == "auto" or \
                    (s["left"] == "auto" and s["right"] == "auto") or s["z_index"] != "auto":
                return False
    return True


# --- text: WeasyPrint's own line breaking and shaping -----------------------------------------

_SPACES = re.compile(r"[ \t\n\r\f]+")
_GLYPH = struct.Struct("=IiiiI")        # PangoGlyphInfo: glyph, width, x/y offset, attributes
_HEX = [f"{i:04x}" for i in range(65536)]


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

    def embedded(self, doc):
        """(resource name, face, glyphs' text) for each font of a laid-out document that
        WeasyPrint embeds as the fields draw it (of_font), with no glyph missing."""
        for font in doc.fonts.values():
            face = self.of_font(font)
            if face is not None and not font.missing:
                yield font.hash, face, font.to_unicode

    def of_font(self, font) -> Face | None:
        """The face of a font WeasyPrint embedded (weasyprint.pdf.fonts.Font), or None for one
        it embeds its own way (colour, bitmap, variable)."""
        if font.hash not in self._by_hash:
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
        key = int(ffi.cast("uintptr_t", pango_font))
        if key in self._by_font:
            return self._by_font[key]
        size = get_pango_font_key(pango_font)[2]
        face = self._face(get_hb_object_data(get_pango_font_hb_face(pango_font)))
        self._by_font[key] = None if face is None else (face, size)
        return self._by_font[key]
