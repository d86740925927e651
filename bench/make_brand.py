"""Write a synthetic brand project with N realistic members: `python bench/make_brand.py N`.

The result is a complete project in the repository's own formats: members/tiers.yml,
mkdocs.yml, content/ and templates/ are copied from the repository; the members are
generated from the program's products, tiers and activities. Same N and seed give
byte-identical files. Names, phone numbers and orders are made up.

Layouts (bench/README.md says why sharded is the default):
  sharded  one file per member, 1,000 per folder: members/000/M000001.yml (default)
  batched  1,000 members per file as a YAML list: members/part-0001.yml

`--export generic` writes a brand's first day instead: a project without members whose
program recognises members by customer id, and the same history as a shop export,
orders.csv (order_id, customer_id, date, quantity, amount: no names, phones or SKUs), for
`memberportal import orders.csv --mapping generic`.
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import shutil
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from memberportal.layout import PROGRAM_FILE  # noqa
from memberportal.inputs.project import load_program  # noqa
from memberportal.core.rules import add_months  # noqa
import machine  # noqa: E402

AS_OF = date(2026, 11, 24)
FIRST_DAY = date(2019, 1, 1)
PER_FOLDER = 1000
MARKER = ".synthetic-brand"  # only a folder holding this is ever emptied by this script
RECENT_PARCEL_DAYS = 10

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
            "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺"
            "顾毛郝龚邵万钱严覃武戴莫孔向汤")
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "尉迟", "公孙")
GIVEN_FEMALE = ("晓梅娜静丽敏燕艳芳婷雪琳洁玲颖欣怡佳悦萱涵妍雯倩璐瑶岚"
                "蕾莉霞慧娟秀兰英红薇嘉诗雨思梦琪")
GIVEN_MALE = "伟强磊军洋勇杰涛明超斌浩鹏宇航晨俊峰亮辉刚志华建国文博睿"
RARE = "喆玥珺婧昕堃翀犇淼彧䶮𠇔垚赟燊"  # a few names need a font's rare characters (incl. Ext A/B)
CHILD_NAMES = ("乐乐", "朵朵", "豆豆", "安安", "糖糖", "果果", "多多", "小宝", "悠悠", "球球",
               "然然", "一一", "可可", "米粒", "橙子", "团团")
REGIONS = ("浙江 杭州", "浙江 宁波", "江苏 苏州", "江苏 南京", "上海", "北京", "广东 广州",
           "广东 深圳", "四川 成都", "湖北 武汉", "山东 青岛", "福建 厦门", "湖南 长沙",
           "河南 郑州",
           "陕西 西安", "重庆", "天津", "辽宁 沈阳", "安徽 合肥", "云南 昆明")
CONSULTANTS = ("周老师", "陈老师", "林老师", "吴老师", "许老师", "郑老师", "孙老师", "何老师")
LIFE_SEGMENTS = ("新手妈妈", "二胎妈妈", "职场妈妈", "全职妈妈")
GIFTS = (("婴儿手口湿巾", 200), ("护手霜礼盒", 300), ("婴儿洗护三件套", 500),
         ("宽口径玻璃奶瓶", 800), ("定制成长相册", 1200))
CHANNELS = (("tmall", "TM", 55), ("jd", "JD", 25), ("shop", "OS", 15), ("douyin", "DY", 5))
MOBILE_PREFIXES = ("133", "135", "136", "137", "138", "139", "150", "151", "158", "159",
                   "177", "180", "186", "187", "188", "189", "199")


def child_segment(age_days: int) -> str:
    """The product segment of a child of this age (negative: still expected)."""
    for limit, name in ((0, "孕期"), (90, "新生儿"), (180, "婴儿期"), (365, "辅食期"),
                        (3 * 365, "学步期")):
        if age_days < limit:
            return name
    return "幼儿期"


class Brand:
    """The generator: one seeded random stream, members written in id order."""

    def __init__(self, n: int, seed: int, program, as_of: date):
        self.n, self.rng, self.program, self.as_of = n, random.Random(seed), program, as_of
        self.width = max(6, len(str(n)))
        self.order_seq = 0
        self.claimed: set[int] = set()   # friends already referred by someone
        self.history: list[tuple[str, list[tuple]]] = []  # (member id, orders), for exports
        self.recent_orders: list[tuple[str, str]] = []
        products = [p for p in program.products]
        self.by_segment: dict[str, list] = {}
        for p in products:
            for s in p.segments or ("",):
                self.by_segment.setdefault(s, []).append(p)
        self.all_products = products
        self.activity_ids = sorted(program.activities)
        self.tier_ids = [t.id for t in program.tiers]
        self.channel_weights = [w for _, _, w in CHANNELS]
        # Later joiners are more common: the shop grows.
        self.span = (as_of - FIRST_DAY).days

    def member_id(self, i: int) -> str:
        return f"M{i:0{self.width}d}"

    def name(self) -> str:
        r = self.rng
        surname = r.choice(COMPOUND_SURNAMES) if r.random() < 0.01 else r.choice(SURNAMES)
        pool = GIVEN_FEMALE if r.random() < 0.88 else GIVEN_MALE
        given = "".join(r.choice(pool) for _ in range(1 if r.random() < 0.35 else 2))
        if r.random() < 0.004:
            given = given[:-1] + r.choice(RARE)
        return surname + given

    def phone(self) -> str:
        r = self.rng
        prefix = r.choice(MOBILE_PREFIXES)
        a, b = f"{r.randrange(10000):04d}", f"{r.randrange(10000):04d}"
        style = r.random()
        if style < 0.6:
            return f"{prefix}{a}{b}"
        if style < 0.85:
            return f"+86 {prefix} {a} {b}"
        return f"{prefix}-{a}-{b}"

    def day_between(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange((end - start).days + 1))

    def order_count(self) -> int:
        r = self.rng
        if r.random() < 0.07:
            return 0
        return min(int(r.paretovariate(1.25)), 80)  # most 1-3, a long tail past 20

    def items(self, segments: list[str]) -> list[tuple[str, int, Decimal]]:
        r = self.rng
        out: list[tuple[str, int, Decimal]] = []
        used: list[str] = []
        for _ in range(1 + (r.random() < 0.45) + (r.random() < 0.15) + (r.random() < 0.05)):
            pool = self.by_segment.get(r.choice(segments), ()) if segments and \
                r.random() < 0.75 else ()
            p = r.choice(pool or self.all_products)
            if p.sku in used:
                continue
            used.append(p.sku)
            if p.lasts_days:
                qty = (r.choice((1, 1, 2, 2, 3, 3, 4, 6)) if p.lasts_days < 20
                       else r.choice((1, 1, 2)))
            else:
                qty = 1
            price = p.price or Decimal(0)
            if price and r.random() < 0.4:
                price = (price * Decimal(r.choice((95, 92, 90, 85))) / 100).quantize(Decimal("0.1"))
            out.append((p.sku, qty, price))
        return out

    def member(self, i: int) -> list[str]:
        """The YAML lines of member i (without indentation)."""
        r, as_of = self.rng, self.as_of
        mid = self.member_id(i)
        joined = FIRST_DAY + timedelta(days=int(self.span * (r.random() ** 0.6)))
        lines = [f"id: {mid}", f"name: {self.name()}", f'phone: "{self.phone()}"',
                 f"joined: {joined.isoformat()}"]
        birthday = None
        if r.random() < 0.8:
            if r.random() < 0.01:
                birthday = date(r.choice((1984, 1988, 1992, 1996, 2000)), 2, 29)
            else:
                birthday = date(1980, 1, 1) + timedelta(days=r.randrange(22 * 365))
            lines.append(f"birthday: {birthday.isoformat()}")
        children = []
        for _ in range(r.choice((0, 1, 1, 1, 1, 2, 2, 3))):
            born_from = max(joined - timedelta(days=3 * 365),
                            (birthday or date(1980, 1, 1)) + timedelta(days=18 * 365))
            child_day = self.day_between(born_from, as_of + timedelta(days=200))
            if r.random() < 0.005:
                child_day = date(2024, 2, 29)
            children.append((r.choice(CHILD_NAMES) if r.random() < 0.6 else None, child_day))
        children.sort(key=lambda c: c[1])
        if children:
            lines.append("children:")
            for cname, cday in children:
                if cname:
                    lines += [f"  - name: {cname}", f"    birthday: {cday.isoformat()}"]
                else:
                    lines.append(f"  - birthday: {cday.isoformat()}")
        segments = sorted({child_segment((as_of - c[1]).days) for c in children},
                          key=["孕期", "新生儿", "婴儿期", "辅食期", "学步期", "幼儿期"].index)
        if r.random() < 0.3:
            segments.append(r.choice(LIFE_SEGMENTS))
        if segments:
            lines.append(f"segments: [{', '.join(segments)}]")
        lines.append(f"region: {r.choice(REGIONS)}")
        if children and r.random() < 0.35:
            months = max(0, (as_of - children[-1][1]).days // 30)
            lines += ["profile:", f"  宝宝月龄: {months}",
                      f"  纸尿裤尺码: {r.choice(('NB', 'S', 'M', 'L', 'XL'))}",
                      f"  喂养方式: {r.choice(('母乳', '配方奶', '混合喂养'))}"]
        consultant = r.random() < 0.15
        if consultant:
            lines.append(f"consultant: {r.choice(CONSULTANTS)}")
        role = r.random()
        if role < 0.004:
            lines.append("role: ambassador")
        elif role < 0.005:
            lines.append("role: distributor")
        elif role < 0.007:
            lines.append("role: experience_officer")
        lines.append(f"consent:\n  marketing: {'true' if r.random() < 0.7 else 'false'}")
        if r.random() < 0.002:
            lines += ["tier_override:", f"  tier: {r.choice(self.tier_ids[1:])}",
                      f"  until: {(as_of + timedelta(days=r.randrange(-60, 300))).isoformat()}",
                      "  reason: 直播活动合作"]
        orders = self.orders(mid, joined, segments)
        if orders:
            lines.append("orders:")
            for oid, day, channel, items, refunded in orders:
                lines += [f"  - id: {oid}", f"    date: {day.isoformat()}",
                          f"    channel: {channel}", "    items:"]
                lines += [f"      - {{sku: {sku}, qty: {qty}, price: {price}}}"
                          for sku, qty, price in items]
                if refunded:
                    lines.append("    refunded: true")
        activities = self.activities(joined, orders)
        if activities:
            lines.append("activities:")
            lines += [f"  - {{type: {t}, date: {d.isoformat()}}}" for d, t in activities]
        redemptions = self.redemptions(orders)
        if redemptions:
            lines.append("redemptions:")
            lines += [f"  - {{date: {d.isoformat()}, points: {p}, gift: {g}}}"
                      for d, p, g in redemptions]
        referrals = self.referrals(i, role < 0.007)
        if referrals:
            lines.append(f"referrals: [{', '.join(referrals)}]")
        return lines

    def orders(self, mid: str, joined: date, segments: list[str]) -> list[tuple]:
        out = self._orders(mid, joined, segments)
        self.history.append((mid, out))
        return out

    def _orders(self, mid: str, joined: date, segments: list[str]) -> list[tuple]:
        r, as_of = self.rng, self.as_of
        n = self.order_count()
        # Half the members stop buying at some point (they lapse or churn).
        last = as_of if r.random() < 0.5 else self.day_between(joined, as_of)
        n = min(n, (last - joined).days // 7 + 1)
        days = (sorted([joined] + [self.day_between(joined, last) for _ in range(n - 1)])
                if n else [])
        out = []
        for day in days:
            channel, prefix, _ = r.choices(CHANNELS, self.channel_weights)[0]
            self.order_seq += 1
            oid = f"{prefix}{day:%Y%m%d}{self.order_seq:07d}"
            refunded = r.random() < 0.03
            out.append((oid, day, channel, self.items(segments), refunded))
            if not refunded and (as_of - day).days < RECENT_PARCEL_DAYS:
                self.recent_orders.append((oid, mid))
        return out

    def activities(self, joined: date, orders: list[tuple]) -> list[tuple[date, str]]:
        """Check-ins on distinct days, reviews at most once a month: always within limits."""
        r, as_of = self.rng, self.as_of
        out: list[tuple[date, str]] = []
        if "checkin" in self.activity_ids and r.random() < 0.3:
            start = max(joined, as_of - timedelta(days=365))
            span = (as_of - start).days + 1
            count = min(span, int(r.paretovariate(1.1) * 3))
            out += [(start + timedelta(days=d), "checkin") for d in r.sample(range(span), count)]
        if "photo_review" in self.activity_ids:
            months = sorted({(o[1].year, o[1].month): o[1] for o in orders if not o[4]}.items())
            out += [(d, "photo_review") for _, d in months if r.random() < 0.25]
        if "share" in self.activity_ids and r.random() < 0.15:
            out += [(self.day_between(joined, as_of), "share")]
        if "new_product_test" in self.activity_ids and r.random() < 0.01 and orders:
            out.append((orders[-1][1], "new_product_test"))
        return sorted(set(out))

    def redemptions(self, orders: list[tuple]) -> list[tuple[date, int, str]]:
        """Never above the balance: only count base points (multiplier 1) of orders whose points
        cannot have expired by the redemption day, less every earlier redemption."""
        r = self.rng
        if not orders or r.random() > 0.3:
            return []
        # The lowest multiplier any tier gives, so the estimate never exceeds the real points.
        per_unit = self.program.points.per_currency_unit * min(
            t.points_multiplier for t in self.program.tiers)
        months = self.program.points.expire_after_months
        earned = [(o[1], int(sum(p * q for _, q, p in o[3]) * per_unit)) for o in orders
                  if not o[4]]
        out: list[tuple[date, int, str]] = []
        spent = 0
        for _ in range(r.choice((1, 1, 1, 2, 3))):
            day = self.day_between(orders[0][1], self.as_of)
            if out and day <= out[-1][0]:
                continue
            alive = sum(p for d, p in earned
                        if d <= day and (not months or add_months(d, months) > day))
            affordable = [g for g in GIFTS if g[1] <= alive - spent]
            if not affordable:
                continue
            gift, points = r.choice(affordable)
            out.append((day, points, gift))
            spent += points
        return out

    def referrals(self, i: int, ambassador: bool) -> list[str]:
        r = self.rng
        k = r.randint(3, 15) if ambassador else (r.random() < 0.04) + (r.random() < 0.01)
        if self.n < 2:
            return []
        picks = sorted({r.randint(1, self.n) for _ in range(k)} - {i} - self.claimed)
        self.claimed.update(picks)  # a friend is referred by one member only
        return [self.member_id(p) for p in picks]


def copy_design(out: Path, source: Path = REPO) -> None:
    """mkdocs.yml, content/ and templates/ as the repository has them now: a brand made
    earlier and reused (bench/build.py --reuse) is measured with today's templates."""
    if (source / "mkdocs.yml").is_file():
        shutil.copyfile(source / "mkdocs.yml", out / "mkdocs.yml")
    for folder in ("content", "templates"):
        if (out / folder).exists():
            shutil.rmtree(out / folder)
        if (source / folder).is_dir():
            shutil.copytree(source / folder, out / folder)


def _clear(out: Path) -> None:
    if _ours(out):
        shutil.rmtree(out)


def set_aside(out: Path, trash: Path) -> None:
    """Move a brand made earlier into `trash`, for the caller to delete after its timings."""
    if _ours(out):
        machine.set_aside(out, trash)


def _ours(out: Path) -> bool:
    """`out` exists and may be emptied (made by this script, or empty)."""
    if not out.exists():
        return False
    if not (out / MARKER).exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty and was not made by this script; "
                         "choose another --out")
    return True


def _start(out: Path, source: Path):
    """The source's program, and `out` emptied (if this script made it) with a members/ folder."""
    program, errors = load_program(source)
    if errors:
        raise SystemExit("\n".join(str(e) for e in errors))
    _clear(out)
    (out / "members").mkdir(parents=True)
    (out / MARKER).write_text("made by bench/make_brand.py; safe to delete\n")
    return program


def make_export(n: int, out: Path, seed: int = 1, as_of: date = AS_OF,
                source: Path = REPO) -> dict:
    """A project with no members yet (members.keys: [customer_id]) and orders.csv, the
    generated history as a generic shop export: paid orders only, one row each."""
    program = _start(out, source)
    text = (source / PROGRAM_FILE).read_text(encoding="utf-8")
    (out / PROGRAM_FILE).write_text(text.rstrip("\n") + "\n\nmembers:\n  keys: [customer_id]\n",
                                    encoding="utf-8")
    copy_design(out, source)
    brand = Brand(n, seed, program, as_of)
    rows, customers = [], 0
    for i in range(1, n + 1):
        brand.member(i)
        mid, orders = brand.history.pop()
        paid = [o for o in orders if not o[4]]
        customers += bool(paid)
        for oid, day, _channel, items, _refunded in paid:
            qty = sum(q for _, q, _ in items)
            amount = sum((Decimal(str(p)) * q for _, q, p in items), Decimal(0))
            rows.append((oid, "C" + mid[1:], day.isoformat(), qty, f"{amount:.2f}"))
    rows.sort(key=lambda r: (r[2], r[0]))  # as a shop exports them: by date
    with open(out / "orders.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("order_id", "customer_id", "date", "quantity", "amount"))
        writer.writerows(rows)
    return {"members": 0, "customers": customers, "files": 0, "orders": len(rows),
            "parcels": 0}


def make(n: int, out: Path, seed: int = 1, layout: str = "sharded", as_of: date = AS_OF,
         source: Path = REPO) -> dict:
    """Write the project; returns counts for the caller to print."""
    program = _start(out, source)
    shutil.copyfile(source / PROGRAM_FILE, out / PROGRAM_FILE)
    copy_design(out, source)
    brand = Brand(n, seed, program, as_of)
    files = 0
    for start in range(1, n + 1, PER_FOLDER):
        chunk = range(start, min(start + PER_FOLDER, n + 1))
        if layout == "batched":
            text = io.StringIO()
            for i in chunk:
                lines = brand.member(i)
                text.write("- " + lines[0] + "\n")
                text.write("".join("  " + line.replace("\n", "\n  ") + "\n"
                                   for line in lines[1:]))
            name = f"part-{start // PER_FOLDER + 1:04d}.yml"
            (out / "members" / name).write_text(text.getvalue(), encoding="utf-8")
            files += 1
            continue
        folder = out / "members" / f"{(start - 1) // PER_FOLDER:03d}"
        folder.mkdir()
        for i in chunk:
            (folder / f"{brand.member_id(i)}.yml").write_text(
                "\n".join(brand.member(i)) + "\n", encoding="utf-8")
            files += 1
    with open(out / "parcels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("order_id", "member_id"))
        writer.writerows(sorted(brand.recent_orders))
    return {"members": n, "files": files, "orders": brand.order_seq,
            "parcels": len(brand.recent_orders)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of members")
    parser.add_argument("--out", type=Path, help="project folder (default: output/bench/brand-N)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--layout", choices=("sharded", "batched"), default="sharded")
    parser.add_argument("--as-of", type=date.fromisoformat, default=AS_OF,
                        help="the last day of the generated history")
    parser.add_argument("--export", choices=("generic",),
                        help="no members: the history as a shop export (orders.csv) instead")
    args = parser.parse_args(argv)
    out = args.out or REPO / "output" / "bench" / f"brand-{args.n}"
    t = time.perf_counter()
    if args.export:
        counts = make_export(args.n, out, args.seed, args.as_of)
        print(f"{out}: orders.csv with {counts['orders']:,} orders of "
              f"{counts['customers']:,} customers ({time.perf_counter() - t:.1f} s)")
        return
    counts = make(args.n, out, args.seed, args.layout, args.as_of)
    print(f"{out}: {counts['members']:,} members in {counts['files']:,} files, "
          f"{counts['orders']:,} orders, {counts['parcels']:,} parcels "
          f"({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
