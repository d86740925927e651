"""QR codes as compact vector SVG (one path per code), with the quiet zone kept."""
from __future__ import annotations

import qrcode
import qrcode.constants

_LEVELS = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
           "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}


def qr_matrix(data: str, level: str = "M") -> list[list[bool]]:
    """The code's modules (True: dark), with the mask the QR standard's penalty rules choose.

    qrcode picks that mask by drawing the code 8 times and scoring each in pure Python (~4 ms,
    most of a personal page's time). Here the code is drawn once (mask 0) and the other seven
    are derived by XOR with precomputed differences, then scored on whole-matrix bit sets:
    the same mask and the same modules as qrcode's own choice, about four times faster.
    """
    code = qrcode.QRCode(error_correction=_LEVELS[level], border=0, box_size=1,
                         mask_pattern=0)
    code.add_data(data)
    code.make(fit=True)
    masks = _masks(code.version, code.error_correction)
    n = masks.n
    rows, cols = _pack(code.modules, n)
    rows ^= masks.format_rows[0]          # as scored: format and version bits left light
    cols ^= masks.format_cols[0]
    best, best_score = 0, -1
    for k in range(8):
        score = masks.score(rows ^ masks.data_rows[k], cols ^ masks.data_cols[k])
        if best_score < 0 or score < best_score:
            best, best_score = k, score
    final = rows ^ masks.data_rows[best] ^ masks.format_rows[best]
    stride = n + _PAD
    bits = bin(final | (1 << (stride * n)))[:2:-1]  # bit i of the int at index i
    return [[c == "1" for c in bits[r * stride:r * stride + n]] for r in range(n)]


_PAD = 11   # zero columns after each packed row: no 11-module window spans two rows


def _pack(modules, n: int) -> tuple[int, int]:
    """The matrix as two ints, row-major and column-major; bit r*(n+PAD)+c is module (r, c)."""
    pad = "0" * _PAD
    by_rows = pad.join("".join("1" if v else "0" for v in row) for row in modules)
    by_cols = pad.join("".join("1" if modules[r][c] else "0" for r in range(n))
                       for c in range(n))
    return int(by_rows[::-1], 2), int(by_cols[::-1], 2)


class _Masks:
    """For one version and error level: how each mask differs from mask 0, and the scoring."""

    def __init__(self, version: int, level: int):
        n = self.n = version * 4 + 17
        s = n + _PAD
        self.full = (1 << (s * n)) - 1
        self.data_rows, self.data_cols, self.format_rows, self.format_cols = [], [], [], []
        code = qrcode.QRCode(version=version, error_correction=level, border=0)
        code.add_data("0")
        tested = []
        for k in range(8):
            code.makeImpl(True, k)             # as qrcode scores it: no format bits
            test = _pack(code.modules, n)
            code.makeImpl(False, k)
            final = _pack(code.modules, n)
            tested.append(test)
            self.format_rows.append(test[0] ^ final[0])
            self.format_cols.append(test[1] ^ final[1])
        for k in range(8):
            self.data_rows.append(tested[k][0] ^ tested[0][0])
            self.data_cols.append(tested[k][1] ^ tested[0][1])

        def starts(width: int, rows: int = n) -> int:  # windows that fit inside the matrix
            row = (1 << (n - width + 1)) - 1
            return sum(row << (r * s) for r in range(rows))

        self.v5, self.v11 = starts(5), starts(11)
        self.v2 = starts(2, n - 1)
        self.s = s

    def score(self, rows: int, cols: int) -> int:
        """qrcode's lost_point (ISO 18004 rules N1–N4) on the packed matrix."""
        full, s = self.full, self.s
        total = 0
        for x in (rows, cols):
            for y in (x, x ^ full):                 # runs of 5+ dark, then light: len - 2
                w = y & y >> 1 & y >> 2 & y >> 3 & y >> 4 & self.v5
                total += w.bit_count() + 2 * (w & ~(w << 1)).bit_count()
            z = x ^ full                            # 1011101 with four light on one side
            core = z >> 1 & x >> 4 & z >> 5 & x >> 6 & z >> 9
            p1 = core & x & x >> 2 & x >> 3 & z >> 7 & z >> 8 & z >> 10
            p2 = core & z & z >> 2 & z >> 3 & x >> 7 & x >> 8 & x >> 10
            total += 40 * ((p1 & self.v11).bit_count() + (p2 & self.v11).bit_count())
        same_down = ~(rows ^ rows >> s)             # 2x2 blocks of one colour: 3 each
        block = same_down & same_down >> 1 & ~(rows ^ rows >> 1) & self.v2
        total += 3 * block.bit_count()
        percent = float(rows.bit_count()) / (self.n ** 2)
        return total + int(abs(percent * 100 - 50) / 5) * 10


_MASKS: dict[tuple[int, int], _Masks] = {}


def _masks(version: int, level: int) -> _Masks:
    key = (version, level)
    if key not in _MASKS:
        _MASKS[key] = _Masks(version, level)
    return _MASKS[key]


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


def qr_png(data: str, level: str = "M", border: int = 4) -> bytes:
    """The code as a 1-bit greyscale PNG, one pixel per module, quiet zone included.

    For print: drawn without interpolation (CSS image-rendering: pixelated) it is exactly as
    sharp as a vector, and WeasyPrint places an image ~15× faster than it parses an SVG path.
    """
    import struct
    import zlib
    matrix = qr_matrix(data, level)
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
