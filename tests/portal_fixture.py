"""A small brand project in a temporary folder, for the portal and personal-page tests."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-24"

# One member per situation: tier by spend in the 12 months to AS_OF.
MEMBERS = {
    "A001": ("王晓梅", "+86 138 0571 2231", 900),     # silver, on the way to gold
    "A002": ("李娜", "13905710042", 2500),             # silver, close to gold
    "A003": ("欧阳娜娜", "13800000003", 3500),         # gold
    "A004": ("张伟", "13800000004", 9000),             # diamond
    "A005": ("陈静", "13800000005", 200),              # base tier
}


def member_yaml(mid: str, name: str, phone: str, spend: int) -> str:
    return f"""id: {mid}
name: {name}
phone: "{phone}"
joined: 2026-01-05
birthday: 1992-12-10
children:
  - name: 豆豆
    birthday: 2024-12-01
segments: [学步期]
consultant: 周老师
profile:
  宝宝月龄: 23
orders:
  - id: {mid}-1
    date: 2026-01-05
    items:
      - {{sku: MILK-3-800, qty: 1, price: {spend}}}
  - id: {mid}-2
    date: 2026-11-10
    items:
      - {{sku: DIAPER-L-54, qty: 1, price: 0.01}}
referrals: []
"""


def make_project(root: Path) -> Path:
    """Copy the example program, mkdocs.yml and content; write the fixture members."""
    (root / "members").mkdir(parents=True)
    shutil.copy(REPO / "members" / "tiers.yml", root / "members" / "tiers.yml")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "content", root / "content")
    for mid, (name, phone, spend) in MEMBERS.items():
        (root / "members" / f"{mid}.yml").write_text(member_yaml(mid, name, phone, spend),
                                                     encoding="utf-8")
    return root


def manifest_of(out: Path) -> dict:
    """The manifest without each page file's size and modification time: those say when a
    page was written (the cheap unchanged-check), not what was built."""
    data = json.loads((out / "site-manifest.json").read_text(encoding="utf-8"))
    for entry in data["pages"].values():
        entry.pop("mtime", None)
        entry.pop("size", None)
    return data
