"""Previews for designers: one piece for one member as a PDF and PNGs of its first pages."""
from __future__ import annotations

import subprocess
from pathlib import Path

from memberportal.errors import BuildError
from memberportal.inputs.project import Project
from memberportal.print.cards import build_cards
from memberportal.print.contexts import Job, Parcel
from memberportal.print.inserts import build_inserts
from memberportal.print.notebook import build_notebook

KINDS = ("insert", "card", "notebook")


def preview(job: Job, project: Project, kind: str, member_id: str,
            folder: Path | None = None, profile: str = "office") -> list[Path]:
    """A PDF of one piece for `member_id` and PNGs of its first page(s), in the print
    `profile` (office or press); returns the paths."""
    if kind not in KINDS:
        raise BuildError(f"unknown kind {kind!r}; use {', '.join(KINDS)}")
    folder = folder or project.root / "output" / "preview"
    pdf = folder / f"{kind}-{member_id}.pdf"
    project.member(member_id)
    if kind == "insert":
        parcel = Parcel(0, "PREVIEW-0001", member_id)
        build_inserts(job, project, [parcel], pdf, workers=1, profile=profile)
        pages = 1
    elif kind == "card":
        build_cards(job, project, pdf, layout="single", member_ids=[member_id],
                    profile=profile)
        pages = 2
    else:
        build_notebook(job, project, pdf, notes=4, member_id=member_id, profile=profile)
        pages = 4
    return [pdf] + rasterise(pdf, folder / f"{kind}-{member_id}", pages)


def rasterise(pdf: Path, prefix: Path, pages: int, dpi: int = 110) -> list[Path]:
    try:
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", str(pages),
                        str(pdf), str(prefix)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise BuildError(f"pdftoppm (poppler-utils) failed: {e}") from None
    return sorted(prefix.parent.glob(prefix.name + "-*.png"))
