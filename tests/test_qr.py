"""QR codes: what is drawn decodes to what was encoded, with the quiet zone, at every level."""
from __future__ import annotations

import io
import random
import re

import pytest
import zxingcpp
from PIL import Image

from memberportal.errors import InputError
from memberportal.render import qr
from memberportal.render.qr import qr_matrix, qr_png, qr_svg


@pytest.fixture(autouse=True, params=["libqrencode", "zxing-cpp"])
def encoder(request, monkeypatch):
    """Every test runs with both encoders: libqrencode where installed, zxing-cpp elsewhere."""
    if request.param == "zxing-cpp":
        monkeypatch.setattr(qr, "_LIB", None)
    return request.param


def test_the_set_up_installs_libqrencode(encoder):
    # `make` installs Debian's libqrencode4; without it every code costs twice the time
    assert qr.ENCODER == "libqrencode"


def _decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def _samples():
    rng = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567/-"
    for _ in range(40):
        yield ("https://member.example/m/" + "".join(
            rng.choice(alphabet) for _ in range(rng.choice([1, 26, 26, 70, 180]))),
            rng.choice("LMQH"))
    yield "会员中心 https://member.example/m/x/", "M"


def test_png_decodes_to_its_data_with_a_four_module_quiet_zone():
    for data, level in _samples():
        image = Image.open(io.BytesIO(qr_png(data, level)))
        n = len(qr_matrix(data, level))
        assert image.size == (n + 8, n + 8) and image.mode == "1"
        px = image.load()
        edge = [px[x, y] for x in range(n + 8) for y in range(n + 8)
                if min(x, y) < 4 or max(x, y) >= n + 4]
        assert all(edge)                                      # quiet zone: all light
        assert _decode(image.resize(((n + 8) * 6,) * 2, Image.NEAREST)) == [data], (data, level)


def test_svg_draws_exactly_the_matrix():
    for data, level in list(_samples())[:10]:
        matrix = qr_matrix(data, level)
        n = len(matrix)
        svg = qr_svg(data, level=level, border=4)
        assert f'viewBox="0 0 {n + 8} {n + 8}"' in svg
        drawn = [[False] * n for _ in range(n)]
        for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg):
            for i in range(int(w)):
                drawn[int(y) - 4][int(x) - 4 + i] = True
        assert drawn == matrix


def test_levels_are_kept_and_too_much_data_is_an_input_error():
    assert len(qr_matrix("x" * 100, "H")) > len(qr_matrix("x" * 100, "L"))
    with pytest.raises(InputError, match="cannot make a QR code"):
        qr_matrix("x" * 5000, "M")
    with pytest.raises(InputError, match="cannot make a QR code"):
        qr_matrix("", "M")
    with pytest.raises(InputError, match="level 'X'"):
        qr_matrix("x", "X")


def test_text_with_a_nul_character_decodes_whole():
    data = "a\0b https://member.example/m/x/"
    n = len(qr_matrix(data, "M"))
    image = Image.open(io.BytesIO(qr_png(data, "M")))
    found = zxingcpp.read_barcodes(image.resize(((n + 8) * 6,) * 2, Image.NEAREST),
                                   formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.bytes for r in found] == [data.encode()]  # (its .text shows NUL as "<NUL>")
