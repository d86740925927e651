"""WeasyPrint made safe and strict: renderer, fenced fetcher, bundled fonts, page sizes, layers."""
from __future__ import annotations

import atexit
import html as htmllib
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from memberportal.errors import BuildError, TemplateError, warnings_of
from memberportal.print.weasyprint_private import font_folder, html_class, set_font_folder

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
            if cp < 0x20 or cp in (0x7F, 0xFEFF, 0x200B, 0x200D, 0x2060) or cp in self.covered:
                continue
            seen.append(ch)
        return sorted(seen)


_TAGS = re.compile(r"<(style|script|svg)\b.*?</\1>|<[^>]+>", re.S | re.I)


def visible_text(html: str) -> str:
    """The text a reader sees in a rendered HTML fragment (markup, styles, SVG dropped)."""
    return htmllib.unescape(_TAGS.sub(" ", html))


# --- rendering --------------------------------------------------------------------------------


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
        _remove_orphaned_font_folders()
        self.roots = roots
        self.fetcher = _fetcher_class()(roots)
        self.font_config = FontConfiguration()
        self._use_font_folder(Path(tempfile.mkdtemp(prefix=f"{FONTS_PREFIX}{os.getpid()}-")))
        _renderers.add(self)

    def _use_font_folder(self, folder: Path) -> None:
        set_font_folder(self.font_config, folder)      # where @font-face files are written
        self._owner = os.getpid()

    def _after_fork(self) -> None:
        folder = font_folder(self.font_config)
        if folder is not None:
            folder = folder / f"worker-{os.getpid()}"
            folder.mkdir(exist_ok=True)
            self._use_font_folder(folder)

    def close(self) -> None:
        """Remove the font files (in the process that made the folder; nothing elsewhere)."""
        folder = font_folder(self.font_config)
        if folder is not None and self._owner == os.getpid():
            shutil.rmtree(folder, ignore_errors=True)
            set_font_folder(self.font_config, None)

    def document(self, html: str, base: Path, what: str):
        """Lay out `html`; any WeasyPrint warning or refused fetch is a TemplateError."""
        from weasyprint.urls import FatalURLFetchingError
        self.fetcher.refused.clear()
        with warnings_of("weasyprint") as warned:
            try:
                doc = html_class(html)(string=html, base_url=base.resolve().as_uri() + "/",
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


# --- the font folders of renderers ------------------------------------------------------------


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


# --- pages: one a piece, a background layer under them all ------------------------------------


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
            shared.append(pydyf.Stream([crop_mark_ops(background["MediaBox"],
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


def crop_mark_ops(media, trim) -> str:
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
