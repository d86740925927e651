"""Retention cards: fronts and backs, 10-up A4 sheets for duplex or one card per page."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable

from memberportal.core.codes import member_refs
from memberportal.core.rules import Status
from memberportal.errors import BuildError, MemberPortalError, ValidationFailed, worded
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
from memberportal.print.inserts import write_manifest
from memberportal.print.workers import (
    ChunkResult,
    InOrder,
    guarded,
    render_pdf_task,
    tools,
    unprintable,
)
from memberportal.runtime.progress import paused_gc

CARD_SIZE = (90, 54)
CARD_CHUNK = 100       # cards per document: ten 10-up sheets
CARD_GRID = (2, 5)     # columns × rows on A4


MIN_DAYS = 3           # an offer with fewer days left is not worth a card in a parcel


def card_contexts(job: Job, project: Project, member_ids: list[str] | None = None,
                  min_days: int = MIN_DAYS) -> list[dict]:
    """One card per member with an active retention offer (or the members asked for) that
    has at least `min_days` days left."""
    refs_ok = member_refs(job.secret, [m.id for m in project.members])  # collision check
    del refs_ok
    out = []
    with paused_gc():  # as in Project.statuses: every member's status is made
        for m in project.members:
            if member_ids is not None and m.id not in member_ids:
                continue
            ctx = member_context(job, project, m.id, project.status(m, job.as_of), piece="card")
            if not _worth_a_card(job, ctx, min_days):
                if member_ids is not None:
                    raise BuildError(**worded("cards.no_offer_left", n=min_days,
                                              date=job.as_of.isoformat()), member=m.id,
                                     kind="card")
                continue
            out.append(ctx)
    for n, ctx in enumerate(out, 1):
        ctx.update(seq=n, of=len(out), order=None)
    return out


def parcel_card_contexts(job: Job, project: Project, parcels: list[Parcel],
                         min_days: int = MIN_DAYS) -> list[dict]:
    """A card in the first parcel of each member who has a retention offer with `min_days`
    days left, in pick-list order; it carries the parcel's order and its sequence in the
    pick list (one card a member: her other parcels get none)."""
    if any(p.seq == 0 for p in parcels):
        parcels = number_parcels(project, parcels, job.as_of)
    statuses: dict[str, Status] = {}
    out = []
    with paused_gc():
        for p in parcels:
            if p.member_id in statuses:
                continue
            statuses[p.member_id] = project.status(project.member(p.member_id), job.as_of)
            ctx = member_context(job, project, p.member_id, statuses[p.member_id], p.place,
                                 piece="card")
            if _worth_a_card(job, ctx, min_days):
                out.append({**ctx, "seq": p.seq, "of": p.of, "order": p.order_id})
    return out


def _worth_a_card(job: Job, ctx: dict, min_days: int) -> bool:
    offer = ctx["offer"]
    return offer is not None and (offer["until"] - job.as_of).days >= min_days


def build_cards(job: Job, project: Project, out: Path, layout: str = "sheet",
                member_ids: list[str] | None = None, workers: int | None = None,
                min_days: int = MIN_DAYS, profile: str = "office") -> dict[str, Any]:
    """Fronts and backs: 10-up A4 sheets (backs mirrored for duplex) or one card per page."""
    return render_cards(job, project, card_contexts(job, project, member_ids, min_days), out,
                        layout, workers, profile=profile)


def render_cards(job: Job, project: Project, cards: list[dict], out: Path,
                 layout: str = "sheet", workers: int | None = None,
                 progress: Callable[[int], None] | None = None,
                 profile: str = "office") -> dict[str, Any]:
    """The cards of card_contexts() in one PDF, written atomically (or nothing), in the print
    `profile` (press.py: office, or press).

    Rendered CARD_CHUNK cards a document on forked workers and joined in order: one document
    for every card held ~0.7 MB a card (1,782 cards: 1.2 GB, one core, 71 s). `progress(n)`
    is called as each chunk of `n` cards is rendered."""
    if not cards:
        raise BuildError(**worded("cards.no_offer", date=job.as_of.isoformat()), kind="card")
    press.check_profile(profile)
    brand = brand_context(project)
    cards, failed = printable(job, layout, brand, cards)
    if not cards:
        raise ValidationFailed(failed)
    # press: the press stage draws a single card's crop marks, outside the bleed
    chunks = [(i, (layout, profile == "press"), brand, cards[s:s + CARD_CHUNK])
              for i, s in enumerate(range(0, len(cards), CARD_CHUNK))]
    collect = InOrder([len(c[3]) for c in chunks], progress)
    collect.run_forked(job, partial(_card_chunk, job), chunks,
                       [f"retention cards for {c[3][0]['id']}–{c[3][-1]['id']}"
                        for c in chunks], workers)
    data = collect.finish()
    if profile == "press":
        data = press.finish(data, profile, press.press_for(
            job, project, out.stem, sheet=_sheet_boxes() if layout == "sheet" else None))
    manifest = None
    if cards[0].get("order"):  # cards for parcels: which page each parcel's card is on
        per = CARD_GRID[0] * CARD_GRID[1] if layout == "sheet" else 1
        manifest = write_manifest(out, [(c["seq"], c["order"], c["id"], 2 * (i // per) + 1)
                                        for i, c in enumerate(cards)])
    write_atomic(out, data)
    return {"path": out, "cards": len(cards), "bytes": len(data), "manifest": manifest,
            "failed": failed}


def _sheet_boxes() -> tuple:
    """The 10-up sheet as card.html lays it out: A4, the grid centred, 3 mm bleed (mm)."""
    (cols, rows), (w, h), (sw, sh) = CARD_GRID, CARD_SIZE, (210, 297)
    x0, y0 = (sw - cols * w) / 2, (sh - rows * h) / 2
    trim = (x0, y0, x0 + cols * w, y0 + rows * h)
    return (sw, sh), trim, (trim[0] - 3, trim[1] - 3, trim[2] + 3, trim[3] + 3)


def _card_context(layout: str, brand: dict, cards: list[dict], for_press: bool = False) -> dict:
    """What print/card.html gets for some cards, on whole sheets."""
    cols, rows = CARD_GRID
    per = cols * rows
    sheets = []
    for s in range(0, len(cards), per):
        batch = cards[s:s + per]
        slots = [batch[i] if i < len(batch) else None for i in range(per)]
        backs = [slots[r * cols + (cols - 1 - c)] for r in range(rows) for c in range(cols)]
        sheets.append({"fronts": slots, "backs": backs})
    return {"layout": layout, "brand": brand, "press": for_press, "cards": cards,
            "sheets": sheets,
            "grid": {"columns": cols, "rows": rows, "width": CARD_SIZE[0],
                     "height": CARD_SIZE[1]}}


def printable(job: Job, layout: str, brand: dict, cards: list[dict]
              ) -> tuple[list[dict], list[MemberPortalError]]:
    """The cards every character of which a bundled font has, and an error for each other
    card (member, character, code point): those fail alone, the rest print."""
    _, env, fonts = tools(job)
    failed: list[tuple[int, BuildError]] = []
    for s in range(0, len(cards), CARD_CHUNK):
        batch = cards[s:s + CARD_CHUNK]
        failed += unprintable(fonts, env, "print/card.html", _card_context(layout, brand, batch),
                              [(s + i, c["id"], "retention card",
                                _card_context(layout, brand, [c]))
                               for i, c in enumerate(batch)])
    bad = {i for i, _ in failed}
    return [c for i, c in enumerate(cards) if i not in bad], [e for _, e in failed]


def _card_chunk(job: Job, args) -> ChunkResult:
    """Some cards' fronts and backs, on whole sheets (CARD_CHUNK is a multiple of 10)."""
    index, (layout, for_press), brand, cards = args
    ctx = _card_context(layout, brand, cards, for_press)
    each = [(c["id"], _card_context(layout, brand, [c], for_press)) for c in cards]
    return guarded(index, lambda: render_pdf_task(
        (job, "print/card.html", "retention cards", None, each, ctx))[0])
