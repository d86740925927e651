"""Imposition: pages stepped and repeated on sheets with crop marks, saddle-stitched booklets."""
from __future__ import annotations

import io

from memberportal.errors import BuildError
from memberportal.print.weasy import MM


def _finish(writer) -> bytes:
    writer.compress_identical_objects()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _box(page, name: str):
    """A page's bleed or trim box (pypdf falls back to the crop box, then the media box)."""
    return {"/BleedBox": page.bleedbox, "/TrimBox": page.trimbox}[name]


ORDERS = ("repeat", "stack")


def sheet_of(index: int, pages: int, per: int, order: str = "repeat") -> int:
    """The sheet (0-based) page `index` of `pages` goes on, `per` pages a sheet."""
    return index // per if order == "repeat" else index % -(-pages // per)


def nup(data: bytes, sheet: tuple[float, float], columns: int, rows: int,
        mirror: bool = False, mark_mm: float = 5.0, order: str = "repeat",
        press: bool = False) -> bytes:
    """Step and repeat: pages placed `columns` x `rows` per sheet (sheet size in mm).

    Every page is clipped to its BleedBox and placed so neighbouring bleeds meet (the gutter
    is twice the bleed); crop marks are drawn in the sheet margin at every trim line.
    With `mirror`, each row is filled right to left (backs for long-edge duplex).
    `order` "repeat" fills each sheet in turn (pages 1-4 on the first of 2x2 sheets); "stack"
    is cut and stack: page i goes on sheet i mod S (of S sheets), so that after cutting the
    printed pile, each position's stack is in order and the stacks follow each other.
    `press`: crop marks in registration colour, the sheet's trim and bleed boxes around the
    grid (else the whole sheet is its trim box, as before).
    """
    from pypdf import PageObject, PdfReader, PdfWriter, Transformation
    from pypdf.generic import ContentStream, NameObject, RectangleObject
    reader = PdfReader(io.BytesIO(data))
    pages = list(reader.pages)
    if not pages:
        raise BuildError("nothing to impose")
    first = pages[0]
    bleed, trim = _box(first, "/BleedBox"), _box(first, "/TrimBox")
    cell_w, cell_h = float(bleed.width), float(bleed.height)
    sw, sh = sheet[0] * MM, sheet[1] * MM
    need_w, need_h = columns * cell_w + 2 * mark_mm * MM, rows * cell_h + 2 * mark_mm * MM
    if need_w > sw + 0.01 or need_h > sh + 0.01:
        raise BuildError(f"{columns}×{rows} pages of {cell_w / MM:.0f}×{cell_h / MM:.0f} mm "
                         f"(with bleed) need a sheet of at least {need_w / MM:.0f}×"
                         f"{need_h / MM:.0f} mm; the sheet is {sheet[0]:.0f}×{sheet[1]:.0f} mm")
    x0, y0 = (sw - columns * cell_w) / 2, (sh - rows * cell_h) / 2
    inset_x = float(trim.left) - float(bleed.left)
    inset_y = float(trim.bottom) - float(bleed.bottom)
    trim_w, trim_h = float(trim.width), float(trim.height)
    if order not in ORDERS:
        raise BuildError(f"unknown imposition order {order!r}: use {' or '.join(ORDERS)}")
    writer = PdfWriter()
    per = columns * rows
    sheets: list[list] = [[] for _ in range(-(-len(pages) // per))]
    for i, page in enumerate(pages):
        sheets[sheet_of(i, len(pages), per, order)].append(page)
    for on_sheet in sheets:
        sheet_page = PageObject.create_blank_page(width=sw, height=sh)
        for i, page in enumerate(on_sheet):
            col, row = i % columns, i // columns
            if mirror:
                col = columns - 1 - col
            b = _box(page, "/BleedBox")
            page.mediabox = RectangleObject(b)
            page.cropbox = RectangleObject(b)
            x = x0 + col * cell_w - float(b.left)
            y = y0 + (rows - 1 - row) * cell_h - float(b.bottom)
            sheet_page.merge_transformed_page(page, Transformation().translate(x, y))
        marks = _crop_marks(x0, y0, columns, rows, cell_w, cell_h, inset_x, inset_y,
                            trim_w, trim_h, sw, sh, "1 1 1 1 K" if press else "0 0 0 1 K")
        stream = ContentStream(None, None)
        stream.set_data(marks.encode())
        sheet_page.merge_page(_page_with(stream, sw, sh))
        if press:
            right, top = x0 + columns * cell_w, y0 + rows * cell_h
            sheet_page[NameObject("/BleedBox")] = RectangleObject((x0, y0, right, top))
            sheet_page[NameObject("/TrimBox")] = RectangleObject(
                (x0 + inset_x, y0 + inset_y, right - cell_w + inset_x + trim_w,
                 top - cell_h + inset_y + trim_h))
        else:
            sheet_page[NameObject("/TrimBox")] = RectangleObject((0, 0, sw, sh))
        writer.add_page(sheet_page)
    return _finish(writer)


def _page_with(stream, width: float, height: float):
    from pypdf import PageObject
    from pypdf.generic import NameObject
    page = PageObject.create_blank_page(width=width, height=height)
    page[NameObject("/Contents")] = stream
    return page


def _crop_marks(x0, y0, columns, rows, cell_w, cell_h, inset_x, inset_y, trim_w, trim_h,
                sw, sh, ink: str = "0 0 0 1 K") -> str:
    """Hairline crop marks (`ink`: black, or registration for press), 3 mm off the grid, in
    the margins only."""
    gap, length = 3 * MM, 5 * MM
    ops = [f"q 0.25 w {ink}"]
    top, right = y0 + rows * cell_h, x0 + columns * cell_w
    xs = sorted({x0 + c * cell_w + inset_x + d for c in range(columns) for d in (0, trim_w)})
    ys = sorted({y0 + r * cell_h + inset_y + d for r in range(rows) for d in (0, trim_h)})
    for x in xs:
        ops.append(f"{x:.3f} {max(y0 - gap - length, 0):.3f} m {x:.3f} {y0 - gap:.3f} l S")
        ops.append(f"{x:.3f} {top + gap:.3f} m {x:.3f} {min(top + gap + length, sh):.3f} l S")
    for y in ys:
        ops.append(f"{max(x0 - gap - length, 0):.3f} {y:.3f} m {x0 - gap:.3f} {y:.3f} l S")
        ops.append(f"{right + gap:.3f} {y:.3f} m {min(right + gap + length, sw):.3f} {y:.3f} l S")
    ops.append("Q")
    return "\n".join(ops)


def booklet_order(n: int) -> list[int | None]:
    """Saddle-stitch order for `n` pages padded to a multiple of 4 (None: a blank page).

    Sheet sides read: (last, 1), (2, last-1), (last-2, 3), … (0-based indexes here).
    """
    total = -(-n // 4) * 4
    order: list[int | None] = []
    lo, hi = 0, total - 1
    while lo < hi:
        order += [hi, lo, lo + 1, hi - 1]
        lo, hi = lo + 2, hi - 2
    return [i if i < n else None for i in order]


def booklet(data: bytes) -> bytes:
    """Two pages side by side per landscape sheet, in saddle-stitch order (fold, staple).

    The pages' trim boxes meet at the fold; their bleed stays on the sheet's outer edges
    (the spine side of each page is cut at its trim), so the sheet has the pages' bleed."""
    from pypdf import PageObject, PdfReader, PdfWriter, Transformation
    from pypdf.generic import NameObject, RectangleObject
    reader = PdfReader(io.BytesIO(data))
    pages = list(reader.pages)
    trim, bleed = pages[0].trimbox, pages[0].bleedbox
    w, h = float(trim.width), float(trim.height)
    b = float(trim.left) - float(bleed.left)
    writer = PdfWriter()
    order = booklet_order(len(pages))
    for i in range(0, len(order), 2):
        sheet = PageObject.create_blank_page(width=2 * w + 2 * b, height=h + 2 * b)
        for slot, index in enumerate(order[i:i + 2]):
            if index is None:
                continue
            page = pages[index]
            t = page.trimbox
            left, bottom = float(t.left), float(t.bottom)
            clip = ((left - b, bottom - b, left + w, bottom + h + b) if slot == 0 else
                    (left, bottom - b, left + w + b, bottom + h + b))
            page.mediabox = RectangleObject(clip)
            page.cropbox = RectangleObject(clip)
            sheet.merge_transformed_page(
                page, Transformation().translate(b + slot * w - left, b - bottom))
        sheet[NameObject("/TrimBox")] = RectangleObject((b, b, b + 2 * w, b + h))
        sheet[NameObject("/BleedBox")] = RectangleObject((0, 0, 2 * w + 2 * b, h + 2 * b))
        writer.add_page(sheet)
    return _finish(writer)
