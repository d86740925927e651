"""`memberportal init`: a new brand project (its own name, address, language), checked, moved in."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from memberportal.errors import InputError, Told, worded
from memberportal.inputs.config import is_example
from memberportal.inputs.project import Project, load, load_members, load_program
from memberportal.layout import EXAMPLE, PROGRAM_FILE, ROTATIONS_FILE, SECRET_FILE, STATE_DIR, rel

# What `init --example` copies, by name: whatever of these the example has.
EXAMPLE_FILES = ("mkdocs.yml", ".gitignore", PROGRAM_FILE)
EXAMPLE_TREES = ("content", "templates")
SAMPLE_MEMBERS = ("M0001", "M0002", "M0003", "M0004", "M0005", "M0006")
PLACEHOLDER_PREFIX = "SAMPLE-"  # the placeholder members of a new brand; `check` warns of them
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


@dataclass(frozen=True)
class BrandAnswers:
    """What must be the brand's own: asked on a terminal or given as options."""

    name: str
    site_url: str
    lang: str = "zh"
    color: str = "#2f7d6d"
    currency: str = "CNY"

    def problems(self) -> list[Told]:
        bad = []
        if not self.name.strip() or len(self.name) > 100 or "\n" in self.name:
            bad.append(Told("init.bad.name"))
        parts = urlsplit(self.site_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            bad.append(Told("init.bad.site_url"))
        if self.lang not in ("zh", "en"):
            bad.append(Told("init.bad.lang"))
        if not (len(self.color) == 7 and self.color[0] == "#" and all(
                c in "0123456789abcdefABCDEF" for c in self.color[1:])):
            bad.append(Told("init.bad.color"))
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            bad.append(Told("init.bad.currency"))
        return bad


SYMBOLS = {"CNY": "¥", "JPY": "¥", "USD": "$", "HKD": "HK$", "TWD": "NT$", "EUR": "€",
           "GBP": "£", "SGD": "S$"}


def sample_member_files(example: Path) -> list[Path]:
    """The sample members' files: one member each, referring only to other samples."""
    program, errors = load_program(example)
    members, where, member_errors = load_members(example, program)
    if errors or member_errors:
        raise InputError(f"the example project in {example} is not valid; run "
                         f"`memberportal -C {example} check`")
    per_file = Counter(w.file for w in where.values())
    chosen = [m for m in members if m.id in SAMPLE_MEMBERS and per_file[where[m.id].file] == 1]
    ids = {m.id for m in chosen}
    return sorted(example / where[m.id].file for m in chosen if set(m.referrals) <= ids)


def sample_warnings(project: Project, example: Path = EXAMPLE) -> list[InputError]:
    """Sample members left in a brand's records: the placeholders of `init`, or the example
    brand's own members in a project that is not the example."""
    out = []
    placeholders = [m.id for m in project.members if m.id.startswith(PLACEHOLDER_PREFIX)]
    if placeholders:
        out.append(InputError(**worded("warn.placeholders", n=len(placeholders),
                                       ids=", ".join(placeholders[:5]))))
    if project.root.resolve() != example.resolve() and \
            not is_example(project.root, project.program.brand.name):
        theirs, _, _ = load_members(example, None)
        known = {(m.id, m.name) for m in theirs}
        left = [m.id for m in project.members if (m.id, m.name) in known]
        if left:
            out.append(InputError(**worded("warn.example_members", n=len(left),
                                           ids=", ".join(left[:5]) + ("…" if len(left) > 5
                                                                      else ""))))
    return out


def init_project(target: Path, answers: BrandAnswers | None = None,
                 example: Path = EXAMPLE) -> list[str]:
    """Create the project in `target` (new or empty): a copy of the example brand when
    `answers` is None, else a neutral project of the brand's own; returns what was written."""
    target = target.absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(**worded("init.not_empty", target=target))
    if answers is not None and answers.problems():
        bad = answers.problems()
        raise InputError("; ".join(bad), said=[p for i, told in enumerate(bad) for p in (
            [("error.semicolon", {})] if i else []) + told.said])
    if not (example / PROGRAM_FILE).is_file():
        raise InputError(f"the example project is missing from the installed package "
                         f"({example}); reinstall memberportal")
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}-init-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; a project folder is not
    try:
        written = _copy_example(stage, example) if answers is None else \
            _new_brand(stage, answers, example)
        load(stage, cache=False)  # the new project must be valid before it appears
        if target.exists():
            target.rmdir()
        os.rename(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return written


def _copy_example(stage: Path, example: Path) -> list[str]:
    copied: list[str] = []
    for name in EXAMPLE_FILES:
        if (example / name).is_file():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(example / name, stage / name)
            copied.append(name)
    for name in EXAMPLE_TREES:
        if (example / name).is_dir():
            shutil.copytree(example / name, stage / name, ignore=_JUNK)
            copied.append(name + "/")
    for path in sample_member_files(example):
        dest = stage / path.relative_to(example)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        copied.append(rel(path, example))
    return copied


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def _new_brand(stage: Path, a: BrandAnswers, example: Path) -> list[str]:
    words = WORDS[a.lang]
    files = {
        "mkdocs.yml": MKDOCS.format(name=_q(a.name), site_name=_q(f"{a.name} · {words['portal']}"),
                                    url=_q(a.site_url.rstrip("/") + "/"), lang=a.lang,
                                    copyright=_q(f"© {a.name}"), **words),
        PROGRAM_FILE: PROGRAM[a.lang].format(name=_q(a.name), color=_q(a.color),
                                             currency=a.currency,
                                             symbol=_q(SYMBOLS.get(a.currency, a.currency))),
        "content/index.md": CONTENT[a.lang]["index"].format(name=a.name),
        "content/story.md": CONTENT[a.lang]["story"].format(name=a.name),
        "content/handbook-intro.md": CONTENT[a.lang]["handbook"].format(name=a.name),
        "templates/README.md": TEMPLATES_README,
    }
    for i, (day, amount) in enumerate((("2026-01-15", 120), ("2026-03-02", 680),
                                       ("2026-05-20", 2400)), 1):
        mid = f"{PLACEHOLDER_PREFIX}{i}"
        files[f"members/samples/{mid}.yml"] = SAMPLE[a.lang].format(
            id=mid, n=i, day=day, amount=amount)
    for name, text in files.items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_text(text, encoding="utf-8")
    if (example / ".gitignore").is_file():
        shutil.copy2(example / ".gitignore", stage / ".gitignore")
        files[".gitignore"] = ""
    return list(files)


def next_steps(folder: Path, example: bool) -> list[Told]:
    """What to do after `init`, printed at its end."""
    steps = [Told("init.step.cd", folder=folder),
             Told("init.step.backup", secret=f"{STATE_DIR}/{SECRET_FILE}",
                  rotations=f"{STATE_DIR}/{ROTATIONS_FILE}")]
    if example:
        steps.append(Told("init.step.example", file=PROGRAM_FILE))
    else:
        steps += [Told("init.step.edit", file=PROGRAM_FILE), Told("init.step.import")]
    steps += [Told("init.step.build")]
    return steps


TEMPLATES_README = """\
# templates/

Empty on purpose: the built-in templates of memberportal are used. To change one, copy it
from the installed package (`python -c "import memberportal.layout as l;
print(l.BUILTIN_TEMPLATES)"`) to the same path here, e.g. `templates/print/insert.html`;
a file here wins over the built-in one of the same name (docs/guide-designers.md).
"""

WORDS = {
    "zh": {"portal": "会员中心", "home": "首页", "story_nav": "品牌故事",
           "program_nav": "会员计划", "tiers_nav": "等级与权益", "points_nav": "积分",
           "handbook_nav": "会员手册"},
    "en": {"portal": "Members", "home": "Home", "story_nav": "Our story",
           "program_nav": "Membership", "tiers_nav": "Tiers and benefits", "points_nav": "Points",
           "handbook_nav": "Member handbook"},
}

MKDOCS = """\
# The brand portal (MkDocs Material). The brand's name lives in members/tiers.yml
# (brand.name); site_name and copyright must name it too (`memberportal check` says so).
site_name: {site_name}
site_url: {url}
docs_dir: content
copyright: {copyright}

theme:
  name: material
  language: {lang}
  font: false            # no web fonts from other hosts
  palette:
    primary: custom
    accent: custom

plugins:
  - search:
      lang: {lang}

markdown_extensions:
  - tables
  - attr_list
  - md_in_html
  - admonition

extra:
  generator: false

nav:
  - {home}: index.md
  - {story_nav}: story.md
  - {program_nav}:
      - {tiers_nav}: tiers.md
      - {points_nav}: points.md
      - {handbook_nav}: handbook-intro.md
"""

PROGRAM = {
    "zh": """\
# {name} · 会员计划。每个字段的含义见 docs/program.md。
brand:
  name: {name}
  slogan: ""                    # 一句话，印在插页和笔记本上
  shop: ""                      # 店铺名，如 天猫 · XX旗舰店
  service: ""                   # 客服方式和时间
  color: {color}

currency: {currency}
currency_symbol: {symbol}

members:
  keys: [phone]                 # 怎样认出同一位买家：customer_id、buyer、phone、email 之一或几个

points:
  per_currency_unit: 1

qualification:
  basis: spend
  window: rolling_12_months

benefits:
  member_price:
    name: 会员价
    description: 会员专属折扣
  birthday_gift:
    name: 生日礼
    description: 生日当月送一份礼物

tiers:
  - id: member
    name: 会员
    threshold: 0
    benefits: [birthday_gift]
  - id: silver
    name: 银卡会员
    threshold: 1000
    discount: 5
    benefits: [birthday_gift, member_price]
  - id: gold
    name: 金卡会员
    threshold: 3000
    discount: 10
    points_multiplier: 1.5
    benefits: [birthday_gift, member_price]

birthday_gifts:
  member:
    gift: 生日礼一份

products: []                    # 你的商品：sku、name、price、lasts_days（补货提醒）……
""",
    "en": """\
# {name} · membership program. Every field is documented in docs/program.md.
brand:
  name: {name}
  slogan: ""                    # one line, printed on inserts and the notebook
  shop: ""                      # where members buy
  service: ""                   # how and when to reach customer service
  color: {color}

currency: {currency}
currency_symbol: {symbol}

members:
  keys: [phone]                 # how a buyer is recognised: customer_id, buyer, phone, email

points:
  per_currency_unit: 1

qualification:
  basis: spend
  window: rolling_12_months

benefits:
  member_price:
    name: Member price
    description: a discount for members
  birthday_gift:
    name: Birthday gift
    description: a gift in your birthday month

tiers:
  - id: member
    name: Member
    threshold: 0
    benefits: [birthday_gift]
  - id: silver
    name: Silver
    threshold: 1000
    discount: 5
    benefits: [birthday_gift, member_price]
  - id: gold
    name: Gold
    threshold: 3000
    discount: 10
    points_multiplier: 1.5
    benefits: [birthday_gift, member_price]

birthday_gifts:
  member:
    gift: a birthday gift

products: []                    # your products: sku, name, price, lasts_days (replenishment)…
""",
}

CONTENT = {
    "zh": {
        "index": "# {name} 会员中心\n\n欢迎来到 {name} 的会员中心。"
                 "在这里可以看到会员等级、积分和权益。\n",
        "story": "# {name} 的故事\n\n（请在这里写下品牌的故事：谁开了这家店，为什么，"
                 "想给顾客带来什么。这一页会印在笔记本的开头。）\n",
        "handbook": "# 写在会员手册前面\n\n（请在这里写几句给会员的话："
                    "这本手册讲什么，有问题找谁。）\n",
    },
    "en": {
        "index": "# {name} Members\n\nWelcome to the members' site of {name}: your tier, your "
                 "points and your benefits.\n",
        "story": "# The story of {name}\n\n(Write the brand's story here: who started the shop, "
                 "why, and what it wants to give its customers. This page opens the printed "
                 "notebook.)\n",
        "handbook": "# Before you read the handbook\n\n(Write a few lines to your members here: "
                    "what this handbook is about and whom to ask.)\n",
    },
}

SAMPLE = {
    "zh": """\
# 示例会员：看看一份会员记录长什么样；导入自己的会员后请删除这个文件。
id: {id}
name: 示例会员{n}
joined: {day}
orders:
  - id: {id}-ORDER
    date: {day}
    items:
      - {{sku: SAMPLE, name: 示例商品, qty: 1, price: {amount}}}
""",
    "en": """\
# A sample member: what a member record looks like. Delete this file once yours are in.
id: {id}
name: Sample Member {n}
joined: {day}
orders:
  - id: {id}-ORDER
    date: {day}
    items:
      - {{sku: SAMPLE, name: Sample product, qty: 1, price: {amount}}}
""",
}
