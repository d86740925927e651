"""Colour contrast (WCAG 2): the text colour for a background; can a colour carry text."""
from __future__ import annotations

MIN_CONTRAST = 4.5          # WCAG AA for body text
WHITE = "#ffffff"
INK = "#10100e"             # dark text on a coloured surface (the page's own ink is lighter)


def _channel(c: float) -> float:
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """Relative luminance of '#rrggbb'."""
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(background: str) -> str:
    """White or the dark ink, whichever reads better on `background`."""
    return WHITE if contrast(WHITE, background) >= contrast(INK, background) else INK


def mix(color: str, other: str, share: float) -> str:
    """`share` of `color` and the rest `other`, in sRGB (as CSS color-mix(in srgb) does)."""
    a = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x * share + y * (1 - share)):02x}" for x, y in zip(a, b))


def readable_on_white(color: str) -> str:
    """`color`, darkened just enough to be read as text on white."""
    share = 1.0
    shade = color
    while contrast(shade, WHITE) < MIN_CONTRAST and share > 0:
        share = round(share - 0.05, 2)
        shade = mix(color, "#000000", share)
    return shade


def tier_palette(color: str) -> dict[str, str]:
    """What the member card draws on a tier colour: its text, the direction its gradient and
    highlights may move (away from the text, so contrast only grows) and the badge's text."""
    ink = text_on(color)
    return {"ink": ink, "shade": "#000000" if ink == WHITE else WHITE,
            "deep": readable_on_white(color), "contrast": f"{contrast(ink, color):.2f}"}


def unreadable(color: str) -> float | None:
    """The best contrast text can reach on `color`, when it is below MIN_CONTRAST."""
    best = contrast(text_on(color), color)
    return best if best < MIN_CONTRAST else None
