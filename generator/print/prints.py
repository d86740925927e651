"""Print artifacts: parcel inserts (batched on workers), retention cards, notebooks, previews."""
from __future__ import annotations

import csv
import gc
import io
import os
import re
import subprocess
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable

from jinja2 import pass_context
from markupsafe import escape

from memberportal.core import tokens
from memberportal.core.codes import make_code, member_refs
from memberportal.core.rules import Status
from memberportal.errors import BuildError, InputError, MemberPortalError, ValidationFailed, Where
from memberportal.inputs.assets import check_assets
from memberportal.inputs.config import site_url
from memberportal.inputs.project import Project
from memberportal.inputs.safe_yaml import decode
from memberportal.inputs.secret import load_generations
from memberportal.layout import BUILTIN_TEMPLATES, rel, write_atomic
from memberportal.print.impose import booklet, nup
from memberportal.print.joiner import Joiner
from memberportal.print.stamp import fields, stamping
from memberportal.print.weasy import (
    Fonts,
    Renderer,
    layered_pdf,
    one_page_each,
    page_size,
    visible_text,
)
from memberportal.render.messages import say
from memberportal.render.qr import qr_data_uri
from memberportal.render.templates import environment, mask_name, render
from memberportal.runtime.executor import LOCAL, make_executor
from memberportal.runtime.limits import run_limited
from memberportal.runtime.progress import paused_gc

PARCEL_COLUMNS = ("order_id", "member_id")
CHUNK = 1000           # parcels per task on a worker, at most (stamped: shapes are shared
WHOLE = 100            # by a worker's tasks); inserts per document when laid out whole
KINDS = ("insert", "card", "notebook")


# --- settings and the personal-page URL ------------------------------------------------------


@dataclass
class Job:
    """What every print artifact needs; plain data so worker processes can receive it."""

    root: Path
    as_of: date
    lang: str
    symbol: str
    site_url: str                     # portal.site_url(root): the same address as the pages
    secret: bytes
    generations: dict[str, int] = field(default_factory=dict)
    stamp: bool = True                # inserts: fields drawn on shapes laid out once

    def search_path(self) -> list[Path]:
        return [self.root / "templates", BUILTIN_TEMPLATES]

    def allowed(self) -> list[Path]:
        return [self.root / "templates", self.root / "content", BUILTIN_TEMPLATES]


def member_url(job: Job, member_id: str) -> str:
    return tokens.member_url(job.site_url, job.secret, member_id,
                            job.generations.get(member_id, 0))


def make_job(project: Project, as_of: date, lang: str, secret: bytes) -> Job:
    check_assets(project.root)  # the templates may load any image under templates/, content/
    return Job(project.root, as_of, lang, project.program.currency_symbol,
               site_url(project.root), secret, load_generations(project.root))


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


def brand_context(project: Project) -> dict[str, Any]:
    b = project.program.brand
    return {"name": b.name, "slogan": b.slogan, "shop": b.shop, "service": b.service,
            "color": b.color, "tint": mix(b.color, 0.09), "soft": mix(b.color, 0.22)}


def mix(color: str, amount: float) -> str:
    """`color` laid over white at `amount` opacity, as #rrggbb (a tint for panels)."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * amount):02x}" for c in rgb)


def offer_context(job: Job, project: Project, member_id: str, status: Status,
                  ) -> dict[str, Any] | None:
    offer = next((o for o in status.offers if o.active), None)
    if offer is None:
        return None
    code = make_code(job.secret, member_id, offer.id, offer.valid_until)
    return {"id": offer.id, "name": offer.name, "description": offer.description,
            "percent": offer.discount_percent, "until": offer.valid_until,
            "discount": _discount_word(offer.discount_percent, job.lang), "code": code,
            "qr": code}


def _discount_word(percent: int, lang: str) -> str:
    """50 (% off) -> 5折 in Chinese, "50% off" in English."""
    if lang != "zh":
        return f"{percent}% off"
    rest = 100 - percent
    return f"{rest // 10 if rest % 10 == 0 else rest / 10:g}折"


def member_context(job: Job, project: Project, member_id: str, status: Status,
                   ) -> dict[str, Any]:
    """Everything about one member that a printed piece may show (names masked)."""
    member = project.member(member_id)
    t = status.tier
    progress = None
    if t.next_tier is not None and t.next_tier.threshold > 0:
        progress = float(min(t.amount / t.next_tier.threshold, 1))
    lang = job.lang
    return {
        "id": member.id,
        "name": mask_name(member.name),
        "since": member.joined,
        "orders": status.orders,
        "first_order": status.orders == 1,
        "tier": {"name": t.tier.name, "color": t.tier.color, "discount": t.tier.discount,
                 "amount": t.amount, "basis": t.basis,
                 "next": t.next_tier.name if t.next_tier else None,
                 "needed": t.needed, "progress": progress, "keep_until": t.keep_until},
        "points": {"balance": status.points.balance,
                   "expiring": status.points.expiring_total,
                   "expiring_on": status.points.expiring[0].date if status.points.expiring
                   else None},
        "benefits": [{"name": b.name, "description": b.description} for _, b in status.benefits],
        "offer": offer_context(job, project, member_id, status),
        "reminders": [{"name": r.name, "run_out": r.run_out, "remind_on": r.remind_on,
                       "due": r.due} for r in status.reminders][:2],
        "birthday": next(({"who": b.who, "child": b.child_name, "date": b.date, "age": b.age,
                           "days": b.days_until, "gift": b.gift} for b in status.birthdays),
                         None),
        "recommendations": [{"name": r.name, "reason": say(r.reason, lang, job.symbol)}
                            for r in status.recommendations][:3],
        "url": member_url(job, member.id),
    }


# --- the parcels file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Parcel:
    line: int
    order_id: str
    member_id: str
    extra: tuple[tuple[str, str], ...] = ()


def read_parcels(path: Path, project: Project) -> list[Parcel]:
    """The parcels in packing order; every bad row is reported (file and line), then abort."""
    shown = rel(path, project.root)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", Where(shown)) from None
    text = decode(raw, shown)
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError("empty file: the first line names the columns "
                         f"({', '.join(PARCEL_COLUMNS)}, …)", Where(shown, 1)) from None
    except csv.Error as e:
        raise InputError(f"malformed CSV: {e}", Where(shown, 1)) from None
    missing = [c for c in PARCEL_COLUMNS if c not in header]
    if missing:
        raise InputError(f"missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (the header has: {', '.join(header)})",
                         Where(shown, 1))
    known = {m.id for m in project.members}
    errors: list[MemberPortalError] = []
    parcels: list[Parcel] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                errors.append(InputError(f"{len(row)} fields, the header has {len(header)}",
                                         Where(shown, line)))
                continue
            values = dict(zip(header, (c.strip() for c in row)))
            order, member = values["order_id"], values["member_id"]
            if not order:
                errors.append(InputError("empty order_id", Where(shown, line), field="order_id"))
                continue
            if order in seen:
                errors.append(InputError(f"order {order} is already on line {seen[order]}",
                                         Where(shown, line), field="order_id"))
                continue
            seen[order] = line
            if member not in known:
                errors.append(InputError(f"unknown member id '{member}'", Where(shown, line),
                                         field="member_id", member=member or None))
                continue
            extra = tuple((k, v) for k, v in values.items() if k not in PARCEL_COLUMNS)
            parcels.append(Parcel(line, order, member, extra))
    except csv.Error as e:
        errors.append(InputError(f"malformed CSV: {e}", Where(shown, reader.line_num)))
    if errors:
        raise ValidationFailed(errors)
    if not parcels:
        raise InputError("no parcels in the file", Where(shown, 1))
    return parcels


# --- rendering on workers --------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _tools(job: Job) -> tuple[Renderer, Any, Fonts]:
    """The renderer, template environment and fonts of this process, made once."""
    key = (str(job.root), job.lang, job.symbol)
    if _worker.get("key") != key:
        fonts = Fonts.load([job.root / "templates" / "fonts", BUILTIN_TEMPLATES / "fonts"])
        env = environment(job.search_path(), job.lang, job.symbol)
        env.filters["qr_src"] = _qr_src
        env.filters["field"] = _field
        env.globals["font_url"] = fonts.url
        renderer = Renderer(job.allowed())
        _worker.update(key=key, renderer=renderer, env=env, fonts=fonts,
                       stamper=stamping.Stamper(renderer))
    return _worker["renderer"], _worker["env"], _worker["fonts"]


def _template_dir(env, name: str) -> Path:
    source = env.loader.get_source(env, name)[1]
    return Path(source).parent


def _check_fonts(fonts: Fonts, html: str, member: str | None, what: str) -> None:
    missing = fonts.missing(visible_text(html))
    if missing:
        chars = ", ".join(f"'{c}' (U+{ord(c):04X})" for c in missing)
        raise BuildError(f"{what}: no bundled font has {chars}; add the character with "
                         "templates/fonts/regenerate.py or change the text", member=member,
                         kind="print")


def render_pdf(job: Job, template: str, what: str, member: str | None = None,
               check_each: list[tuple[str, dict]] | None = None, **ctx) -> tuple[bytes, int]:
    """Render one template to PDF bytes: fonts checked first, warnings are errors.

    `check_each` lists (member id, context) to re-render one by one when the whole document
    has a character no font covers, so the error names the member.
    """
    label = what + (f" for member {member}" if member else "")
    _tools(job)  # made once here: the forked worker inherits fonts and templates ready
    result = run_limited(_render_pdf_task, [(job, template, what, member, check_each, ctx)],
                         [label])[0]
    if isinstance(result, MemberPortalError):
        raise result
    return result


def _render_pdf_task(args) -> tuple[bytes, int]:
    job, template, what, member, check_each, ctx = args
    renderer, env, fonts = _tools(job)
    html = render(env, template, **ctx)
    try:
        _check_fonts(fonts, html, member, what)
    except BuildError:
        for mid, one in check_each or ():
            _check_fonts(fonts, render(env, template, **one), mid, what)
        raise
    return renderer.pdf(html, _template_dir(env, template), what)


@dataclass
class Whole:
    """Inserts laid out whole: their PDFs (100 inserts a document) and why not stamped."""

    parts: list[bytes]
    reason: str


def _insert_chunk(job: Job, brand: dict, sheet: dict, inserts: list[dict],
                  ) -> Whole | stamping.Stamped:
    """One PDF page per insert, in order; an insert that overflows its page is an error.

    Stamped (stamping.py) when the template marks fields and this WeasyPrint is one stamping
    was made for; otherwise every insert is laid out whole, 100 to a document."""
    _, env, fonts = _tools(job)
    what = f"inserts (lines {inserts[0]['line']}–{inserts[-1]['line']})"
    base = _template_dir(env, "print/insert.html")
    reason = "stamping is off"
    if job.stamp and not stamping.supported():
        reason = f"stamping is made for WeasyPrint {', '.join(stamping.TESTED_WEASYPRINT)}"
    elif job.stamp:
        html = render(env, "print/insert.html", brand=brand, page=sheet, inserts=inserts,
                      stamping=True)
        reason = "the template marks no field (|field, |qr_src)"
        if fields.OPEN in html or fields.QR_OPEN in html:
            _check_insert_fonts(job, fonts, fields.strip_markers(html), what, brand, sheet,
                                inserts)
            try:
                return _worker["stamper"].chunk(html, base, what, inserts, sheet["marks"])
            except fields.SplitError as e:   # not shaped for stamping: laid out whole below
                reason = str(e)
    # a document of 100 inserts shares the font work; more only takes memory
    return Whole([_whole(job, brand, sheet, inserts[s:s + WHOLE])
                  for s in range(0, len(inserts), WHOLE)], reason)


def _whole(job: Job, brand: dict, sheet: dict, inserts: list[dict]) -> bytes:
    """The inserts laid out whole, in one document: one page each over a background layer."""
    renderer, env, fonts = _tools(job)
    what = f"inserts (lines {inserts[0]['line']}–{inserts[-1]['line']})"
    html = render(env, "print/insert.html", brand=brand, page=sheet, inserts=inserts)
    _check_insert_fonts(job, fonts, html, what, brand, sheet, inserts)
    doc = renderer.document(html, _template_dir(env, "print/insert.html"), what)
    # An element id="background" on the first page: a layer printed under every insert.
    layers, bad = one_page_each(doc, [f"parcel-{one['line']}" for one in inserts], what)
    if bad is not None:
        raise stamping.too_long(inserts[bad])
    if len(doc.pages) != len(inserts) + layers:
        raise BuildError(f"{what}: {len(doc.pages)} pages for {len(inserts)} inserts",
                         kind="insert")
    return layered_pdf(doc, sheet["marks"]) if layers else doc.write_pdf()


def _check_insert_fonts(job: Job, fonts: Fonts, html: str, what: str, brand: dict, sheet: dict,
                        inserts: list[dict]) -> None:
    """Every character has a font; else the error names the first insert without one."""
    _, env, _ = _tools(job)
    try:
        _check_fonts(fonts, html, None, what)
    except BuildError:
        for one in inserts:
            _check_fonts(fonts, render(env, "print/insert.html", brand=brand, page=sheet,
                                       inserts=[one]), one["member"]["id"],
                         f"insert for order {one['order']}")
        raise


def _run_parcels(job: Job, project: Project, args,
                 ) -> tuple[int, bytes | None, list[MemberPortalError]]:
    """A chunk of parcels on a forked worker: their contexts, then _run_chunk."""
    index, brand, sheet, parcels = args
    try:
        with paused_gc():
            inserts = insert_contexts(job, project, parcels)
    except MemberPortalError as e:
        return index, None, [e]
    return _run_chunk(job, (index, brand, sheet, inserts))


def _run_chunk(job: Job, args) -> tuple[int, bytes | None, list[MemberPortalError]]:
    index, brand, sheet, inserts = args
    return _guarded(index, lambda: _insert_chunk(job, brand, sheet, inserts))


def _guarded(index: int, make: Callable[[], bytes],
             ) -> tuple[int, bytes | None, list[MemberPortalError]]:
    """(index, one chunk's PDF, []) or (index, None, [its error]) on a worker."""
    # WeasyPrint allocates millions of short-lived objects; the cyclic collector's passes over
    # them cost a third of the time (bench/inserts.py): paused, then one collection per chunk.
    try:
        with paused_gc():
            return index, make(), []
    except MemberPortalError as e:
        return index, None, [e]
    finally:
        gc.collect()


class _InOrder:
    """Chunks' PDFs joined into one in chunk order as they come back, so joining overlaps
    rendering; a failed chunk is kept as an error while the others still render."""

    def __init__(self, sizes: list[int], progress: Callable[[int], None] | None,
                 marks: bool = False):
        self.sizes, self.progress = sizes, progress   # sizes: items in each chunk
        self.errors: list[MemberPortalError] = []
        self.joiner = Joiner(marks)
        self.early: dict[int, bytes] = {}             # chunks back before an earlier one
        self.joined = 0
        self.shapes = 0                               # stamped inserts' shapes laid out
        self.whole: dict[str, int] = {}               # why inserts were laid out whole

    def take(self, index: int, result) -> None:
        if self.progress:
            self.progress(self.sizes[index])
        if isinstance(result, MemberPortalError):  # out of time or memory: named
            self.errors.append(result)
            return
        _, data, errs = result
        self.errors.extend(errs)
        if isinstance(data, Whole):
            self.whole[data.reason] = self.whole.get(data.reason, 0) + self.sizes[index]
            data = data.parts
        elif isinstance(data, stamping.Stamped):
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
        _tools(job)  # made once here: every forked worker inherits fonts and templates ready
        # Everything alive now (the project, the statuses, fonts) outlives the batch: frozen,
        # the garbage collector no longer walks it after every chunk, here and in the forked
        # workers (with 10,000 members each walk took ~0.5 s).
        gc.freeze()
        try:
            run_limited(fn, chunks, labels, workers or min(2, os.cpu_count() or 1),
                        on_result=self.take)
        finally:
            gc.unfreeze()

    def finish(self) -> bytes:
        if self.errors:
            raise ValidationFailed(self.errors)
        with paused_gc():
            return self.joiner.finish()


# --- inserts ---------------------------------------------------------------------------------


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
    statuses: dict[str, Status] = {}
    out = []
    for p in parcels:
        if p.member_id not in statuses:
            statuses[p.member_id] = project.status(project.member(p.member_id), job.as_of)
        out.append({"line": p.line, "order": p.order_id, "extra": dict(p.extra),
                    "member": member_context(job, project, p.member_id,
                                             statuses[p.member_id])})
    return out


def build_inserts(job: Job, project: Project, parcels: list[Parcel], out: Path,
                  sheet: Sheet | None = None, workers: int | None = None,
                  chunk: int | None = None,
                  impose: tuple[str, int, int] | None = None, executor: str | None = None,
                  progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Every parcel's insert in file order, in one PDF written atomically (or nothing).

    `progress(n)` is called as each chunk of `n` inserts is rendered (e.g. a progress bar).
    `chunk` parcels go to a worker at a time: by default up to CHUNK, so that each worker gets
    at least two chunks.
    """
    sheet = sheet or Sheet()
    brand, page = brand_context(project), sheet.css()
    if not chunk:
        spread = 2 * (workers or min(2, os.cpu_count() or 1))
        chunk = max(1, min(CHUNK, -(-len(parcels) // spread)))
    remote = bool(executor and executor != LOCAL)
    # the cluster gets contexts (no project, no secret); forked workers make their own
    items = insert_contexts(job, project, parcels) if remote else parcels
    chunks = [(i, brand, page, items[s:s + chunk])
              for i, s in enumerate(range(0, len(items), chunk))]
    collect = _InOrder([len(c[3]) for c in chunks], progress, page["marks"])   # in file order
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
    data = collect.finish()
    if impose:
        sheet_name, cols, rows = impose
        data = nup(data, page_size(sheet_name), cols, rows)
    write_atomic(out, data)
    return {"path": out, "inserts": len(parcels), "bytes": len(data),
            "shapes": collect.shapes, "whole": collect.whole}


def _chunk_label(parcels: list[Parcel]) -> str:
    ids = list(dict.fromkeys(p.member_id for p in parcels))
    who = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
    return (f"inserts for lines {parcels[0].line}–{parcels[-1].line} of the parcels file "
            f"(member{'s' if len(ids) > 1 else ''} {who})")


def parse_impose(text: str) -> tuple[str, int, int]:
    """'2x1', '2x2 on SRA4' -> (sheet, columns, rows); the sheet defaults to A4."""
    m = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*(?:on\s+(.+))?", text, re.I)
    if not m:
        raise BuildError(f"--impose {text!r}: write COLUMNSxROWS, optionally 'on SHEET' "
                         "(e.g. '2x1 on A4 landscape')")
    return (m[3] or "A4").strip(), int(m[1]), int(m[2])


# --- retention cards -------------------------------------------------------------------------

CARD_SIZE = (90, 54)
CARD_CHUNK = 100       # cards per document: ten 10-up sheets
CARD_GRID = (2, 5)     # columns × rows on A4


def card_contexts(job: Job, project: Project, member_ids: list[str] | None = None,
                  ) -> list[dict]:
    """One card per member with an active retention offer (or the members asked for)."""
    refs_ok = member_refs(job.secret, [m.id for m in project.members])  # collision check
    del refs_ok
    out = []
    with paused_gc():  # as in Project.statuses: every member's status is made
        for m in project.members:
            if member_ids is not None and m.id not in member_ids:
                continue
            ctx = member_context(job, project, m.id, project.status(m, job.as_of))
            if ctx["offer"] is None:
                if member_ids is not None:
                    raise BuildError("has no active retention offer on "
                                     f"{job.as_of.isoformat()}", member=m.id, kind="card")
                continue
            out.append(ctx)
    return out


def build_cards(job: Job, project: Project, out: Path, layout: str = "sheet",
                member_ids: list[str] | None = None, workers: int | None = None,
                ) -> dict[str, Any]:
    """Fronts and backs: 10-up A4 sheets (backs mirrored for duplex) or one card per page."""
    return render_cards(job, project, card_contexts(job, project, member_ids), out, layout,
                        workers)


def render_cards(job: Job, project: Project, cards: list[dict], out: Path,
                 layout: str = "sheet", workers: int | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The cards of card_contexts() in one PDF, written atomically (or nothing).

    Rendered CARD_CHUNK cards a document on forked workers and joined in order: one document
    for every card held ~0.7 MB a card (1,782 cards: 1.2 GB, one core, 71 s). `progress(n)`
    is called as each chunk of `n` cards is rendered."""
    if not cards:
        raise BuildError(f"no member has an active retention offer on {job.as_of.isoformat()}",
                         kind="card")
    brand = brand_context(project)
    chunks = [(i, layout, brand, cards[s:s + CARD_CHUNK])
              for i, s in enumerate(range(0, len(cards), CARD_CHUNK))]
    collect = _InOrder([len(c[3]) for c in chunks], progress)
    collect.run_forked(job, partial(_card_chunk, job), chunks,
                       [f"retention cards for {c[3][0]['id']}–{c[3][-1]['id']}"
                        for c in chunks], workers)
    data = collect.finish()
    write_atomic(out, data)
    return {"path": out, "cards": len(cards), "bytes": len(data)}


def _card_chunk(job: Job, args) -> tuple[int, bytes | None, list[MemberPortalError]]:
    """Some cards' fronts and backs, on whole sheets (CARD_CHUNK is a multiple of 10)."""
    index, layout, brand, cards = args
    cols, rows = CARD_GRID
    per = cols * rows
    sheets = []
    for s in range(0, len(cards), per):
        batch = cards[s:s + per]
        slots = [batch[i] if i < len(batch) else None for i in range(per)]
        backs = [slots[r * cols + (cols - 1 - c)] for r in range(rows) for c in range(cols)]
        sheets.append({"fronts": slots, "backs": backs})
    ctx = {"layout": layout, "brand": brand,
           "grid": {"columns": cols, "rows": rows, "width": CARD_SIZE[0],
                    "height": CARD_SIZE[1]}}
    each = [(c["id"], {**ctx, "cards": [c], "sheets": []}) for c in cards]
    return _guarded(index, lambda: _render_pdf_task(
        (job, "print/card.html", "retention cards", None, each,
         {**ctx, "cards": cards, "sheets": sheets}))[0])


# --- notebooks -------------------------------------------------------------------------------

NOTE_STYLES = ("lined", "dotted", "grid", "blank")


def _markdown(path: Path) -> str | None:
    import markdown
    if not path.is_file():
        return None
    text = decode(path.read_bytes(), path.name)
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # MkDocs front matter
    # A line break inside a Chinese paragraph is not a space: join the lines.
    text = re.sub(r"(?<=[\u2e80-\uffef])\n(?=[\u2e80-\uffef])", "", text)
    return markdown.markdown(text, extensions=["extra", "sane_lists"], output_format="html")


def handbook_context(project: Project, job: Job) -> dict[str, Any]:
    p = project.program
    return {
        "tiers": [{"name": t.name, "threshold": t.threshold, "discount": t.discount,
                   "multiplier": t.points_multiplier, "color": t.color,
                   "benefits": [p.benefits[b].name for b in t.benefits]} for t in p.tiers],
        "benefits": [{"name": b.name, "description": b.description}
                     for b in p.benefits.values()],
        "basis": p.qualification.basis, "window": p.qualification.window,
        "grace_months": p.grace_months,
        "points": {"per_unit": p.points.per_currency_unit,
                   "expire_months": p.points.expire_after_months},
        "activities": [{"name": a.name, "points": a.points, "daily_limit": a.daily_limit,
                        "monthly_limit": a.monthly_limit} for a in p.activities.values()],
        "birthday": {k: ({"gift": g.gift, "days_before": g.days_before} if g else None)
                     for k, g in (("member", p.birthday_gifts.member),
                                  ("child", p.birthday_gifts.child))},
        "offer": ({"name": p.retention_offer.name,
                   "description": p.retention_offer.description,
                   "days": p.retention_offer.valid_days} if p.retention_offer else None),
        "intro": _markdown(project.root / "content" / "handbook-intro.md"),
    }


def build_notebook(job: Job, project: Project, out: Path, notes: int = 48,
                   style: str = "lined", member_id: str | None = None,
                   booklet_a4: bool = False) -> dict[str, Any]:
    if style not in NOTE_STYLES:
        raise BuildError(f"unknown note style {style!r}; use {', '.join(NOTE_STYLES)}")
    story = _markdown(project.root / "content" / "story.md")
    if story is None:
        raise InputError("content/story.md is missing: the notebook opens with the brand "
                         "story", Where("content/story.md"))
    owner = None
    if member_id:
        m = project.member(member_id)
        owner = {"id": m.id, "name": mask_name(m.name)}
    data, pages = render_pdf(job, "print/notebook.html", "notebook", member=member_id,
                             brand=brand_context(project), story=story,
                             handbook=handbook_context(project, job), notes=notes,
                             style=style, owner=owner, year=job.as_of.year)
    if booklet_a4:
        data = booklet(data)
    write_atomic(out, data)
    return {"path": out, "pages": pages, "bytes": len(data)}


# --- previews for designers ------------------------------------------------------------------


def preview(job: Job, project: Project, kind: str, member_id: str,
            folder: Path | None = None) -> list[Path]:
    """A PDF of one piece for `member_id` and PNGs of its first page(s); returns the paths."""
    if kind not in KINDS:
        raise BuildError(f"unknown kind {kind!r}; use {', '.join(KINDS)}")
    folder = folder or project.root / "output" / "preview"
    pdf = folder / f"{kind}-{member_id}.pdf"
    project.member(member_id)
    if kind == "insert":
        parcel = Parcel(0, "PREVIEW-0001", member_id)
        build_inserts(job, project, [parcel], pdf, workers=1)
        pages = 1
    elif kind == "card":
        build_cards(job, project, pdf, layout="single", member_ids=[member_id])
        pages = 2
    else:
        build_notebook(job, project, pdf, notes=4, member_id=member_id)
        pages = 4
    return [pdf] + rasterise(pdf, folder / f"{kind}-{member_id}", pages)


def rasterise(pdf: Path, prefix: Path, pages: int, dpi: int = 110) -> list[Path]:
    try:
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", str(pages),
                        str(pdf), str(prefix)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise BuildError(f"pdftoppm (poppler-utils) failed: {e}") from None
    return sorted(prefix.parent.glob(prefix.name + "-*.png"))
