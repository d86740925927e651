"""Regenerate the bundled print fonts from Debian's fonts-noto-cjk (run once; output is committed).

    .venv/bin/python templates/fonts/regenerate.py [/usr/share/fonts/opentype/noto]

Writes, next to this script:
- print-sans-{regular,bold}.otf, print-serif-{regular,bold}.otf: Noto Sans/Serif CJK SC cut to
  the GB2312 set (6,763 hanzi and its symbols) plus Latin, punctuation and the signs our
  templates use: what nearly every name, address and sentence needs;
- print-sans-fallback.otf: every other character Noto Sans CJK SC Regular has (rare name
  characters, the extension blocks), used only where the subsets have no glyph;
- OFL.txt: the licence the fonts are under (SIL Open Font License 1.1).
The families are renamed ("Print Sans", "Print Serif") so a system Noto can never stand in.
"""
from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

HERE = Path(__file__).resolve().parent
DEBIAN_COPYRIGHT = Path("/usr/share/doc/fonts-noto-cjk/copyright")
FACES = {  # output file: (collection file, family written into the font, weight name)
    "print-sans-regular.otf": ("NotoSansCJK-Regular.ttc", "Print Sans", "Regular"),
    "print-sans-bold.otf": ("NotoSansCJK-Bold.ttc", "Print Sans", "Bold"),
    "print-serif-regular.otf": ("NotoSerifCJK-Regular.ttc", "Print Serif", "Regular"),
    "print-serif-bold.otf": ("NotoSerifCJK-Bold.ttc", "Print Serif", "Bold"),
}
FALLBACK = ("print-sans-fallback.otf", "NotoSansCJK-Regular.ttc", "Print Sans Fallback")
EXTRA_RANGES = [  # Latin, punctuation, symbols and the CJK punctuation/full-width forms
    (0x20, 0x7E), (0xA0, 0x17F), (0x2010, 0x2027), (0x2030, 0x205E), (0x20AC, 0x20AC),
    (0x2100, 0x2199), (0x2460, 0x24FF), (0x2500, 0x257F), (0x25A0, 0x25FF), (0x2600, 0x26FF),
    (0x2713, 0x2717), (0x3000, 0x303F), (0x3200, 0x32FF), (0xFE10, 0xFE1F), (0xFE30, 0xFE4F),
    (0xFF01, 0xFF9F), (0xFFE0, 0xFFEE),
]


def gb2312() -> set[int]:
    """Every character of GB2312 (rows 0xA1–0xF7, cells 0xA1–0xFE)."""
    out = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                out.add(ord(bytes((hi, lo)).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return out


def sc_font(collection: Path):
    """The Simplified Chinese member of a Noto CJK collection."""
    for font in TTCollection(str(collection)).fonts:
        if font["name"].getDebugName(1).endswith(" SC") and "Mono" not in font["name"].getDebugName(1):
            return font
    raise SystemExit(f"no SC font in {collection}")


def rename(font, family: str, weight: str) -> None:
    name = font["name"]
    full, ps = f"{family} {weight}", f"{family.replace(' ', '')}-{weight}"
    for rec in list(name.names):
        if rec.nameID in (16, 17, 21, 22):
            name.removeNames(nameID=rec.nameID)
    for rec in name.names:
        if rec.nameID == 1:
            rec.string = family
        elif rec.nameID == 2:
            rec.string = weight
        elif rec.nameID == 3:
            rec.string = f"{ps};memberportal subset"
        elif rec.nameID == 4:
            rec.string = full
        elif rec.nameID == 6:
            rec.string = ps
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [ps]
        top = cff.topDictIndex[0]
        for key in ("FullName", "FamilyName"):
            if hasattr(top, key):
                setattr(top, key, full if key == "FullName" else family)


def cut(font, codepoints: set[int], out: Path, family: str, weight: str) -> None:
    options = subset.Options()
    options.layout_features = ["*"]      # keep kern, palt, vert, locl… for proper CJK setting
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.desubroutinize = True        # faster for WeasyPrint/HarfBuzz to subset again
    options.notdef_outline = True
    sub = subset.Subsetter(options)
    sub.populate(unicodes=sorted(codepoints))
    sub.subset(font)
    rename(font, family, weight)
    font.save(str(out))
    print(f"{out.name}: {len(font.getBestCmap()):,} characters, {out.stat().st_size / 1e6:.1f} MB")


def licence() -> str:
    text = DEBIAN_COPYRIGHT.read_text()
    body = text.split("License: SIL-1.1\n", 2)[-1].split("\nLicense: ", 1)[0]
    lines = [("" if ln.strip() == "." else ln[1:]) for ln in body.splitlines()]
    head = ("Print Sans and Print Serif are subsets of Noto Sans CJK SC and Noto Serif CJK SC,\n"
            "Copyright 2014-2021 Adobe (http://www.adobe.com/), with Reserved Font Name 'Source'.\n"
            "Subset and renamed by templates/fonts/regenerate.py from Debian's fonts-noto-cjk.\n"
            "This Font Software is licensed under the SIL Open Font License, Version 1.1.\n\n")
    return head + "\n".join(lines).strip() + "\n"


def main(source: Path) -> None:
    wanted = gb2312()
    for lo, hi in EXTRA_RANGES:
        wanted.update(range(lo, hi + 1))
    for out, (collection, family, weight) in FACES.items():
        font = sc_font(source / collection)
        cut(font, wanted & set(font.getBestCmap()), HERE / out, family, weight)
    out, collection, family = FALLBACK
    font = sc_font(source / collection)
    rest = {cp for cp in font.getBestCmap() if cp not in wanted}
    cut(font, rest, HERE / out, family, "Regular")
    (HERE / "OFL.txt").write_text(licence())


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/opentype/noto"))
