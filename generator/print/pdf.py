"""WeasyPrint made safe and strict (fenced fetcher, bundled fonts, warnings as errors), imposed."""
from __future__ import annotations

import atexit
import html as htmllib
import io
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from memberportal.errors import BuildError, TemplateError, warnings_of

MM = 72 / 25.4                       # PDF points per millimetre
PAGE_SIZES = {"A3": (297, 420), "A4": (210, 297), "A5": (148, 210), "A6": (105, 148),
              "SRA3": (320, 450), "SRA4": (225, 320), "B5": (176, 250), "B6": (125, 176),
              "DL": (99, 210)}
FONT_FILES = ("print-sans-regular.otf", "print-sans-bold.otf", "print-serif-regular.otf",
              "print-serif-bold.otf", "print-sans-fallback.otf")


def page_size(text: str) -> tuple[float, float]:
    """'A6', 'a6 landscape' or '100x150' (mm) -> (width, height) in mm."""
    t = text.strip().upper()
    landscape = t.endswith(" LANDSCAPE")
    t = t.removesuffix(" LANDSCAPE").strip()
    if t in PAGE_SIZES:
        w, h = PAGE_SIZES[t]
    else:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*[X×]\s*(\d+(?:\.\d+)?)(?:\s*MM)?", t)
        if not m:
            raise BuildError(f"unknown page size {text!r}: use {', '.join(PAGE_SIZES)} or "
                             "WIDTHxHEIGHT in mm (e.g. 100x150)")
        w, h = float(m[1]), float(m[2])
    return (h, w) if landscape else (w, h)


# --- fetching: only files under the allowed folders -------------------------------------------


def _fetcher_class():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class FencedFetcher(URLFetcher):
        """Serves data: URLs and files under `roots` (symlinks resolved); refuses the rest."""

        def __init__(self, roots: list[Path]):
            super().__init__(fail_on_errors=True)
            self.roots = [r.resolve() for r in roots if r.exists()]
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            scheme = urlsplit(url).scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                raw = Path(url2pathname(unquote(urlsplit(url).path)))
                try:
                    path = raw.resolve(strict=True)
                except OSError:
                    self.refused.append(f"{raw} (no such file)")
                    raise ValueError(f"no such file: {raw}") from None
                if any(path.is_relative_to(r) for r in self.roots) and path.is_file():
                    if path.suffix.lower() not in FETCHABLE:  # an EPS, a .py, a file with no type
                        self.refused.append(f"{raw} (not a {', '.join(FETCHABLE)} file)")
                        raise ValueError(f"refused: {raw} is not a file type templates may load")
                    return URLFetcherResponse(url, body=path.read_bytes(),
                                              headers={"Content-Type": _mime(path)})
                shown = f"{raw} (a link to {path})" if path != raw else str(raw)
                self.refused.append(f"{shown} (outside {', '.join(map(str, self.roots))})")
                raise ValueError(f"refused: {raw} is outside the allowed folders")
            self.refused.append(f"{url} (only local files are fetched)")
            raise ValueError(f"refused: {url} (no network)")

    return FencedFetcher


FETCHABLE = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png",
             ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
             ".otf": "font/otf", ".ttf": "font/ttf", ".woff": "font/woff",
             ".woff2": "font/woff2"}


def _mime(path: Path) -> str:
    return FETCHABLE[path.suffix.lower()]


# --- fonts: coverage is checked before rendering ----------------------------------------------


@dataclass
class Fonts:
    """The bundled fonts: where they are and which characters they cover together."""

    folder: Path
    covered: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def load(cls, search: list[Path]) -> "Fonts":
        from fontTools.ttLib import TTFont
        for folder in search:
            if all((folder / f).is_file() for f in FONT_FILES):
                cover: set[int] = set()
                for name in FONT_FILES:
                    font = TTFont(folder / name, lazy=True)
                    cover.update(font.getBestCmap())
                    font.close()
                return cls(folder, frozenset(cover))
        raise BuildError("the bundled print fonts are missing (templates/fonts/); run "
                         "templates/fonts/regenerate.py")

    def url(self, name: str) -> str:
        if name not in FONT_FILES:
            raise TemplateError(f"font_url: unknown font {name!r}; bundled: "
                                f"{', '.join(FONT_FILES)}")
        return (self.folder / name).resolve().as_uri()

    def missing(self, text: str) -> list[str]:
        """Characters of `text` no bundled font has (controls and spaces need no glyph)."""
        seen = []
        for ch in set(text):
            cp = ord(ch)
            if cp < 0x20 or cp in (0x7F, 0xFEFF, 0x200B, 0x200D) or cp in self.covered:
                continue
            seen.append(ch)
        return sorted(seen)


_TAGS = re.compile(r"<(style|script|svg)\b.*?</\1>|<[^>]+>", re.S | re.I)


def visible_text(html: str) -> str:
    """The text a reader sees in a rendered HTML fragment (markup, styles, SVG dropped)."""
    return htmllib.unescape(_TAGS.sub(" ", html))


# --- rendering -------------------------------------------------------------------------------


MARGIN_BOXES = tuple(f"@{side}-{place}" for side, places in (
    ("top", ("left-corner", "left", "center", "right", "right-corner")),
    ("bottom", ("left-corner", "left", "center", "right", "right-corner")),
    ("left", ("top", "middle", "bottom")), ("right", ("top", "middle", "bottom")))
    for place in places)


def _skip_empty_margin_boxes() -> None:
    """Make WeasyPrint skip a page's margin boxes when none of them has content.

    WeasyPrint builds, styles and sizes all 16 margin boxes of every page, then drops the
    ones with no content: about 7% of a parcel insert's time (bench/inserts.py), for nothing.
    When no margin box of the page would be generated (its `content` is normal, none or
    inhibit, as make_margin_boxes itself decides), the result is the same empty list; pages
    with any margin content (the notebook's page numbers) take WeasyPrint's own path. Left
    alone if WeasyPrint's function is not the one this was written against.
    """
    import inspect

    import weasyprint.layout as layout
    make = getattr(layout, "make_margin_boxes", None)
    if make is None or getattr(make, "skips_empty", False) or \
            list(inspect.signature(make).parameters) != ["context", "page", "state"]:
        return

    def make_margin_boxes(context, page, state):
        for keyword in MARGIN_BOXES:
            style = context.style_for(page.page_type, keyword)
            if style is not None and style["content"] not in ("normal", "inhibit", "none"):
                return make(context, page, state)
        return ()

    make_margin_boxes.skips_empty = True
    layout.make_margin_boxes = make_margin_boxes


# WeasyPrint's user-agent stylesheet gives every element six pseudo-elements (::marker,
# ::footnote-call, ::footnote-marker, ::note-call, ::note-marker, ::note-callback), each with
# its own computed style: for a parcel insert that is three styles in four and half the
# garbage the worker collects after a chunk (bench/inserts.py). A rule is left out of a
# document's user-agent stylesheet only when nothing in the document's source can make
# WeasyPrint use it: list items for ::marker, `float: footnote`, `position: note(...)`.
UA_PSEUDO_USED_BY = {
    "marker": re.compile(r"<li\b|<summary\b|list-item", re.I),
    "footnote-call": re.compile(r"footnote", re.I),
    "footnote-marker": re.compile(r"footnote", re.I),
    "note-call": re.compile(r"note\s*\(", re.I),
    "note-marker": re.compile(r"note\s*\(", re.I),
    "note-callback": re.compile(r"note\s*\(", re.I),
}
_STYLES_ELSEWHERE = re.compile(r"<link\b|@import", re.I)  # CSS this check cannot read


def _html_class(source: str):
    """weasyprint.HTML, or a subclass whose user-agent stylesheet leaves out the pseudo-element
    rules `source` cannot use (see UA_PSEUDO_USED_BY)."""
    from weasyprint import HTML
    if _STYLES_ELSEWHERE.search(source):
        return HTML
    unused = frozenset(p for p, used in UA_PSEUDO_USED_BY.items() if not used.search(source))
    return _lean_html(unused) if unused else HTML


@lru_cache(maxsize=None)
def _lean_html(unused: frozenset[str]):
    from weasyprint import CSS, HTML
    from weasyprint import html as wh
    from weasyprint.css.counters import CounterStyle
    text, full = getattr(wh, "UA", None), getattr(wh, "UA_STYLESHEET", None)
    if text is None or full is None:
        return HTML                     # not the WeasyPrint this was written against
    for pseudo in unused:
        text, found = re.subn(rf"^::{pseudo} \{{[^}}]*\}}$", "", text, flags=re.M)
        if found != 1:
            return HTML
    # Its @counter-style rules are already in WeasyPrint's counter styles: read into a spare.
    lean = CSS(string=text, counter_style=CounterStyle())

    class LeanHTML(HTML):
        def _ua_stylesheets(self, *args, **kwargs):
            return [lean if sheet is full else sheet
                    for sheet in super()._ua_stylesheets(*args, **kwargs)]

    return LeanHTML


FONTS_PREFIX = "memberportal-fonts-"   # + the owning process id + "-" + random


class Renderer:
    """One per process: the font configuration and fetcher are reused for every document.

    WeasyPrint copies each @font-face font (27 MB for the bundled ones) into a temporary folder
    that its own clean-up never removes when the interpreter exits, nor in forked workers
    (they end with os._exit): every print run left its fonts in /tmp. Here the folder is ours:
    removed by close() or at exit; a forked worker writes into a subfolder of it, removed
    with it even when the worker is killed; folders of processes that no longer run are
    removed when the next Renderer is made.
    """

    def __init__(self, roots: list[Path]):
        from weasyprint.text.fonts import FontConfiguration
        _skip_empty_margin_boxes()
        _remove_orphaned_font_folders()
        self.roots = roots
        self.fetcher = _fetcher_class()(roots)
        self.font_config = FontConfiguration()
        self._use_font_folder(Path(tempfile.mkdtemp(prefix=f"{FONTS_PREFIX}{os.getpid()}-")))
        _renderers.add(self)

    def _use_font_folder(self, folder: Path) -> None:
        self.font_config._folder = folder       # where WeasyPrint writes @font-face files
        self._owner = os.getpid()

    def _after_fork(self) -> None:
        if self.font_config._folder is not None:
            folder = self.font_config._folder / f"worker-{os.getpid()}"
            folder.mkdir(exist_ok=True)
            self._use_font_folder(folder)

    def close(self) -> None:
        """Remove the font files (in the process that made the folder; nothing elsewhere)."""
        folder = self.font_config._folder
        if folder is not None and self._owner == os.getpid():
            shutil.rmtree(folder, ignore_errors=True)
            self.font_config._folder = None

    def document(self, html: str, base: Path, what: str):
        """Lay out `html`; any WeasyPrint warning or refused fetch is a TemplateError."""
        from weasyprint.urls import FatalURLFetchingError
        self.fetcher.refused.clear()
        with warnings_of("weasyprint") as warned:
            try:
                doc = _html_class(html)(string=html, base_url=base.resolve().as_uri() + "/",
                           url_fetcher=self.fetcher).render(font_config=self.font_config)
            except FatalURLFetchingError:
                raise TemplateError(f"{what}: refused to load "
                                    f"{'; '.join(self.fetcher.refused) or 'a resource'}: "
                                    "templates may only use files under templates/ and "
                                    "content/", kind="print") from None
        if self.fetcher.refused or warned:
            problems = [f"refused {r}" for r in self.fetcher.refused] + warned
            raise TemplateError(f"{what}: " + "; ".join(dict.fromkeys(problems)), kind="print")
        return doc

    def pdf(self, html: str, base: Path, what: str) -> tuple[bytes, int]:
        """PDF bytes and the page count."""
        doc = self.document(html, base, what)
        return self.write(doc, what), len(doc.pages)

    def write(self, doc, what: str) -> bytes:
        """A laid-out document's PDF bytes; any WeasyPrint warning is a TemplateError."""
        with warnings_of("weasyprint") as warned:
            data = doc.write_pdf()
        if warned:
            raise TemplateError(f"{what}: " + "; ".join(warned), kind="print")
        return data


def one_page_each(doc, ids: list[str], what: str) -> tuple[int, int | None]:
    """Whether the first page is a background layer (an element id="background"; then 1, else
    0) and the index of the first of `ids` that does not start a page of its own and end before
    the next (None when each has exactly one page)."""
    starts: dict[str, int] = {}
    for number, page in enumerate(doc.pages):
        for anchor in page.anchors:
            starts.setdefault(anchor, number)
    layers = 1 if starts.get("background") == 0 else 0
    if layers and ids and starts.get(ids[0]) != 1:
        raise BuildError(f"{what}: the background layer (id=\"background\") must fit on one "
                         "page", kind="insert")
    for i, name in enumerate(ids):
        first = starts.get(name)
        nxt = starts.get(ids[i + 1]) if i + 1 < len(ids) else len(doc.pages)
        if first is None or nxt - first != 1:
            return layers, i
    return layers, None


def layered_pdf(doc, marks: bool = False) -> bytes:
    """PDF bytes of a laid-out document whose first page is a background layer.

    The background page's content stream is drawn under every other page (the same PDF
    object, referenced by each page), then the background page itself is dropped: a design
    layer laid out once for a whole batch (variable-data printing), printed exactly as if
    each page had drawn it. With `marks`, crop marks are drawn on top, in the outer half of
    the bleed (where WeasyPrint's `marks: crop` puts them, but never hidden by a bleed).
    """
    import pydyf

    def finish(_document, pdf):
        kids = pdf.pages["Kids"]
        numbers = kids[::3]
        background = pdf.objects[numbers[0]]
        push, pop = pydyf.Stream([b"q"]), pydyf.Stream([b"Q"])
        shared = [push, pop]
        if marks:
            shared.append(pydyf.Stream([_crop_mark_ops(background["MediaBox"],
                                                       background["TrimBox"]).encode()]))
        for stream in shared:
            pdf.add_object(stream)
        for number in numbers[1:]:
            page = pdf.objects[number]
            contents = [push.reference, background["Contents"], pop.reference,
                        page["Contents"]]
            if marks:
                contents += [push.reference, shared[2].reference, pop.reference]
            page["Contents"] = pydyf.Array(contents)
        del kids[:3]
        pdf.pages["Count"] -= 1
        # Nothing refers to the background page any more: left as an empty dictionary. (Marked
        # free, pydyf's compressed cross-reference stream miscounted every object after it:
        # poppler could not read the chunk on its own, only pypdf's joining repaired it.)
        background.clear()

    return doc.write_pdf(finisher=finish)


def _crop_mark_ops(media, trim) -> str:
    """Hairlines in registration black on the trim lines, from the media edge to half the bleed.

    Boxes as [x0, y0, x1, y1] in default PDF space (the marks' stream is not flipped).
    """
    ml, mt, mr, mb = (float(v) for v in media)
    tl, tt, tr, tb = (float(v) for v in trim)
    ops = ["0.25 w 0 0 0 1 K"]

    def line(x0, y0, x1, y1):
        ops.append(f"{x0:.3f} {y0:.3f} m {x1:.3f} {y1:.3f} l S")
    for x in (tl, tr):
        line(x, mt, x, mt + (tt - mt) / 2)
        line(x, mb, x, mb - (mb - tb) / 2)
    for y in (tt, tb):
        line(ml, y, ml + (tl - ml) / 2, y)
        line(mr, y, mr - (mr - tr) / 2, y)
    return "\n".join(ops)


# --- assembling and imposing -----------------------------------------------------------------


_renderers: weakref.WeakSet[Renderer] = weakref.WeakSet()


def _remove_orphaned_font_folders() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{FONTS_PREFIX}*"):
        pid = folder.name[len(FONTS_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # someone else's process
        return True
    return True


def _close_renderers() -> None:
    for renderer in list(_renderers):
        renderer.close()


os.register_at_fork(after_in_child=lambda: [r._after_fork() for r in list(_renderers)])
atexit.register(_close_renderers)


class Joiner:
    """One PDF from parts added in order, e.g. as workers finish them, so joining overlaps
    rendering: whole PDFs (their pages copied) and stamped chunks (stamping.Stamped: pages
    drawn over shared shape forms, whose fields' fonts are subset and embedded at the end).

    qpdf (pikepdf) copies each part's pages with what they use, shared objects once per part.
    Each part's pages hang under a page-tree node of their own: appending them one by one to
    a single list slowed down as it grew (10,000 inserts in 100 parts: 3.8 s, the last parts
    5x slower than the first), a node per part stays linear (0.7 s)."""

    def __init__(self, marks: bool = False):
        import pikepdf
        self._pdf = pikepdf.new()
        self._parts: list = []  # the parts stay open until the joined file is written
        self._pages = 0
        self.marks = marks
        self._resources = None      # shared by every stamped page: forms, fonts, alphas
        self._boxes: dict | None = None
        self._fonts: dict[str, tuple[bytes, dict[int, str]]] = {}
        self._font_objects: dict = {}
        self._alphas: set[float] = set()

    def add(self, part) -> None:
        if isinstance(part, list):
            for one in part:
                self.add(one)
        elif isinstance(part, (bytes, bytearray)):
            self._add_pdf(part)
        else:
            self._add_stamped(part)

    def _open(self, data: bytes):
        import pikepdf
        out, part = self._pdf, pikepdf.open(io.BytesIO(data))
        if not self._parts:  # the first part's title, producer and language are the file's
            out.docinfo = out.copy_foreign(part.docinfo)
            if "/Lang" in part.Root:
                out.Root.Lang = part.Root.Lang
        self._parts.append(part)
        return part

    def _node(self, kids: list) -> None:
        from pikepdf import Array, Dictionary, Name
        out = self._pdf
        root = out.Root.Pages
        node = out.make_indirect(Dictionary(Type=Name.Pages, Kids=Array(kids), Count=len(kids),
                                            Parent=root))
        for kid in kids:
            kid.Parent = node
        root.Kids.append(node)
        self._pages += len(kids)
        root.Count = self._pages

    def _add_pdf(self, data: bytes) -> None:
        out, part = self._pdf, self._open(data)
        # (qpdf pushes what a page inherits from its tree down to the page as it copies it)
        kids = [out.copy_foreign(page.obj) for page in part.pages]
        if kids:
            self._node(kids)

    def _add_stamped(self, chunk) -> None:
        import pikepdf
        from pikepdf import Dictionary, Name
        out = self._pdf
        if self._resources is None:
            self._resources = out.make_indirect(Dictionary(
                XObject=Dictionary(), Font=Dictionary(), ExtGState=Dictionary(),
                ProcSet=pikepdf.Array([Name.PDF, Name.Text, Name.ImageB])))
        forms = self._resources.XObject
        for data, mapping, their_fonts in chunk.shapes:
            if not mapping:
                continue
            part = self._open(data)
            for index, name in mapping:
                page = part.pages[index]
                if self._boxes is None:
                    self._boxes = {box: [float(v) for v in page.obj[box]] for box in
                                   ("/MediaBox", "/TrimBox", "/BleedBox") if box in page.obj}
                    if self.marks:
                        forms.Marks = self._marks_form()
                if "/" + name not in forms:
                    forms["/" + name] = self._form(part, page, their_fonts)
        for name, (data, gids) in chunk.fonts.items():
            have = self._fonts.get(name)
            if have is None:
                if data is None:
                    raise BuildError(f"stamped pages use font {name}, whose file never came")
                self._fonts[name] = (data, dict(gids))
                self._resources.Font["/" + name] = self._font(name)
            else:
                have[1].update(gids)
        self._alphas |= chunk.alphas
        boxes = {k[1:]: pikepdf.Array(v) for k, v in (self._boxes or {}).items()}
        kids = []
        for content in chunk.pages:
            stream = pikepdf.Stream(out, content)
            stream.Filter = Name.FlateDecode
            kids.append(out.make_indirect(Dictionary(Type=Name.Page, Contents=stream,
                                                     Resources=self._resources, **boxes)))
        if kids:
            self._node(kids)

    def _font(self, name: str):
        """The font object of one of the fields' font files, filled in by finish()."""
        from pikepdf import Dictionary
        obj = self._font_objects.get(name)
        if obj is None:
            obj = self._font_objects[name] = self._pdf.make_indirect(Dictionary())
        return obj

    def _form(self, part, page, their_fonts: dict[str, str]):
        """A laid-out shape's page as a form: only the resources its drawing names (the page's
        are shared by its whole document), its fonts the file's own font objects."""
        import pikepdf
        from pikepdf import Dictionary, Name
        form = page.as_form_xobject()
        form.BBox = page.obj.MediaBox      # qpdf's default, the TrimBox, would cut the bleed
        names = {n.decode() for n in _NAMES.findall(form.read_bytes())}
        resources, ours = Dictionary(), {}
        for kind, entries in page.obj.Resources.items():
            if not isinstance(entries, pikepdf.Dictionary):
                resources[kind] = entries
                continue
            kept = Dictionary()
            for key, value in entries.items():
                if key[1:] not in names:
                    continue
                if kind == "/Font" and key[1:] in their_fonts:
                    ours[key] = their_fonts[key[1:]]
                else:
                    kept[key] = value
            resources[kind] = kept
        form.Resources = resources
        copied = self._pdf.copy_foreign(form)
        if ours:
            fonts = copied.Resources.get("/Font", Dictionary())
            for key, name in ours.items():
                fonts[key] = self._font(name)
            copied.Resources[Name.Font] = fonts
        return copied

    def _marks_form(self):
        import pikepdf
        from pikepdf import Name
        media, trim = self._boxes["/MediaBox"], self._boxes.get("/TrimBox",
                                                               self._boxes["/MediaBox"])
        ops = _crop_mark_ops(media, trim).encode()
        x0, y0, x1, y1 = (float(v) for v in media)   # the page clips; the form must not cut
        return self._pdf.make_stream(ops, Type=Name.XObject, Subtype=Name.Form,  # a hairline
                                     BBox=pikepdf.Array([x0 - 1, y0 - 1, x1 + 1, y1 + 1]))

    def finish(self) -> bytes:
        import pikepdf
        from pikepdf import Dictionary, Name
        if self._resources is not None:
            missing = set(self._font_objects) - set(self._fonts)
            if missing:
                raise BuildError(f"shapes use fonts whose files never came: {sorted(missing)}")
            for name, (data, gids) in sorted(self._fonts.items()):
                made = _embed_font(self._pdf, name, data, gids)
                target = self._font(name)
                for key, value in made.items():
                    target[key] = value
            for alpha in sorted(self._alphas):
                self._resources.ExtGState[f"/a{pdf_number(alpha)}"] = Dictionary(
                    Type=Name.ExtGState, ca=alpha)
        out = io.BytesIO()
        self._pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate,
                       deterministic_id=True)
        for part in self._parts:
            part.close()
        return out.getvalue()


_NAMES = re.compile(rb"/([^\s/\[\]<>(){}%]+)")     # the names a content stream uses


def pdf_number(value: float) -> str:
    """A number as PDF operators write it: at most six decimals, no trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _embed_font(pdf, name: str, data: bytes, gids: dict[int, str]):
    """A Type 0 font (Identity-H, CID = glyph id) of `data` cut down to the glyphs `gids`,
    with their widths and text (ToUnicode), as WeasyPrint embeds its own fonts."""
    import pikepdf
    import uharfbuzz as hb
    from pikepdf import Array, Dictionary, Name, String
    face = hb.Face(data)
    upem = face.upem
    font = hb.Font(face)
    used = sorted(set(gids) | {0})
    subset_input = hb.SubsetInput()
    for gid in used:
        subset_input.glyph_set.add(gid)
    subset_input.flags = (hb.SubsetFlags.RETAIN_GIDS | hb.SubsetFlags.DESUBROUTINIZE |
                          hb.SubsetFlags.PASSTHROUGH_UNRECOGNIZED)
    for tag in ("BASE", "DSIG", "EBDT", "EBLC", "EBSC", "GPOS", "GSUB", "JSTF", "LTSH",
                "PCLT", "SVG "):
        subset_input.drop_table_tag_set.add(_tag(tag))
    blob = hb.subset(face, subset_input).blob.data
    otf = blob[:4] == b"OTTO"
    widths = {g: round(font.get_glyph_h_advance(g) * 1000 / upem) for g in used}
    extents = font.get_font_extents("ltr")
    ascent = round(extents.ascender * 1000 / upem)
    descent = round(extents.descender * 1000 / upem)
    tag = "".join(chr(65 + b % 26) for b in bytes.fromhex(name[1:])[:6])
    base = Name("/" + tag + "+" + _postscript_name(data, name))
    file = pikepdf.Stream(pdf, blob)
    if otf:
        file.Subtype = Name.OpenType
    else:
        file.Length1 = len(blob)
    descriptor = pdf.make_indirect(Dictionary(
        Type=Name.FontDescriptor, FontName=base, Flags=4,
        FontBBox=Array([0, descent, max(widths.values()), ascent]), ItalicAngle=0,
        Ascent=ascent, Descent=descent, CapHeight=ascent, StemV=80,
        **{("FontFile3" if otf else "FontFile2"): file}))
    w = Array()
    run: list[int] = []
    for g in used:
        if run and g == run[-1] + 1:
            run.append(g)
            continue
        if run:
            w.extend([run[0], Array([widths[x] for x in run])])
        run = [g]
    w.extend([run[0], Array([widths[x] for x in run])])
    cid = pdf.make_indirect(Dictionary(
        Type=Name.Font, Subtype=Name.CIDFontType0 if otf else Name.CIDFontType2, BaseFont=base,
        CIDSystemInfo=Dictionary(Registry=String("Adobe"), Ordering=String("Identity"),
                                 Supplement=0),
        CIDToGIDMap=Name.Identity, W=w, FontDescriptor=descriptor))
    lines = [b"/CIDInit /ProcSet findresource begin", b"12 dict begin", b"begincmap",
             b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             b"/CMapName /Adobe-Identity-UCS def", b"/CMapType 2 def",
             b"1 begincodespacerange", b"<0000> <ffff>", b"endcodespacerange"]
    mapped = sorted((g, t) for g, t in gids.items() if t)
    for i in range(0, len(mapped), 100):
        batch = mapped[i:i + 100]
        lines.append(f"{len(batch)} beginbfchar".encode())
        lines += [f"<{g:04x}> <{t.encode('utf-16-be').hex()}>".encode() for g, t in batch]
        lines.append(b"endbfchar")
    lines += [b"endcmap", b"CMapName currentdict /CMap defineresource pop", b"end", b"end"]
    return Dictionary(
        Type=Name.Font, Subtype=Name.Type0, BaseFont=base, Encoding=Name("/Identity-H"),
        DescendantFonts=Array([cid]), ToUnicode=pikepdf.Stream(pdf, b"\n".join(lines)))


def _tag(text: str) -> int:
    return int.from_bytes(text.encode("latin-1"), "big")


def _postscript_name(data: bytes, fallback: str) -> str:
    """'Print-Sans-Bold': family and style as WeasyPrint names the fonts it embeds."""
    from fontTools.ttLib import TTFont
    try:
        table = TTFont(io.BytesIO(data), lazy=True)["name"]
        family = table.getDebugName(16) or table.getDebugName(1) or ""
        style = table.getDebugName(17) or table.getDebugName(2) or ""
    except Exception:       # a font whose name table fontTools cannot read: named by digest
        family = style = ""
    name = family + ("" if style in ("", "Regular") else " " + style)
    return re.sub(r"[^A-Za-z0-9_.-]", "", name.replace(" ", "-")) or fallback


def concatenate(parts: list[bytes]) -> bytes:
    """One PDF from several, in order."""
    joiner = Joiner()
    for data in parts:
        joiner.add(data)
    return joiner.finish()


def _finish(writer) -> bytes:
    writer.compress_identical_objects()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _box(page, name: str):
    box = getattr(page, name, None) if name in page else None
    return box if box is not None else page.mediabox


def nup(data: bytes, sheet: tuple[float, float], columns: int, rows: int,
        mirror: bool = False, mark_mm: float = 5.0) -> bytes:
    """Step and repeat: pages placed `columns` x `rows` per sheet (sheet size in mm).

    Every page is clipped to its BleedBox and placed so neighbouring bleeds meet (the gutter
    is twice the bleed); crop marks are drawn in the sheet margin at every trim line.
    With `mirror`, each row is filled right to left (backs for long-edge duplex).
    """
    from pypdf import PageObject, PdfReader, PdfWriter, Transformation
    from pypdf.generic import ContentStream, NameObject, RectangleObject
    reader = PdfReader(io.BytesIO(data))
    pages = list(reader.pages)
    if not pages:
        raise BuildError("nothing to impose")
    first = pages[0]
    bleed, trim = _box(first, "/BleedBox"), _box(first, "/TrimBox")
    cell_w, cell_h = float(bleed.width), float(bleed.height)
    sw, sh = sheet[0] * MM, sheet[1] * MM
    need_w, need_h = columns * cell_w + 2 * mark_mm * MM, rows * cell_h + 2 * mark_mm * MM
    if need_w > sw + 0.01 or need_h > sh + 0.01:
        raise BuildError(f"{columns}×{rows} pages of {cell_w / MM:.0f}×{cell_h / MM:.0f} mm "
                         f"(with bleed) need a sheet of at least {need_w / MM:.0f}×"
                         f"{need_h / MM:.0f} mm; the sheet is {sheet[0]:.0f}×{sheet[1]:.0f} mm")
    x0, y0 = (sw - columns * cell_w) / 2, (sh - rows * cell_h) / 2
    inset_x = float(trim.left) - float(bleed.left)
    inset_y = float(trim.bottom) - float(bleed.bottom)
    trim_w, trim_h = float(trim.width), float(trim.height)
    writer = PdfWriter()
    per = columns * rows
    for start in range(0, len(pages), per):
        sheet_page = PageObject.create_blank_page(width=sw, height=sh)
        for i, page in enumerate(pages[start:start + per]):
            col, row = i % columns, i // columns
            if mirror:
                col = columns - 1 - col
            b = _box(page, "/BleedBox")
            page.mediabox = RectangleObject(b)
            page.cropbox = RectangleObject(b)
            x = x0 + col * cell_w - float(b.left)
            y = y0 + (rows - 1 - row) * cell_h - float(b.bottom)
            sheet_page.merge_transformed_page(page, Transformation().translate(x, y))
        marks = _crop_marks(x0, y0, columns, rows, cell_w, cell_h, inset_x, inset_y,
                            trim_w, trim_h, sw, sh)
        stream = ContentStream(None, None)
        stream.set_data(marks.encode())
        sheet_page.merge_page(_page_with(stream, sw, sh))
        sheet_page[NameObject("/TrimBox")] = RectangleObject((0, 0, sw, sh))
        writer.add_page(sheet_page)
    return _finish(writer)


def _page_with(stream, width: float, height: float):
    from pypdf import PageObject
    from pypdf.generic import NameObject
    page = PageObject.create_blank_page(width=width, height=height)
    page[NameObject("/Contents")] = stream
    return page


def _crop_marks(x0, y0, columns, rows, cell_w, cell_h, inset_x, inset_y, trim_w, trim_h,
                sw, sh) -> str:
    """Hairline crop marks in registration black, 3 mm off the grid, in the margins only."""
    gap, length = 3 * MM, 5 * MM
    ops = ["q 0.25 w 0 0 0 1 K"]
    top, right = y0 + rows * cell_h, x0 + columns * cell_w
    xs = sorted({x0 + c * cell_w + inset_x + d for c in range(columns) for d in (0, trim_w)})
    ys = sorted({y0 + r * cell_h + inset_y + d for r in range(rows) for d in (0, trim_h)})
    for x in xs:
        ops.append(f"{x:.3f} {max(y0 - gap - length, 0):.3f} m {x:.3f} {y0 - gap:.3f} l S")
        ops.append(f"{x:.3f} {top + gap:.3f} m {x:.3f} {min(top + gap + length, sh):.3f} l S")
    for y in ys:
        ops.append(f"{max(x0 - gap - length, 0):.3f} {y:.3f} m {x0 - gap:.3f} {y:.3f} l S")
        ops.append(f"{right + gap:.3f} {y:.3f} m {min(right + gap + length, sw):.3f} {y:.3f} l S")
    ops.append("Q")
    return "\n".join(ops)


def booklet_order(n: int) -> list[int | None]:
    """Saddle-stitch order for `n` pages padded to a multiple of 4 (None: a blank page).

    Sheet sides read: (last, 1), (2, last-1), (last-2, 3), … (0-based indexes here).
    """
    total = -(-n // 4) * 4
    order: list[int | None] = []
    lo, hi = 0, total - 1
    while lo < hi:
        order += [hi, lo, lo + 1, hi - 1]
        lo, hi = lo + 2, hi - 2
    return [i if i < n else None for i in order]


def booklet(data: bytes) -> bytes:
    """Two pages side by side per landscape sheet, in saddle-stitch order (fold, staple)."""
    from pypdf import PageObject, PdfReader, PdfWriter, Transformation
    reader = PdfReader(io.BytesIO(data))
    pages = list(reader.pages)
    w, h = float(pages[0].mediabox.width), float(pages[0].mediabox.height)
    writer = PdfWriter()
    order = booklet_order(len(pages))
    for i in range(0, len(order), 2):
        sheet = PageObject.create_blank_page(width=2 * w, height=h)
        for slot, index in enumerate(order[i:i + 2]):
            if index is not None:
                sheet.merge_transformed_page(pages[index],
                                             Transformation().translate(slot * w, 0))
        writer.add_page(sheet)
    return _finish(writer)
