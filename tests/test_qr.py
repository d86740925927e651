"""The fast QR mask choice gives exactly the modules qrcode itself would draw."""
from __future__ import annotations

import random

import qrcode
import qrcode.constants

from generator.qr import qr_matrix

LEVELS = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
          "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}


def reference(data: str, level: str) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=LEVELS[level], border=0)
    code.add_data(data)
    code.make(fit=True)  # draws all 8 masks and keeps the lowest penalty
    return code.get_matrix()


def test_same_mask_and_modules_as_qrcode_across_versions_and_levels():
    rng = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567/-"
    for _ in range(80):
        data = "https://member.example/m/" + "".join(
            rng.choice(alphabet) for _ in range(rng.choice([1, 26, 26, 70, 180])))
        level = rng.choice("LMQH")
        assert qr_matrix(data, level) == reference(data, level), (data, level)
