"""WeasyPrint 70's private parts the renderer changes: margin boxes, UA stylesheet, font folder."""
from __future__ import annotations

import inspect
import re
from functools import lru_cache
from pathlib import Path

# Each internal used here is checked by tests/test_weasyprint_contract.py.
MARGIN_BOXES = tuple(f"@{side}-{place}" for side, places in (
    ("top", ("left-corner", "left", "center", "right", "right-corner")),
    ("bottom", ("left-corner", "left", "center", "right", "right-corner")),
    ("left", ("top", "middle", "bottom")), ("right", ("top", "middle", "bottom")))
    for place in places)


def skip_empty_margin_boxes() -> None:
    """Make WeasyPrint skip a page's margin boxes when none of them has content.

    WeasyPrint builds, styles and sizes all 16 margin boxes of every page, then drops the
    ones with no content: about 7% of a parcel insert's time (bench/inserts.py), for nothing.
    When no margin box of the page would be generated (its `content` is normal, none or
    inhibit, as make_margin_boxes itself decides), the result is the same empty list; pages
    with any margin content (the notebook's page numbers) take WeasyPrint's own path. Left
    alone if WeasyPrint's function is not the one this was written against. Applied in the
    processes that render (workers.worker_setup), not in the one that starts them.
    """
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


def html_class(source: str):
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


def font_folder(config) -> Path | None:
    """Where a FontConfiguration writes the @font-face files it loads (None: nowhere yet)."""
    return config._folder


def set_font_folder(config, folder: Path | None) -> None:
    config._folder = folder
