"""The staff pages (the report, the designers' print preview list) in headless Chromium at a
phone's and a desktop's width: the page never scrolls sideways; a wide table scrolls inside
its own container."""
from __future__ import annotations

from datetime import date

import pytest
from helpers import chromium, open_page, serve
from make_brand import make

from memberportal.inputs.project import load
from memberportal.inputs.snapshot import load_snapshot
from memberportal.serve import PREVIEW, preview_response
from memberportal.staff.report import write_report

AS_OF = date(2026, 11, 24)
WIDTHS = (390, 1280)

# The page's own overflow, and every table wider than the window with the scroll container
# that holds it (null when none does: then it would push the page sideways).
MEASURE = """() => {
  const doc = document.scrollingElement;
  const wide = [...document.querySelectorAll('table')]
    .filter((t) => t.getBoundingClientRect().width > innerWidth)
    .map((t) => {
      let box = t.parentElement;
      while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) {
        box = box.parentElement;
      }
      return box && box !== document.body && box !== document.documentElement
        ? box.getBoundingClientRect().width : null;
    });
  return {scroll: doc.scrollWidth, width: innerWidth, wide,
          tables: document.querySelectorAll('table').length};
}"""


@pytest.fixture(scope="module")
def staff(tmp_path_factory):
    root = tmp_path_factory.mktemp("staff") / "brand"
    make(600, root, seed=5)             # long lists, long names, every section filled
    project = load(root)
    write_report(project, AS_OF, "zh", load_snapshot(root), formats=("html",))
    folder = root / "output" / "staff"
    status, _, body = preview_response(root, AS_OF, "zh", PREVIEW)
    assert status == 200
    (folder / "preview.html").write_bytes(body)
    return folder


@pytest.mark.parametrize("page", ["report.html", "preview.html"])
def test_staff_pages_fit_the_screen_and_wide_tables_scroll_in_their_own_box(staff, page):
    with serve(staff) as base, chromium() as browser:
        for width in WIDTHS:
            shot = f"staff-{page.removesuffix('.html')}-{width}.png"
            r = open_page(browser, f"{base}/{page}", width=width, height=800,
                          evaluate=MEASURE, screenshot=shot)
            m = r.measured
            assert r.status == 200 and not r.console_errors, (page, width, r.console_errors)
            assert m["tables"], (page, m)
            assert m["scroll"] <= m["width"], (page, width, m)
            assert all(box is not None and box <= width for box in m["wide"]), (page, width, m)
