"""Parcel inserts: one page per parcel in packing order, rendered in chunks on workers."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable

from memberportal.core.rules import Status
from memberportal.errors import BuildError, MemberPortalError, ValidationFailed
from memberportal.inputs.project import Project
from memberportal.layout import write_atomic
from memberportal.print import press
from memberportal.print.contexts import (
    Job,
    Parcel,
    brand_context,
    member_context,
    number_parcels,
)
from memberportal.print.impose import nup, sheet_of
from memberportal.print.stamp import fields, weasyprint_layout
from memberportal.print.stamp.stamper import Stamped, Whole, too_long
from memberportal.print.weasy import Fonts, layered_pdf, one_page_each, page_size
from memberportal.print.workers import (
    ChunkResult,
    InOrder,
    check_fonts,
    guarded,
    stamper,
    template_dir,
    tools,
    unprintable,
    worker_count,
)
from memberportal.render.templates import render
from memberportal.runtime.executor import LOCAL, make_executor
from memberportal.runtime.progress import paused_gc

CHUNK = 1000           # parcels per task on a worker, at most (stamped: shapes are shared
WHOLE = 100            # by a worker's tasks); inserts per document when laid out whole
MANIFEST_COLUMNS = ("sequence", "order_id", "member_id", "file", "page")


@dataclass
class Sheet:
    """The insert's page: trim size, bleed and whether to draw crop marks (mm)."""

    size: str = "A6"
    bleed: float = 3.0
    marks: bool = True

    def css(self) -> dict[str, Any]:
        w, h = page_size(self.size)
        return {"width": w, "height": h, "bleed": self.bleed, "marks": self.marks}


def insert_contexts(job: Job, project: Project, parcels: list[Parcel]) -> list[dict]:
    """Each parcel's insert; parcels not numbered yet (number_parcels) are numbered here."""
    if any(p.seq == 0 for p in parcels):
        parcels = number_parcels(project, parcels, job.as_of)
    statuses: dict[str, Status] = {}
    out = []
    for p in parcels:
        if p.member_id not in statuses:
            statuses[p.member_id] = project.status(project.member(p.member_id), job.as_of)
        out.append({"line": p.line, "order": p.order_id, "extra": dict(p.extra),
                    "seq": p.seq, "of": p.of, "recorded": p.place.recorded,
                    "member": member_context(job, project, p.member_id,
                                             statuses[p.member_id], p.place)})
    return out


def build_inserts(job: Job, project: Project, parcels: list[Parcel], out: Path,
                  sheet: Sheet | None = None, workers: int | None = None,
                  chunk: int | None = None,
                  impose: tuple | None = None, executor: str | None = None,
                  progress: Callable[[int], None] | None = None,
                  profile: str = "office") -> dict[str, Any]:
    """Every parcel's insert in file order, in one PDF written atomically (or nothing).

    `impose`: parse_impose(); `profile`: office (the RGB PDF as rendered) or press (press.py:
    PDF/X-4 in CMYK, its crop marks outside the bleed, checked before it is written).

    `progress(n)` is called as each chunk of `n` inserts is rendered (e.g. a progress bar).
    `chunk` parcels go to a worker at a time: by default up to CHUNK, so that each worker gets
    at least two chunks.
    """
    sheet = sheet or Sheet()
    press.check_profile(profile)
    # press: the press stage draws the marks, outside the bleed (the template's are inside)
    rendered = replace(sheet, marks=False) if profile == "press" else sheet
    brand, page = brand_context(project, job.lang), rendered.css()
    if any(p.seq == 0 for p in parcels):
        parcels = number_parcels(project, parcels, job.as_of)
    if not chunk:
        spread = 2 * worker_count(workers)
        chunk = max(1, min(CHUNK, -(-len(parcels) // spread)))
    remote = bool(executor and executor != LOCAL)
    # the cluster gets contexts (no project, no secret); forked workers make their own
    items = insert_contexts(job, project, parcels) if remote else parcels
    chunks = [(i, brand, page, items[s:s + chunk])
              for i, s in enumerate(range(0, len(items), chunk))]
    collect = InOrder([len(c[3]) for c in chunks], progress, page["marks"])   # in file order
    if remote:
        # On a cluster, the cluster's own limits (dask worker --memory-limit) bound a chunk.
        pool = make_executor(executor, workers)
        try:  # the workers get no secret: codes and URLs are in the contexts already
            # map() yields chunks as they finish: their own index keeps the file's order.
            for index, result in pool.map(_run_chunk, replace(job, secret=b""), chunks):
                collect.take(index, result)
        finally:
            pool.close()
    else:
        # Forked workers have the project: each works out its own chunk's statuses and
        # contexts (for 10,000 parcels 3 s that this process spent before any rendering).
        collect.run_forked(job, partial(_run_parcels, job, project), chunks,
                           [_chunk_label(c[3]) for c in chunks], workers)
    left_out = {line for line, _ in collect.failed}
    failed = [e for _, e in sorted(collect.failed, key=lambda f: f[0])]
    printed = [p for p in parcels if p.line not in left_out]
    if collect.errors or not printed:
        raise ValidationFailed([*collect.errors, *failed])
    data = collect.finish()
    per_page, order = 1, "repeat"
    if impose:
        sheet_name, cols, rows, *rest = impose
        order = rest[0] if rest else "repeat"
        data = nup(data, page_size(sheet_name), cols, rows, order=order,
                   press=profile == "press")
        per_page = cols * rows
    data = press.finish(data, profile, press.press_for(
        job, project, out.stem, marks=sheet.marks, imposed=bool(impose))
        if profile == "press" else None)
    manifest = write_manifest(out, [(p.seq, p.order_id, p.member_id,
                                     sheet_of(i, len(printed), per_page, order) + 1)
                                    for i, p in enumerate(printed)])
    write_atomic(out, data)
    return {"path": out, "inserts": len(printed), "bytes": len(data),
            "shapes": collect.shapes, "whole": collect.whole, "manifest": manifest,
            "unrecorded": sum(1 for p in parcels if not p.place.recorded), "failed": failed}


def write_manifest(pdf: Path, rows: list[tuple[int, str, str, int]]) -> Path:
    """The PDF's manifest: its name with .csv, a row per piece (sequence, order, member, page),
    so that a packing line can match every printed piece to its parcel."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for seq, order, member, page in rows:
        writer.writerow([seq, order, member, pdf.name, page])
    return write_atomic(pdf.with_suffix(".csv"), buf.getvalue().encode("utf-8"))


def per_file(out: Path, parcels: list[Parcel], size: int) -> list[tuple[Path, list[Parcel]]]:
    """The job split into numbered files of `size` parcels at most, in pick-list order
    (inserts-x.pdf -> inserts-x-001.pdf, …); a parcel is never split across two files."""
    parts = [parcels[s:s + size] for s in range(0, len(parcels), size)]
    width = max(3, len(str(len(parts))))
    return [(out.with_name(f"{out.stem}-{n:0{width}d}{out.suffix}"), part)
            for n, part in enumerate(parts, 1)]


def _chunk_label(parcels: list[Parcel]) -> str:
    ids = list(dict.fromkeys(p.member_id for p in parcels))
    who = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
    return (f"inserts for lines {parcels[0].line}–{parcels[-1].line} of the parcels file "
            f"(member{'s' if len(ids) > 1 else ''} {who})")


def parse_impose(text: str) -> tuple[str, int, int, str]:
    """'2x1', '2x2 on SRA4', '2x2 on A4, cut and stack' -> (sheet, columns, rows, order); the
    sheet defaults to A4, the order to step and repeat ("repeat"; "stack": cut and stack)."""
    m = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*(?:on\s+(.+?))?\s*"
                     r"(?:,?\s*(cut[ -]and[ -]stack|stack|step[ -]and[ -]repeat|repeat))?\s*",
                     text, re.I)
    if not m:
        raise BuildError(f"--impose {text!r}: write COLUMNSxROWS, optionally 'on SHEET' and "
                         "', cut and stack' (e.g. '2x1 on A4 landscape, cut and stack')")
    order = "stack" if m[4] and "stack" in m[4].lower() else "repeat"
    return (m[3] or "A4").strip().rstrip(","), int(m[1]), int(m[2]), order


# --- a chunk of inserts on a worker ---------------------------------------------------------


def _insert_chunk(job: Job, brand: dict, sheet: dict, inserts: list[dict],
                  ) -> Whole | Stamped:
    """One PDF page per insert, in order; an insert that overflows its page is an error.

    Stamped (stamper.py) when the template marks fields and this WeasyPrint is one stamping
    was made for; otherwise every insert is laid out whole, 100 to a document."""
    _, env, fonts = tools(job)
    what = f"inserts (lines {inserts[0]['line']}–{inserts[-1]['line']})"
    base = template_dir(env, "print/insert.html")
    reason = "stamping is off"
    if job.stamp and not weasyprint_layout.supported():
        tested = ", ".join(weasyprint_layout.TESTED_WEASYPRINT)
        reason = f"stamping is made for WeasyPrint {tested}"
    elif job.stamp:
        html = render(env, "print/insert.html", brand=brand, page=sheet, inserts=inserts,
                      stamping=True)
        reason = "the template marks no field (|field, |qr_src)"
        if fields.OPEN in html or fields.QR_OPEN in html:
            _check_insert_fonts(job, fonts, fields.strip_markers(html), what, brand, sheet,
                                inserts)
            try:
                return stamper(job).chunk(html, base, what, inserts, sheet["marks"])
            except fields.SplitError as e:   # not shaped for stamping: laid out whole below
                reason = str(e)
    # a document of 100 inserts shares the font work; more only takes memory
    return Whole([_whole(job, brand, sheet, inserts[s:s + WHOLE])
                  for s in range(0, len(inserts), WHOLE)], reason)


def _whole(job: Job, brand: dict, sheet: dict, inserts: list[dict]) -> bytes:
    """The inserts laid out whole, in one document: one page each over a background layer."""
    renderer, env, fonts = tools(job)
    what = f"inserts (lines {inserts[0]['line']}–{inserts[-1]['line']})"
    html = render(env, "print/insert.html", brand=brand, page=sheet, inserts=inserts)
    _check_insert_fonts(job, fonts, html, what, brand, sheet, inserts)
    doc = renderer.document(html, template_dir(env, "print/insert.html"), what)
    # An element id="background" on the first page: a layer printed under every insert.
    layers, bad = one_page_each(doc, [f"parcel-{one['line']}" for one in inserts], what)
    if bad is not None:
        raise too_long(inserts[bad])
    if len(doc.pages) != len(inserts) + layers:
        raise BuildError(f"{what}: {len(doc.pages)} pages for {len(inserts)} inserts",
                         kind="insert")
    return layered_pdf(doc, sheet["marks"]) if layers else doc.write_pdf()


def _check_insert_fonts(job: Job, fonts: Fonts, html: str, what: str, brand: dict, sheet: dict,
                        inserts: list[dict]) -> None:
    """Every character has a font; else the error names the first insert without one."""
    _, env, _ = tools(job)
    try:
        check_fonts(fonts, html, None, what)
    except BuildError:
        for one in inserts:
            check_fonts(fonts, render(env, "print/insert.html", brand=brand, page=sheet,
                                      inserts=[one]), one["member"]["id"],
                        f"insert for order {one['order']}")
        raise


def _run_parcels(job: Job, project: Project, args) -> ChunkResult:
    """A chunk of parcels on a forked worker: their contexts, then _run_chunk."""
    index, brand, sheet, parcels = args
    try:
        with paused_gc():
            inserts = insert_contexts(job, project, parcels)
    except MemberPortalError as e:
        return ChunkResult(index, None, (e,))
    return _run_chunk(job, (index, brand, sheet, inserts))


def _run_chunk(job: Job, args) -> ChunkResult:
    index, brand, sheet, inserts = args
    try:  # an insert with a character no font has fails alone, named; the others print
        _, env, fonts = tools(job)
        failed = unprintable(fonts, env, "print/insert.html",
                             {"brand": brand, "page": sheet, "inserts": inserts},
                             [(one["line"], one["member"]["id"],
                               f"insert for order {one['order']} (line {one['line']})",
                               {"brand": brand, "page": sheet, "inserts": [one]})
                              for one in inserts])
    except MemberPortalError as e:
        return ChunkResult(index, None, (e,))
    if failed:
        lines = {line for line, _ in failed}
        inserts = [one for one in inserts if one["line"] not in lines]
    result = guarded(index, lambda: _insert_chunk(job, brand, sheet, inserts)) if inserts \
        else ChunkResult(index, [])
    return replace(result, failed=tuple(failed))
