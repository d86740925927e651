"""QR codes (libqrencode, else zxing-cpp) as compact vector SVG or 1-bit PNG, quiet zone kept."""
from __future__ import annotations

import base64
import ctypes
import os
import re
import struct
import zlib

import zxingcpp

from memberportal.errors import InputError

_DARK_RUNS = re.compile(rb"\x00+")
_AS_BITS = bytes.maketrans(b"\x00\xff", b"01")
_LEVELS = "LMQH"                       # libqrencode's QRecLevel, in order
_QR_MODE_8 = 2                         # QRencodeMode: bytes, with digit and letter runs packed
_DARK_BIT = bytes(0 if b & 1 else 255 for b in range(256))  # libqrencode: bit 0 set is dark


class _Code(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int), ("width", ctypes.c_int),
                ("data", ctypes.POINTER(ctypes.c_ubyte))]


def _libqrencode():
    """libqrencode (Debian libqrencode4, the Makefile installs it), or None where it is not."""
    for name in ("libqrencode.so.4", "libqrencode.4.dylib", "libqrencode.dylib"):
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
        lib.QRcode_encodeString.restype = ctypes.POINTER(_Code)
        lib.QRcode_encodeString.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                            ctypes.c_int, ctypes.c_int]
        lib.QRcode_encodeData.restype = ctypes.POINTER(_Code)
        lib.QRcode_encodeData.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                          ctypes.c_int]
        lib.QRcode_free.argtypes = [ctypes.POINTER(_Code)]
        return lib
    return None


_LIB = _libqrencode()
ENCODER = "libqrencode" if _LIB else "zxing-cpp"


def _modules(data: str, level: str) -> tuple[int, bytes]:
    """The code's side in modules and its modules row by row (0: dark, 255: light).

    Both encoders pick the mask by the standard's penalty rules. libqrencode takes ~0.1 ms a
    page address; zxing-cpp's writer (Zint) ~0.2 ms, as it also reads the symbol back; the
    pure-Python encoders took 1-5 ms. Codes from the two can differ (segments, mask) and
    both decode to the data (tests/test_qr.py checks each).
    """
    if level not in _LEVELS or len(level) != 1:
        raise InputError(f"cannot make a QR code at level {level!r}: use L, M, Q or H")
    if _LIB is None:
        return _zxing_modules(data, level)
    raw = data.encode()
    if not raw:
        raise InputError("cannot make a QR code of '': there is no data")
    if b"\0" in raw:  # a C string ends at NUL: such data goes in as bytes, unsegmented
        code = _LIB.QRcode_encodeData(len(raw), raw, 0, _LEVELS.index(level))
    else:
        code = _LIB.QRcode_encodeString(raw, 0, _LEVELS.index(level), _QR_MODE_8, 1)
    if not code:
        errno = ctypes.get_errno()
        problem = "too much data for a QR code" if errno == 34 else \
            f"libqrencode failed ({os.strerror(errno)})"  # 34: ERANGE
        raise InputError(f"cannot make a QR code of {data[:60]!r}: {problem}")
    try:
        n = code.contents.width
        return n, ctypes.string_at(code.contents.data, n * n).translate(_DARK_BIT)
    finally:
        _LIB.QRcode_free(code)


def _zxing_modules(data: str, level: str) -> tuple[int, bytes]:
    try:
        code = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level=level)
    except ValueError as e:
        raise InputError(f"cannot make a QR code of {data[:60]!r}: {e}") from None
    image = memoryview(code.to_image(scale=1, add_quiet_zones=False))
    return image.shape[0], image.tobytes()


def qr_matrix(data: str, level: str = "M") -> list[list[bool]]:
    """The code's modules (True: dark)."""
    n, pixels = _modules(data, level)
    return [[v == 0 for v in pixels[r * n:(r + 1) * n]] for r in range(n)]


def qr_svg(data: str, size: str = "100%", level: str = "M", border: int = 4,
           color: str = "#000", title: str | None = None) -> str:
    """An inline <svg> of the code; `border` modules of quiet zone are part of the drawing."""
    n, pixels = _modules(data, level)
    runs = []
    for y in range(n):
        row = pixels[y * n:(y + 1) * n]
        for run in _DARK_RUNS.finditer(row):
            start, width = run.start(), run.end() - run.start()
            runs.append(f"M{start + border} {y + border}h{width}v1h-{width}z")
    side = n + 2 * border
    label = f"<title>{_escape(title)}</title>" if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
            f'width="{size}" height="{size}" shape-rendering="crispEdges" role="img">{label}'
            f'<rect width="{side}" height="{side}" fill="#fff"/>'
            f'<path fill="{color}" d="{"".join(runs)}"/></svg>')


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def qr_bitmap(data: str, level: str = "M", border: int = 4, png_filter: bool = False,
              ) -> tuple[int, bytes]:
    """The code's side in pixels (one per module, quiet zone included) and its rows as 1-bit
    pixels, 1 = white, each padded to whole bytes and, with `png_filter`, led by PNG's filter
    byte (0: none)."""
    n, pixels = _modules(data, level)
    side = n + 2 * border
    pad = (-side) % 8
    lead = b"00000000" if png_filter else b""
    # One string of bits for the whole image, packed by one int()
    bits = pixels.translate(_AS_BITS)
    edge, tail = b"1" * border, b"1" * (border + pad)
    blank = [lead + b"1" * (side + pad)] * border
    rows = b"".join(blank + [lead + edge + bits[r * n:(r + 1) * n] + tail
                             for r in range(n)] + blank)
    return side, int(rows, 2).to_bytes(len(rows) // 8, "big")


def qr_png(data: str, level: str = "M", border: int = 4) -> bytes:
    """The code as a 1-bit greyscale PNG, one pixel per module, quiet zone included.

    For print: drawn without interpolation (CSS image-rendering: pixelated) it is exactly as
    sharp as a vector, and WeasyPrint places an image ~15× faster than it parses an SVG path.
    """
    side, raw = qr_bitmap(data, level, border, png_filter=True)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def qr_data_uri(data: str, level: str = "M") -> str:
    """The PNG as a data: URI, for an <img> (pages) or WeasyPrint (print)."""
    return "data:image/png;base64," + base64.b64encode(qr_png(data, level)).decode()


def qr_img(data: str, title: str, level: str = "M") -> str:
    """An <img> of the code, one pixel per module, to be scaled without smoothing (CSS
    image-rendering: pixelated). A third of an inline SVG's cost and ~300 bytes instead of ~4 kB:
    what every personal page carries."""
    return (f'<img class="qr" src="{qr_data_uri(data, level)}" alt="{_escape(title)}" '
            f'title="{_escape(title)}">')
