"""The stamper: each shape laid out once per worker, each parcel's page its fields drawn on them."""
from __future__ import annotations

import html as htmllib
import re
import zlib
from dataclasses import dataclass
from typing import Any

from memberportal.errors import BuildError
from memberportal.print.joiner import pdf_number as _num
from memberportal.print.stamp import fields as F
from memberportal.print.stamp import weasyprint_layout
from memberportal.print.stamp.drawing import qr_ops, text_ops, width_ops
from memberportal.print.stamp.slots import Laid, TextSlot, width_px
from memberportal.print.weasy import one_page_each

HIDE = "<style>[data-mp-hide] { visibility: hidden !important; }</style>"
BLOCK_ID = "mp-block-"
TALLY = 200                    # blocks a worker draws before it judges whether stamping pays


@dataclass
class Shape:
    """A laid-out block: its form's name and, per field, its slot (None: drawn in the form)."""

    form: str
    slots: list[Any]
    pinned: tuple[int, ...] = ()   # hidden fields this module cannot draw: a shape showing
                                   # them (their values in its key) is laid out instead


class NoSplit(Exception):
    """An insert's top-level elements depend on each other: inserts are laid out whole."""


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
    """One per worker process: the shapes laid out so far, the fonts seen, what was sent.

    Variable-data printing. A chunk of inserts is rendered with its fields marked (fields.py).
    Every distinct block shape (an insert's top-level element with its field values cut out)
    is laid out by WeasyPrint once per worker, the fields present but hidden; that layout
    tells where each field goes and in which style (weasyprint_layout.py). Each parcel's page
    is then those shapes as PDF form objects plus its own fields, drawn with WeasyPrint's own
    text engine (Pango, through WeasyPrint's line breaking) and the operators WeasyPrint
    itself writes (drawing.py): under a millisecond an insert instead of ~15 ms of layout.

    Nothing is guessed: a field is drawn only where weasyprint_layout.py reproduces
    WeasyPrint's layout of the shape's first value exactly (lines, widths, positions); a value
    whose lines differ from that (more lines, other font metrics) gets a shape of its own, laid
    out by WeasyPrint; a field that cannot be reproduced is laid out by WeasyPrint as part of
    the shape.
    """

    def __init__(self, renderer):
        self.renderer = renderer
        self.fonts = weasyprint_layout.FontBook()
        self.shaper = weasyprint_layout.Shaper(self.fonts)
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
        if len(self.shapes) > 5000:   # a template whose fields all became shapes: memory
            # stays bounded (forms sent stay sent)
            self.shapes = {k: v for k, v in self.shapes.items() if k.startswith("B")}
            self.shaper = weasyprint_layout.Shaper(self.fonts)
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
            root = weasyprint_layout.section(page, f"{BLOCK_ID}{i}")
            if root is None:
                raise BuildError(f"{what}: a laid-out shape has no insert element",
                                 kind="insert")
            if doc.split_blocks and not weasyprint_layout.apart(page, root):
                raise NoSplit()
            roots.append(root)
        for i, (need, root) in enumerate(zip(needs, roots)):
            texts = [htmllib.unescape(f.value) if f.kind == "text" and k not in need.visible
                     else None for k, f in enumerate(need.fields)]
            slots = weasyprint_layout.analyse(root, need.fields, texts, self.shaper)
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
        for resource, face, to_unicode in self.fonts.embedded(laid):
            fonts[resource] = face.name
            used.setdefault(face.name, {}).update(to_unicode)
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
