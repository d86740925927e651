"""Rendering on workers: each process's tools, chunks run guarded and joined in chunk order."""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from jinja2 import pass_context
from markupsafe import escape

from memberportal.errors import BuildError, MemberPortalError, ValidationFailed
from memberportal.layout import BUILTIN_TEMPLATES
from memberportal.print import weasyprint_private
from memberportal.print.contexts import Job
from memberportal.print.joiner import Joiner
from memberportal.print.stamp import fields
from memberportal.print.stamp.stamper import Stamped, Stamper, Whole
from memberportal.print.weasy import Fonts, Renderer, visible_text
from memberportal.render.qr import qr_data_uri
from memberportal.render.templates import environment, render
from memberportal.runtime.limits import run_limited
from memberportal.runtime.progress import paused_gc

WORD_JOINER = "\u2060"    # U+2060: no line break on either side, no glyph

_worker: dict[str, Any] = {}


# --- what the templates see ------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _qr(data: str) -> str:
    return qr_data_uri(data)


@pass_context
def _qr_src(context, data) -> str:
    """|qr_src: the code as a data: URI, or marked as a field when inserts are stamped."""
    if context.get("stamping"):
        return fields.qr_markup(str(data))
    return _qr(str(data))


@pass_context
def _field(context, value):
    """|field: a value that changes from parcel to parcel, drawn on a shape laid out once."""
    return fields.field_markup(value) if context.get("stamping") else escape(value)


def _nowrap(text) -> str:
    """|nowrap in print: word joiners between the characters of a date, amount or name, so
    it never breaks inside itself, in a field drawn by the stamper as in a whole layout."""
    return WORD_JOINER.join(str(text))


# --- this process's renderer, templates and fonts --------------------------------------------


def tools(job: Job) -> tuple[Renderer, Any, Fonts]:
    """The renderer, template environment and fonts of this process, made once."""
    key = (str(job.root), job.lang, job.symbol, job.address)
    if _worker.get("key") != key:
        fonts = Fonts.load([job.root / "templates" / "fonts", BUILTIN_TEMPLATES / "fonts"])
        env = environment(job.search_path(), job.lang, job.symbol, address=job.address)
        env.filters["qr_src"] = _qr_src
        env.filters["field"] = _field
        env.filters["nowrap"] = _nowrap
        env.globals["font_url"] = fonts.url
        renderer = Renderer(job.allowed())
        _worker.update(key=key, renderer=renderer, env=env, fonts=fonts,
                       stamper=Stamper(renderer))
    return _worker["renderer"], _worker["env"], _worker["fonts"]


def worker_setup() -> None:
    """What a process that renders sets up before its first document (once; a forked worker,
    a cluster's): WeasyPrint skips empty margin boxes. The process that starts the workers
    leaves WeasyPrint as it is."""
    weasyprint_private.skip_empty_margin_boxes()


def stamper(job: Job) -> Stamper:
    """This process's stamper: the shapes it laid out stay for the next chunks."""
    tools(job)
    return _worker["stamper"]


def worker_count(workers: int | None) -> int:
    """The worker processes asked for, or by default up to 2."""
    return workers or min(2, os.cpu_count() or 1)


def template_dir(env, name: str) -> Path:
    source = env.loader.get_source(env, name)[1]
    return Path(source).parent


def check_fonts(fonts: Fonts, html: str, member: str | None, what: str) -> None:
    missing = fonts.missing(visible_text(html))
    if missing:
        chars = ", ".join(f"'{c}' (U+{ord(c):04X})" for c in missing)
        raise BuildError(f"{what}: no bundled font has {chars}; add the character with "
                         "templates/fonts/regenerate.py or change the text", member=member,
                         kind="print")


def unprintable(fonts: Fonts, env, template: str, whole: dict,
                each: list[tuple[Any, str | None, str, dict]]) -> list[tuple[Any, BuildError]]:
    """The pieces of a batch with a character no bundled font has, as (key, error naming the
    piece, its member, the character and its code point): those fail alone, the rest print.
    The batch is checked whole first (one render); piece by piece only when that fails. When
    no piece fails alone, the batch's own text (the template, the brand) lacks the character:
    that error is raised, as it would fail every piece."""
    try:
        check_fonts(fonts, render(env, template, **whole), None, "the batch")
        return []
    except BuildError as batch:
        failed = []
        for key, member, what, ctx in each:
            try:
                check_fonts(fonts, render(env, template, **ctx), member, what)
            except BuildError as e:
                failed.append((key, e))
        if not failed:
            raise batch
        return failed


def render_pdf(job: Job, template: str, what: str, member: str | None = None,
               check_each: list[tuple[str, dict]] | None = None,
               refine: Callable[[Any], dict | None] | None = None, **ctx) -> tuple[bytes, int]:
    """Render one template to PDF bytes: fonts checked first, warnings are errors.

    `check_each` lists (member id, context) to re-render one by one when the whole document
    has a character no font covers, so the error names the member. `refine` (a module-level
    function, it goes to the worker) looks at the laid-out document and may return more
    context: the template is then laid out once more with it (e.g. to fill a page).
    """
    label = what + (f" for member {member}" if member else "")
    tools(job)  # made once here: the forked worker inherits fonts and templates ready
    result = run_limited(render_pdf_task,
                         [(job, template, what, member, check_each, ctx, refine)], [label])[0]
    if isinstance(result, MemberPortalError):
        raise result
    return result


def render_pdf_task(args) -> tuple[bytes, int]:
    job, template, what, member, check_each, ctx, *rest = args
    refine = rest[0] if rest else None
    worker_setup()
    renderer, env, fonts = tools(job)
    html = render(env, template, **ctx)
    try:
        check_fonts(fonts, html, member, what)
    except BuildError:
        for mid, one in check_each or ():
            check_fonts(fonts, render(env, template, **one), mid, what)
        raise
    base = template_dir(env, template)
    doc = renderer.document(html, base, what)
    more = refine(doc) if refine else None
    if more:
        doc = renderer.document(render(env, template, **{**ctx, **more}), base, what)
    return renderer.write(doc, what), len(doc.pages)


# --- chunks on workers, joined in order ------------------------------------------------------


@dataclass(frozen=True)
class ChunkResult:
    """A chunk back from a worker: its index, what its PDF is made of (None on error), errors."""

    index: int
    pdf: Any                 # PDF bytes, a list of them, stamper.Stamped or stamper.Whole
    errors: tuple[MemberPortalError, ...] = ()
    failed: tuple[tuple[Any, MemberPortalError], ...] = ()   # pieces left out, and why


def guarded(index: int, make: Callable[[], Any]) -> ChunkResult:
    """One chunk made on a worker: its PDF, or its error."""
    worker_setup()
    # WeasyPrint allocates millions of short-lived objects; the cyclic collector's passes over
    # them cost a third of the time (bench/inserts.py): paused, then one collection per chunk.
    try:
        with paused_gc():
            return ChunkResult(index, make())
    except MemberPortalError as e:
        return ChunkResult(index, None, (e,))
    finally:
        gc.collect()


class InOrder:
    """Chunks' PDFs joined into one in chunk order as they come back, so joining overlaps
    rendering; a failed chunk is kept as an error while the others still render."""

    def __init__(self, sizes: list[int], progress: Callable[[int], None] | None,
                 marks: bool = False):
        self.sizes, self.progress = sizes, progress   # sizes: items in each chunk
        self.errors: list[MemberPortalError] = []
        self.failed: list[tuple[Any, MemberPortalError]] = []   # pieces that failed alone
        self.joiner = Joiner(marks)
        self.early: dict[int, Any] = {}               # chunks back before an earlier one
        self.joined = 0
        self.shapes = 0                               # stamped inserts' shapes laid out
        self.whole: dict[str, int] = {}               # why inserts were laid out whole

    def take(self, index: int, result: ChunkResult | MemberPortalError) -> None:
        if self.progress:
            self.progress(self.sizes[index])
        if isinstance(result, MemberPortalError):  # out of time or memory: named
            self.errors.append(result)
            return
        data = result.pdf
        self.errors.extend(result.errors)
        self.failed.extend(result.failed)
        if isinstance(data, Whole):
            self.whole[data.reason] = self.whole.get(data.reason, 0) + self.sizes[index]
            data = data.parts
        elif isinstance(data, Stamped):
            self.shapes += data.laid_out
        if data is not None:
            self.early[index] = data
        while not self.errors and self.joined in self.early:
            with paused_gc():             # copying pages makes many objects
                self.joiner.add(self.early.pop(self.joined))
            self.joined += 1

    def run_forked(self, job: Job, fn: Callable[[Any], Any], chunks: list, labels: list[str],
                   workers: int | None) -> None:
        """fn(chunk) for every chunk on forked workers (run_limited), taken as they finish."""
        tools(job)  # made once here: every forked worker inherits fonts and templates ready
        # Everything alive now (the project, the statuses, fonts) outlives the batch: frozen,
        # the garbage collector no longer walks it after every chunk, here and in the forked
        # workers (with 10,000 members each walk took ~0.5 s).
        gc.freeze()
        try:
            run_limited(fn, chunks, labels, worker_count(workers),
                        on_result=self.take)
        finally:
            gc.unfreeze()

    def finish(self) -> bytes:
        if self.errors:
            raise ValidationFailed(self.errors)
        with paused_gc():
            return self.joiner.finish()
