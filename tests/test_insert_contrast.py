"""The insert's tier panel: its text reads at 4.5:1 or better on every tier colour."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import PRINT_AS_OF, PRINT_SECRET, REPO

from memberportal.inputs.project import load
from memberportal.print import contexts, preview
from memberportal.render.colors import contrast, text_on

DPI = 300


def rgb_page(pdf: Path, tmp: Path):
    from PIL import Image
    prefix = tmp / "insert"
    subprocess.run(["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(prefix)], check=True, capture_output=True)
    with Image.open(prefix.with_suffix(".png")) as im:
        return im.convert("RGB")


def hex_of(pixel) -> str:
    return "#" + "".join(f"{v:02x}" for v in pixel)


def panel_rows(image, color: str) -> list[float]:
    """The panel is the largest box of exactly the tier colour; for each band of rows with
    text in it, the best contrast any pixel there reaches against the panel (a glyph's core
    is its full ink, its edges are blends)."""
    target = tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    w, h = image.size
    px = image.load()
    hits = [(x, y) for y in range(0, h, 4) for x in range(0, w, 4)
            if all(abs(a - b) <= 2 for a, b in zip(px[x, y], target))]
    assert hits, f"no tier panel in {color}"
    x0, x1 = min(x for x, _ in hits), max(x for x, _ in hits)
    y0, y1 = min(y for _, y in hits), max(y for _, y in hits)
    bands, current = [], None
    inset = round(1.2 / 25.4 * DPI)   # inside the 2.6 mm padding, clear of rounded corners
    for y in range(y0 + inset, y1 - inset):
        row = [px[x, y] for x in range(x0 + inset, x1 - inset)]
        inked = [p for p in row if max(abs(a - b) for a, b in zip(p, target)) > 40]
        if inked:
            best = max(contrast(hex_of(p), color) for p in inked)
            current = max(current or 0, best)
        elif current is not None:
            bands.append(current)
            current = None
    return bands


@pytest.fixture(scope="module")
def example():
    project = load(REPO)
    return project, contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)


def test_tier_panel_text_reaches_4_5_to_1_on_every_tier(example, tmp_path):
    project, job = example
    first = {}
    for m in project.members:
        first.setdefault(project.status(m, PRINT_AS_OF).tier.tier.id, m.id)
    assert set(first) == {t.id for t in project.program.tiers}
    for tier in project.program.tiers:
        pdf = preview.preview(job, project, "insert", first[tier.id], tmp_path / tier.id)[0]
        bands = panel_rows(rgb_page(pdf, tmp_path), tier.color)
        assert len(bands) >= 3, (tier.id, bands)   # the kicker, the tier's name, the next step
        assert min(bands) >= 4.5, (tier.id, tier.color, text_on(tier.color), bands)
