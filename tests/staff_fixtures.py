"""Fixture brand projects for the staff tests (import, report, init)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMPORTS = Path(__file__).resolve().parent / "fixtures" / "imports"
SECRET = "fixture-secret-0123456789abcdef0123456789"

WANG = """\
# 金禾会员, 老客户: 奶粉复购、晒图、签到, 有专属顾问
id: M0001
name: 王晓梅
phone: "+86 138 0571 2231"
joined: 2025-01-08
birthday: 1993-11-06
children:
  - name: 乐乐
    birthday: 2024-11-15
segments: [学步期, 新手妈妈]
region: 浙江 杭州
profile:
  宝宝月龄: 20      # 2026-11 更新
  纸尿裤尺码: L
  喂养方式: 配方奶
consultant: 周老师
consent:
  marketing: true
orders:
  - id: TM20251020014
    date: 2025-12-20
    channel: tmall
    items:
      - {sku: MILK-3-800, qty: 6, price: 255}
      - {sku: DIAPER-L-54, qty: 4, price: 115}
  - id: TM20261105032
    date: 2026-11-05
    channel: tmall
    items:
      - {sku: MILK-3-800, qty: 3, price: 268}   # 顾问推荐
      - {sku: CUP-STRAW, qty: 1, price: 79}
      - {sku: WIPES-80x6, qty: 1, price: 59}
activities:
  - {type: checkin, date: 2026-11-20}
  - {type: photo_review, date: 2026-11-09, note: 吸管杯晒图}
"""

LI = """\
# 一位新会员: 只有第一单
id: M0002
name: 李娜
phone: "13905710042"
joined: 2026-10-02
children:
  - birthday: 2026-06-30
segments: [婴儿期]
region: 江苏 苏州
orders:
  - id: JD20261002118
    date: 2026-10-02
    channel: jd
    items:
      - {sku: MILK-1-800, qty: 2, price: 288}
      - {sku: BOTTLE-240, qty: 1, price: 89}
"""

ZHAO = """\
# 老客户, 四个月没来了
id: M0003
name: 赵敏
phone: "+86 137 0000 3333"
joined: 2024-03-01
birthday: 1990-11-28
region: 上海
orders:
  - id: TB20250510001
    date: 2025-05-10
    channel: taobao
    items:
      - {sku: WASH-SET, qty: 2, price: 139}
  - id: TB20260720002
    date: 2026-07-20
    channel: taobao
    items:
      - {sku: DHA-60, qty: 1, price: 198}
      - {sku: NURSING-BRA, qty: 2, price: 129}
"""


def make_project(root: Path) -> Path:
    """A small brand project: the example program and three members with hand-kept fields."""
    (root / "members" / "2025").mkdir(parents=True)
    (root / "members" / "2024").mkdir()
    shutil.copy(REPO / "members" / "tiers.yml", root / "members" / "tiers.yml")
    (root / "members" / "2025" / "M0001-wang-xiaomei.yml").write_text(WANG, encoding="utf-8")
    (root / "members" / "2025" / "M0002-li-na.yml").write_text(LI, encoding="utf-8")
    (root / "members" / "2024" / "M0003-zhao-min.yml").write_text(ZHAO, encoding="utf-8")
    return root


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
