"""The notebook: cover, brand story, member handbook and note pages, optionally as a booklet."""
from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from memberportal.errors import BuildError, InputError, Where
from memberportal.inputs.project import Project
from memberportal.inputs.safe_yaml import decode
from memberportal.layout import write_atomic
from memberportal.print import press
from memberportal.print.contexts import Job, brand_context, member_url
from memberportal.print.impose import booklet
from memberportal.print.workers import render_pdf
from memberportal.render.templates import print_name, quote_program

NOTE_STYLES = ("lined", "dotted", "grid", "blank")


def _markdown(project: Project, name: str, lang: str) -> str | None:
    """content/`name` as HTML, its quotes of the program filled in as on the portal."""
    import markdown
    path = project.root / "content" / name
    if not path.is_file():
        return None
    text = decode(path.read_bytes(), path.name)
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # MkDocs front matter
    text = quote_program(text, project.program, lang, f"content/{name}")
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
        "symbol": p.currency_symbol,
        "points": {"per_unit": p.points.per_currency_unit,
                   "expire_months": p.points.expire_after_months,
                   "warn_days": p.points.warn_days},
        "activities": [{"name": a.name, "points": a.points, "daily_limit": a.daily_limit,
                        "monthly_limit": a.monthly_limit} for a in p.activities.values()],
        "birthday": {k: ({"gift": g.gift, "days_before": g.days_before} if g else None)
                     for k, g in (("member", p.birthday_gifts.member),
                                  ("child", p.birthday_gifts.child))},
        "offer": ({"name": p.retention_offer.name,
                   "description": p.retention_offer.description,
                   "days": p.retention_offer.valid_days} if p.retention_offer else None),
        "intro": _markdown(project, "handbook-intro.md", job.lang),
    }


MEMO_LINE_MM = 8        # the memo's line pitch, as the lined note pages
MEMO_HEAD_MM = 13       # the memo's space above its first line and its label
MEMO_MIN_LINES = 3      # less room than this at the handbook's end is left as it is
PX_PER_MM = 96 / 25.4   # WeasyPrint lays out in CSS pixels


def refine(doc, notes: int, pages_of: int = 1) -> dict[str, int] | None:
    """What a laid-out notebook needs on its second layout: memo lines filling the
    handbook's last page down to its foot (the page the handbook ends on is never a few
    lines and white), and note pages enough for a page count that is a multiple of
    `pages_of` (a booklet's 4: the back cover stays the last page, no blank pages)."""
    more: dict[str, int] = {}
    for page in doc.pages:
        box = page._page_box
        ends = [c for c in box.descendants() if getattr(c, "element", None) is not None
                and c.element.get("id") == "handbook-end"]
        if ends:
            free = box.content_box_y() + box.height - ends[0].position_y
            lines = int((free / PX_PER_MM - MEMO_HEAD_MM) // MEMO_LINE_MM)
            if lines >= MEMO_MIN_LINES:
                more["memo"] = lines
            break
    short = -len(doc.pages) % pages_of
    if short:
        more["notes"] = notes + short
    return more or None


def build_notebook(job: Job, project: Project, out: Path, notes: int = 48,
                   style: str = "lined", member_id: str | None = None,
                   booklet_a4: bool = False, profile: str = "office") -> dict[str, Any]:
    press.check_profile(profile)
    if style not in NOTE_STYLES:
        raise BuildError(f"unknown note style {style!r}; use {', '.join(NOTE_STYLES)}")
    story = _markdown(project, "story.md", job.lang)
    if story is None:
        raise InputError("content/story.md is missing: the notebook opens with the brand "
                         "story", Where("content/story.md"))
    owner = None
    if member_id:
        m = project.member(member_id)
        owner = {"id": m.id, "name": print_name(m.name, m.title,
                                                project.program.brand.print_names.notebook),
                 "url": member_url(job, m.id)}
    data, pages = render_pdf(job, "print/notebook.html", "notebook", member=member_id,
                             brand=brand_context(project), story=story,
                             handbook=handbook_context(project, job), notes=notes,
                             style=style, owner=owner, portal=job.site_url, memo=0,
                             refine=partial(refine, notes=notes,
                                            pages_of=4 if booklet_a4 else 1),
                             year=job.as_of.year)
    if booklet_a4:
        data = booklet(data)
    data = press.finish(data, profile, press.press_for(job, project, out.stem)
                        if profile == "press" else None)
    write_atomic(out, data)
    return {"path": out, "pages": pages, "bytes": len(data)}
