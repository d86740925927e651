"""What tests share: paths, fixture projects, PDF and browser helpers."""
from __future__ import annotations

import copy
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import yaml

# --- Paths -------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"               # `make golden` rewrites these
IMPORTS = REPO / "tests" / "fixtures" / "imports"  # shop exports for `memberportal import`

# --- Program and member data, built in Python ----------------------------------------------------

EXAMPLE_PROGRAM = yaml.safe_load((REPO / "members" / "tiers.yml").read_text(encoding="utf-8"))


def program(**changes) -> dict:
    """The example program with top-level fields replaced."""
    data = copy.deepcopy(EXAMPLE_PROGRAM)
    data.update(changes)
    return data


def member(id="M1", **fields) -> dict:
    data = {"id": id, "name": "王晓梅", "phone": "13800000000", "joined": "2024-01-01"}
    data.update(fields)
    return data


def order(id, day, amount, sku="MILK-3-800", qty=1, **extra) -> dict:
    return {"id": id, "date": day, "items": [{"sku": sku, "qty": qty, "price": amount}], **extra}


def dump(data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


class FixtureProject:
    """A brand project in a temporary folder, written file by file."""

    def __init__(self, root: Path):
        self.root = root
        (root / "members").mkdir(parents=True)
        self.write("members/tiers.yml", dump(program()))
        # the example's program, so its portal config says it is the example (check requires it)
        self.write("mkdocs.yml", "site_url: https://member.test.example/\n"
                                 "extra:\n  memberportal_example: true\n")

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def add(self, *members: dict, file: str | None = None) -> Path:
        body = members[0] if len(members) == 1 else list(members)
        return self.write(file or f"members/{members[0]['id']}.yml", dump(body))


# --- Portal project: the portal and personal pages -----------------------------------------------

PORTAL_AS_OF = "2026-11-24"
DAY = date.fromisoformat(PORTAL_AS_OF)

# One member per situation: tier by spend in the 12 months to PORTAL_AS_OF.
PORTAL_MEMBERS = {
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


def portal_project(root: Path) -> Path:
    """Copy the example program, mkdocs.yml and content; write the portal members."""
    (root / "members").mkdir(parents=True)
    shutil.copy(REPO / "members" / "tiers.yml", root / "members" / "tiers.yml")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "content", root / "content")
    for mid, (name, phone, spend) in PORTAL_MEMBERS.items():
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


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# --- Print project: inserts, codes and stamping ----------------------------------------------------

PRINT_AS_OF = date(2026, 11, 24)
PRINT_SECRET = b"print-tests-secret-0123456789abcdef0123456789"

PRINT_MEMBERS = {
    "M0001": """
        id: M0001
        name: 王晓梅
        phone: "+86 138 0571 2231"
        joined: 2025-01-08
        birthday: 1993-12-06
        segments: [学步期]
        orders:
          - id: TM1
            date: 2025-10-20
            items: [{sku: MILK-3-800, qty: 6, price: 255}]
          - id: TM2
            date: 2026-11-05
            items: [{sku: MILK-3-800, qty: 3, price: 268}]
        """,
    "M0002": """
        id: M0002
        name: 李娜
        phone: "13905710042"
        joined: 2026-10-02
        segments: [婴儿期]
        orders:
          - id: JD1
            date: 2026-10-02
            items: [{sku: MILK-1-800, qty: 2, price: 288}]
        """,
    "M0003": """
        id: M0003
        name: 欧阳娜娜
        phone: "13905710043"
        joined: 2026-09-01
        segments: [孕期]
        orders:
          - id: WS1
            date: 2026-09-01
            items: [{sku: DHA-60, qty: 1, price: 198}]
        """,
    "M0004": """
        id: M0004
        name: 堃晓雨
        phone: "13905710044"
        joined: 2026-11-01
        orders:
          - id: WS2
            date: 2026-11-01
            items: [{sku: WIPES-80x6, qty: 1, price: 59}]
        """,
}
PRINT_PARCELS = "order_id,member_id,note\nP-001,M0002,\nP-002,M0001,gift wrap\nP-003,M0003,\nP-004,M0002,\nP-005,M0004,\n"


def print_project(folder: Path, members: dict[str, str] = PRINT_MEMBERS) -> Path:
    """The example program, `members`, a story page, mkdocs.yml and parcels.csv."""
    (folder / "members").mkdir(parents=True)
    shutil.copy(REPO / "members" / "tiers.yml", folder / "members" / "tiers.yml")
    for mid, text in members.items():
        (folder / "members" / f"{mid}.yml").write_text(textwrap.dedent(text))
    (folder / "content").mkdir()
    (folder / "content" / "story.md").write_text("# 小禾家的故事\n\n两位新手妈妈开了这家店，\n每一件商品都先给自己的孩子用过。\n\n- 好东西不必贵\n- 但一定要安心\n")
    (folder / "mkdocs.yml").write_text("site_url: https://member.test.example/\n"
                                       "extra:\n  memberportal_example: true\n")
    (folder / "parcels.csv").write_text(PRINT_PARCELS)
    return folder


# Every kind of template a brand may override: (the template, the command that renders it)
RENDERERS = {
    "personal page": ("member/page.html", ["build", "--no-progress"]),
    "insert": ("print/insert.html", ["inserts", "--parcels", "parcels.csv"]),
    "card": ("print/card.html", ["cards"]),
    "notebook": ("print/notebook.html", ["notebook"]),
    "staff report": ("staff/report.html", ["report"]),
    "portal page": ("portal/tiers.md.j2", ["build", "--no-progress"]),
}


# --- Staff project: import, report, init ---------------------------------------------------------

STAFF_SECRET = "fixture-secret-0123456789abcdef0123456789"

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


def staff_project(root: Path) -> Path:
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


# --- PDFs read back (pypdf, poppler) and QR codes decoded (zxing-cpp) -----------------------------

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


# --- Pages in a real headless Chromium (Debian's), served from a folder --------------------------

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MEMBERPORTAL_ARTIFACTS", REPO / "output" / "test-artifacts"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class PageReport:
    url: str
    status: int | None
    title: str
    text: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)  # to any other host: blocked
    screenshot: Path | None = None
    measured: object = None          # what `evaluate` returned


@contextmanager
def serve(folder: Path):
    """Serve `folder` on a free loopback port for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def chromium():
    """A headless Chromium browser (Playwright driving the system's Chromium)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, screenshot: str | None = None, width: int = 1280,
              height: int = 900, full_page: bool = True, scripts: bool = True,
              evaluate: str | None = None) -> PageReport:
    """Load `url`; requests to any host but the page's own are recorded and blocked.
    `evaluate`: a JavaScript function run in the loaded page; its result is `measured`."""
    home = urlsplit(url).netloc
    page = browser.new_page(viewport={"width": width, "height": height},
                            java_script_enabled=scripts)
    errors: list[str] = []
    requests: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        requests.append(r.request.url)
        target = urlsplit(r.request.url)
        if target.scheme in ("data", "blob", "about") or target.netloc == home:
            return r.continue_()
        foreign.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    response = page.goto(url, wait_until="networkidle")
    shot = None
    if screenshot:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / screenshot
        page.screenshot(path=str(shot), full_page=full_page)
    measured = page.evaluate(evaluate) if evaluate else None
    report = PageReport(url, response.status if response else None, page.title(),
                        page.inner_text("body"), errors, requests, foreign, shot, measured)
    page.close()
    return report
