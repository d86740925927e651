"""Build time for N synthetic members: a full build, a no-change rebuild, one member changed.

    .venv/bin/python bench/build_pages.py [N]      (default 1000; prints figures, asserts none)
"""
from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from memberportal.site.build import run  # noqa

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "晓梅娜静丽敏燕芳婷雪琳洁颖慧佳欣怡萱"
SKUS = [("MILK-3-800", 268), ("DIAPER-L-54", 119), ("WIPES-80x6", 59), ("DHA-60", 198),
        ("RICE-CEREAL", 49), ("CUP-STRAW", 79), ("BOTTLE-240", 89)]
AS_OF = date(2026, 11, 24)


def member(i: int, rng: random.Random) -> str:
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
    lines = [f"id: S{i:05d}", f"name: {name}", f'phone: "139{i:08d}"', "joined: 2025-01-01",
             "segments: [学步期]", "orders:"]
    for n in range(rng.randint(1, 8)):
        day = AS_OF - timedelta(days=rng.randint(1, 400))
        sku, price = rng.choice(SKUS)
        lines += [f"  - id: S{i:05d}-{n}", f"    date: {day.isoformat()}",
                  f"    items: [{{sku: {sku}, qty: {rng.randint(1, 6)}, price: {price}}}]"]
    return "\n".join(lines) + "\n"


def main(n: int) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "members").mkdir()
        shutil.copy(REPO / "members" / "tiers.yml", root / "members")
        shutil.copy(REPO / "mkdocs.yml", root)
        shutil.copytree(REPO / "content", root / "content")
        for i in range(n):
            (root / "members" / f"S{i:05d}.yml").write_text(member(i, rng), encoding="utf-8")

        def timed(label: str) -> None:
            start = time.perf_counter()
            b = run(root, AS_OF, show_progress=False)
            stages = ", ".join(f"{k} {v:.2f}s" for k, v in b.timings.items())
            print(f"{label:<22} {time.perf_counter() - start:6.2f}s  rendered {b.rendered:>5}, "
                  f"reused {b.reused:>5}  ({stages})")

        timed(f"full build, {n}")
        timed("rebuild, no change")
        path = root / "members" / "S00000.yml"
        path.write_text(path.read_text(encoding="utf-8").replace("qty: ", "qty: 1", 1),
                        encoding="utf-8")
        timed("rebuild, 1 changed")
        size = sum(p.stat().st_size for p in (root / "output" / "site" / "m").rglob("*"))
        print(f"personal pages on disk: {size / 1e6:.1f} MB ({size / n / 1e3:.1f} kB a page)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
