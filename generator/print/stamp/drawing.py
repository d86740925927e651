"""A parcel's fields drawn as WeasyPrint draws them: text, QR codes and bars as PDF operators."""
from __future__ import annotations

from functools import lru_cache

from memberportal.print.joiner import pdf_number as _num
from memberportal.print.stamp.slots import Laid, QrSlot, TextSlot, WidthSlot


@lru_cache(maxsize=256)
def _paint(colour: tuple[float, float, float, float]) -> str:
    r, g, b, a = colour
    ops = f"{_num(r)} {_num(g)} {_num(b)} rg"
    return ops if a == 1 else f"/a{_num(a)} gs " + ops


def _colour_ops(colour, alphas: set) -> str:
    if colour[3] != 1:
        alphas.add(colour[3])
    return _paint(colour)


def text_ops(slot: TextSlot, laid: list[Laid], alphas: set,
             used: dict[str, dict[int, str]]) -> str | None:
    if not slot.visible or not laid:
        return ""
    out = [_colour_ops(slot.colour, alphas), "BT"]
    for i, (line, rep) in enumerate(zip(laid, slot.lines)):
        if line.ops is None:
            return None
        for name, gids in line.used.items():
            used.setdefault(name, {}).update(gids)
        x = slot.x(line.width, i == len(laid) - 1)
        out.append(f"1 0 0 -1 {_num(x)} {_num(rep.top + line.baseline)} Tm {line.ops}")
    out.append("ET")
    return " ".join(out)


def qr_ops(slot: QrSlot, data: str) -> str:
    """The code as an inline 1-bit image (qr_png's pixels), placed as WeasyPrint places it."""
    from memberportal.render.qr import qr_bitmap
    if not slot.visible or not slot.w or not slot.h:
        return ""
    side, raw = qr_bitmap(data, "M")
    return (f"q {_num(slot.w)} 0 0 {_num(-slot.h)} {_num(slot.x)} {_num(slot.y + slot.h)} cm "
            f"BI /W {side} /H {side} /BPC 1 /CS /G /I {'true' if slot.interpolate else 'false'}"
            f" /F /AHx ID {raw.hex()}> EI Q")


def width_ops(slot: WidthSlot, width: float) -> str:
    """The bar at `width`: WeasyPrint's background, clipped to its rounded box (the caller
    names the colour's alpha, if any, among the page's states)."""
    if not slot.visible or not slot.colour[3]:       # (a zero width is drawn, as WeasyPrint
        return ""                                    # does: a viewer may show a hairline)
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = slot.radii
    ratio = min([1] + [extent / total for extent, total in (
        (width, tlx + trx), (width, blx + brx), (slot.h, tly + bly), (slot.h, try_ + bry))
        if total > 0])
    x, y, w, h = slot.x, slot.y, width, slot.h
    tl, tr, br, bl = ((tlx * ratio, tly * ratio), (trx * ratio, try_ * ratio),
                      (brx * ratio, bry * ratio), (blx * ratio, bly * ratio))
    n = _num
    if all(0 in corner for corner in (tl, tr, br, bl)):
        path = f"{n(x)} {n(y)} {n(w)} {n(h)} re"
    else:
        r = 0.45
        path = " ".join((
            f"{n(x + tl[0])} {n(y)} m {n(x + w - tr[0])} {n(y)} l",
            f"{n(x + w - tr[0] * r)} {n(y)} {n(x + w)} {n(y + tr[1] * r)} {n(x + w)} "
            f"{n(y + tr[1])} c {n(x + w)} {n(y + h - br[1])} l",
            f"{n(x + w)} {n(y + h - br[1] * r)} {n(x + w - br[0] * r)} {n(y + h)} "
            f"{n(x + w - br[0])} {n(y + h)} c {n(x + bl[0])} {n(y + h)} l",
            f"{n(x + bl[0] * r)} {n(y + h)} {n(x)} {n(y + h - bl[1] * r)} {n(x)} "
            f"{n(y + h - bl[1])} c {n(x)} {n(y + tl[1])} l",
            f"{n(x)} {n(y + tl[1] * r)} {n(x + tl[0] * r)} {n(y)} {n(x + tl[0])} {n(y)} c"))
    return f"q {path} W n {_paint(slot.colour)} {n(x)} {n(y)} {n(w)} {n(h)} re f Q"
