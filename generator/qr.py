"""QR codes as compact vector SVG (one path per code), with the quiet zone kept."""
from __future__ import annotations

import qrcode
import qrcode.constants

# Printed codes use one fixed mask pattern: a batch of 10,000 inserts saves ~1 minute of
# mask scoring, and every printed code is decoded at 300 dpi in tests/test_print.py.
PRINT_MASK = 2
_LEVELS = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
           "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}


def qr_matrix(data: str, level: str = "M", mask: int | None = None) -> list[list[bool]]:
    """The modules of the code, quiet zone excluded.

    `mask` None lets qrcode score all eight mask patterns (~5 ms in pure Python, most of the
    cost); a fixed pattern (0-7) is equally valid for every decoder, only not penalty-optimal.
    """
    code = qrcode.QRCode(error_correction=_LEVELS[level], border=0, box_size=1,
                         mask_pattern=mask)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


def qr_svg(data: str, size: str = "100%", level: str = "M", border: int = 4,
           color: str = "#000", title: str | None = None) -> str:
    """An inline <svg> of the code; `border` modules of quiet zone are part of the drawing."""
    matrix = qr_matrix(data, level)
    n = len(matrix) + 2 * border
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append(f"M{start + border} {y + border}h{x - start}v1h{start - x}z")
            else:
                x += 1
    label = f"<title>{_escape(title)}</title>" if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" width="{size}" '
            f'height="{size}" shape-rendering="crispEdges" role="img">{label}'
            f'<rect width="{n}" height="{n}" fill="#fff"/>'
            f'<path fill="{color}" d="{"".join(runs)}"/></svg>')


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def qr_png(data: str, level: str = "M", border: int = 4, mask: int | None = PRINT_MASK,
           ) -> bytes:
    """The code as a 1-bit greyscale PNG, one pixel per module, quiet zone included.

    For print: drawn without interpolation (CSS image-rendering: pixelated) it is exactly as
    sharp as a vector, and WeasyPrint places an image ~15× faster than it parses an SVG path.
    """
    import struct
    import zlib
    matrix = qr_matrix(data, level, mask)
    n = len(matrix) + 2 * border
    blank = [False] * border
    rows = [[False] * n] * border + [blank + list(r) + blank for r in matrix] + \
        [[False] * n] * border
    raw = bytearray()
    for row in rows:
        raw.append(0)  # PNG filter: none
        bits = 0
        for i, dark in enumerate(row):
            bits = bits << 1 | (not dark)  # 1 = white in a greyscale image
            if i % 8 == 7:
                raw.append(bits)
                bits = 0
        if n % 8:
            raw.append((bits << (8 - n % 8)) | ((1 << (8 - n % 8)) - 1))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body)))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", n, n, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))
