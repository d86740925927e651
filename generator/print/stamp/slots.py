"""Where a stamped field goes and how it looks (slots read off a layout), and its laid-out lines."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from memberportal.print.stamp import fields as F


@dataclass
class Line:
    text: str
    top: float           # the text box's top, as WeasyPrint placed it (CSS px)
    height: float
    baseline: float
    width: float
    x: float


@dataclass
class TextSlot:
    style: Any                  # the field's computed style (WeasyPrint)
    left: float                 # the block container's content box: x and width
    avail: float
    wrap: bool
    lines: list[Line]           # the representative's lines
    aligns: tuple[str, str]     # alignment of lines but the last, of the last line
    visible: bool
    colour: tuple[float, float, float, float]

    def x(self, width: float, last: bool) -> float:
        align = self.aligns[1 if last else 0]
        if width >= self.avail or align == "start":
            return self.left
        return self.left + ((self.avail - width) / 2 if align == "center" else
                            self.avail - width)


@dataclass
class QrSlot:
    x: float
    y: float
    w: float
    h: float
    interpolate: bool
    visible: bool


@dataclass
class WidthSlot:
    x: float
    y: float
    h: float
    base: float                 # what a percentage is of: the containing block's width
    radii: tuple                # (tl, tr, br, bl), each (rx, ry) in px, before clamping
    colour: tuple[float, float, float, float]
    visible: bool


@dataclass
class Laid:
    """One line of a field's value as WeasyPrint lays it out in a slot, and its glyphs."""

    text: str
    width: float
    height: float
    baseline: float       # from the top of the text box's margin box (half-leading included)
    ops: str | None       # its TJ operators (None: glyphs WeasyPrint draws otherwise)
    used: dict            # font name: {glyph: its text}


_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*\Z")
UNITS = {"px": 1.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0, "pt": 96 / 72,
          "pc": 16.0, "q": 96 / 101.6}


def width_px(slot: WidthSlot, fld: F.Field) -> float | None:
    """A width field's value (the number before '%' or 'mm' in the template) in CSS px."""
    m = _NUMBER.match(fld.value)
    if m is None:
        return None
    unit = fld.unit.lower()
    if unit == "%":
        return slot.base * float(m[1]) / 100
    return float(m[1]) * UNITS[unit] if unit in UNITS else None
