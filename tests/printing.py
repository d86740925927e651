"""Helpers for print tests: read PDFs back (pypdf, poppler) and decode QR codes (zxing-cpp)."""
from __future__ import annotations

import subprocess
from pathlib import Path

MM = 72 / 25.4


def mm(points: float) -> float:
    return round(float(points) / MM, 1)


def box_mm(box) -> tuple[float, float]:
    return mm(box.width), mm(box.height)


def page_texts(pdf: Path) -> list[str]:
    from pypdf import PdfReader
    return [p.extract_text() or "" for p in PdfReader(str(pdf)).pages]


def pdftotext(pdf: Path, page: int | None = None) -> str:
    args = ["pdftotext", "-layout"]
    if page:
        args += ["-f", str(page), "-l", str(page)]
    return subprocess.run(args + [str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def fonts(pdf: Path) -> list[dict[str, str]]:
    """pdffonts rows: name, type, emb (yes/no)."""
    out = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True,
                         text=True).stdout.splitlines()[2:]
    rows = []
    for line in out:
        parts = line.split()
        # name type… encoding emb sub uni id gen: emb is the 5th from the end
        rows.append({"name": parts[0], "emb": parts[-5]})
    return rows


def raster(pdf: Path, page: int, dpi: int = 300):
    import tempfile

    from PIL import Image
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "page"
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page),
                        "-singlefile", str(pdf), str(prefix)], check=True, capture_output=True)
        with Image.open(prefix.with_suffix(".png")) as im:
            return im.convert("L")


def qr_codes(image) -> list:
    import zxingcpp
    return [r for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
            if r.valid]


def quiet_zone_ok(image, result, modules: int, quiet: int = 4) -> bool:
    """Every pixel in the `quiet`-module band around the decoded symbol is white."""
    p = result.position
    xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
    ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    module = (right - left) / modules
    band = quiet * module * 0.95
    L, T = int(left - band), int(top - band)
    R, B = int(right + band), int(bottom + band)
    if L < 0 or T < 0 or R >= image.width or B >= image.height:
        return False
    px = image.load()
    edge = int(module * 0.7)  # the detected corners sit inside the outer module edge
    for y in range(T, B + 1):
        for x in range(L, R + 1):
            inside = left - edge <= x <= right + edge and top - edge <= y <= bottom + edge
            if not inside and px[x, y] < 200:
                return False
    return True
