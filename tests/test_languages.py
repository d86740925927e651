"""One language for the brand (pages, prints, report); --lang for the command line's words."""
from __future__ import annotations

import re
from datetime import date

import click
import pytest
from click.testing import CliRunner
from helpers import DAY, PORTAL_AS_OF, PRINT_SECRET, pdftotext, portal_project, print_project

from memberportal.cli import cli
from memberportal.core import codes
from memberportal.inputs.project import load
from memberportal.render.messages import CATALOGUE, counted


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def english(root) -> None:
    config = root / "mkdocs.yml"
    text = config.read_text(encoding="utf-8")
    if "language: zh" in text:
        text = text.replace("language: zh", "language: en")
    else:
        text += "theme:\n  name: material\n  language: en\n"
    config.write_text(text, encoding="utf-8")


@pytest.fixture
def brand(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    return print_project(tmp_path / "brand")


def test_check_speaks_the_command_lines_language(brand):
    zh = invoke("-C", str(brand), "--as-of", PORTAL_AS_OF, "check")
    assert zh.exit_code == 0, zh.output
    assert "位会员，全部有效（截至 2026-11-24）" in zh.output and "各等级会员数" in zh.output
    en = invoke("--lang", "en", "-C", str(brand), "--as-of", PORTAL_AS_OF, "check")
    assert en.exit_code == 0, en.output
    assert "members, valid (as of 2026-11-24)" in en.output and "members per tier" in en.output
    assert "位会员" not in en.output
    english(brand)   # an English brand: English unless --lang says otherwise
    assert "members per tier" in invoke("-C", str(brand), "check").output
    assert "各等级会员数" in invoke("--lang", "zh", "-C", str(brand), "check").output


def test_explain_counts_orders_in_each_language(brand):
    counts = set()
    for mid in [m.id for m in load(brand).members]:
        out = invoke("--lang", "en", "-C", str(brand), "--as-of", PORTAL_AS_OF, "explain",
                     mid).output
        n = int(re.search(r"(\d+) orders? and", out)[1])
        assert (f"{n} order and" if n == 1 else f"{n} orders and") in out, out
        zh = invoke("--lang", "zh", "-C", str(brand), "--as-of", PORTAL_AS_OF, "explain",
                    mid).output
        assert f"12 个月内 {n} 笔订单" in zh, zh
        counts.add(n)
    assert 1 in counts   # "1 order", not "1 orders"
    assert counted("cli.orders", 3, "en") == "3 orders"
    assert counted("cli.orders", 1200, "zh") == "1,200 笔订单"


def test_verify_says_its_verdict_in_the_chosen_language(brand):
    project = load(brand)
    until = project.status(project.member("M0002"), date.fromisoformat(PORTAL_AS_OF)).offers[0].valid_until
    code = codes.make_code(PRINT_SECRET, "M0002", "second-half", until)
    zh = invoke("-C", str(brand), "--as-of", PORTAL_AS_OF, "verify", code)
    assert zh.exit_code == 0 and zh.output.startswith("有效") and "有效期至" in zh.output
    en = invoke("--lang", "en", "-C", str(brand), "--as-of", PORTAL_AS_OF, "verify", code)
    assert en.exit_code == 0 and en.output.startswith("VALID") and "valid until" in en.output


def test_validation_messages_are_translated(brand):
    member = brand / "members" / "M0002.yml"
    text = member.read_text(encoding="utf-8")
    member.write_text(text.replace("id: M0002", "id: M0002\nbirthdy: 1990-01-01"),
                      encoding="utf-8")
    zh = invoke("-C", str(brand), "--as-of", PORTAL_AS_OF, "check")
    assert zh.exit_code == 1
    assert "未知字段 'birthdy'；是否想写 'birthday'？" in zh.output, zh.output
    assert "会员 M0002" in zh.output and re.search(r"共发现 \d+ 处错误", zh.output)
    assert "Extra inputs" not in zh.output and "unknown field" not in zh.output
    en = invoke("--lang", "en", "-C", str(brand), "--as-of", PORTAL_AS_OF, "check")
    assert "unknown field 'birthdy'; did you mean 'birthday'?" in en.output, en.output
    assert re.search(r"\d+ errors? found", en.output)


@pytest.mark.parametrize("kind, value, said", [
    ("missing", None, "缺少必填字段"),
    ("date_from_datetime_parsing", "2026-13-40", "不是有效日期"),
    ("int_parsing", "many", "应为整数"),
    ("greater_than_equal", -5, "应大于或等于 0"),
])
def test_common_pydantic_kinds_in_chinese(kind, value, said):
    from pydantic import BaseModel, Field, ValidationError

    from memberportal.inputs.validation import _describe

    class M(BaseModel):
        when: date | None = None
        n: int = Field(0, ge=0)
        need: str

    data = {"need": "x"}
    if kind == "missing":
        data = {}
    elif "date" in kind:
        data["when"] = value
    else:
        data["n"] = value
    with pytest.raises(ValidationError) as e:
        M(**data)
    english, parts = _describe(e.value.errors()[0])
    assert english and said in "".join(CATALOGUE["zh"][k].format(**p) for k, p in parts)


def test_help_in_both_languages(brand):
    zh = invoke("-C", str(brand), "--help")
    assert zh.exit_code == 0 and "校验所有文件并打印汇总" in zh.output and "选项：" in zh.output
    en = invoke("--lang", "en", "--help")
    assert "Validate every file and print a summary" in en.output and "Options:" in en.output
    assert "校验" not in en.output
    sub = invoke("--lang", "zh", "inserts", "--help")
    assert "出血（毫米）。" in sub.output and "Bleed in mm" not in sub.output
    assert "Bleed in mm" in invoke("--lang", "en", "inserts", "--help").output
    english(brand)
    assert "Validate every file" in invoke("-C", str(brand), "--help").output


def test_every_command_and_option_has_chinese_help():
    missing = []

    def walk(command: click.Command, path: list[str]) -> None:
        key = ".".join(["help", *path])
        if key not in CATALOGUE["zh"]:
            missing.append(key)
        for p in command.params:
            if isinstance(p, click.Option) and p.help and f"{key}.{p.name}" not in CATALOGUE["zh"]:
                missing.append(f"{key}.{p.name}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])
    walk(cli, [])
    assert not missing


def test_an_english_brand_gets_english_pages_prints_and_report(tmp_path, monkeypatch):
    """--lang zh changes the command line only: the brand's language decides the rest."""
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = portal_project(tmp_path / "brand")
    english(root)
    run = invoke("--lang", "zh", "-C", str(root), "--as-of", PORTAL_AS_OF, "build",
                 "--no-progress")
    assert run.exit_code == 0, run.output
    pages = list((root / "output" / "site" / "m").glob("*/index.html"))
    assert pages
    html = pages[0].read_text(encoding="utf-8")
    assert CATALOGUE["en"]["page.points"] in html and CATALOGUE["zh"]["page.points"] not in html
    mid = load(root).members[0].id
    run = invoke("--lang", "zh", "-C", str(root), "--as-of", PORTAL_AS_OF, "preview", "insert",
                 mid)
    assert run.exit_code == 0, run.output
    pdf = next(p for p in map(lambda s: root / s.strip(), run.output.split()) if
               str(p).endswith(".pdf"))
    text = pdftotext(pdf)
    assert "Points" in text or "points" in text, text
    assert "积分" not in text, text
    run = invoke("--lang", "zh", "-C", str(root), "--as-of", PORTAL_AS_OF, "report")
    assert run.exit_code == 0, run.output
    report = (root / "output" / "staff" / "report.html").read_text(encoding="utf-8")
    assert "<title>Staff report" in report


# --- every message check, explain and verify print, in the command line's language -----------

BROKEN = {   # one mistake a file: a member record that fails its model hides its other mistakes
    "B1": 'id: B1\nname: 赵\nphone: 1380000\njoined: 2024-01-01\n',
    "B2": 'id: B2\nname: 钱\nphone: "138 0000 0002"\njoined: 2024-01-01\nfavourite: x\n',
    "B3": 'id: B3\nname: 孙\nphone: "***0003"\njoined: 2024-01-01\n',
    "B4": 'id: B4\nname: 李\njoined: 2024-02-30\n',
    "B5": 'id: B5\nname: 周\njoined: 2024-01-01\nreferrals: [B5, NOBODY]\n',
    "B6": ('id: B6\nname: 吴\njoined: 2024-01-01\nbirthday: 1990-01-01\nchildren:\n'
           '  - {name: 豆豆, birthday: 1980-01-01}\ntier_override: {tier: platinum, '
           'until: 2027-01-01, reason: vip}\norders:\n  - {id: X1, date: 2026-01-01, '
           'items: [{sku: MILK-3-800, qty: 1, price: 10}]}\n  - {id: X1, date: 2026-02-01, '
           'items: [{sku: MILK-3-800, qty: 1, price: 10}]}\n'),
    "B7": 'id: M0001\nname: 郑\njoined: 2024-01-01\n',
    "B8": 'id: B8\nname: 王\njoined: 2024-01-01\njoined: 2024-01-02\n',
    "B9": 'id: B9\nname: 冯\njoined: 2024-01-01\nactivities:\n  - {type: dance, date: 2026-01-01}\n',
}
# what is not a sentence: paths and places, quoted values, commands, field and key names, ids
_NOT_WORDS = re.compile(r"\S+\.(?:yml|csv|json)(?::\d+)?|'[^']*'|\"[^\"]*\"|`[^`]*`|"
                        r"\$?[A-Za-z]+(?:_[A-Za-z]+)+|[A-Za-z]*\d[\w-]*|![!\w]+|[\w.]+/[\w./]*")
_ENGLISH = re.compile(r"[A-Za-z]+(?: [A-Za-z]+){2,}")   # lists of ids are not sentences
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")


def _outputs(root, lang: str, code: str) -> str:
    runs = [invoke("--lang", lang, "-C", str(root), "--as-of", PORTAL_AS_OF, *args)
            for args in (("check",), ("explain", "M0001"), ("explain", "M0002"), ("explain", "M9"),
                         ("verify", code), ("verify", "ABCD"))]
    return "\n".join(r.output for r in runs)


def test_check_explain_and_verify_say_nothing_in_the_other_language(brand):
    code = codes.make_code(PRINT_SECRET, "M0002", "second-half", date(2027, 10, 2))
    forged = code[:-3] + ("Z" if code[-3] != "Z" else "Y") + code[-2:]
    good = {lang: _outputs(brand, lang, forged) for lang in ("zh", "en")}
    for mid, text in BROKEN.items():
        (brand / "members" / f"{mid}.yml").write_text(text, encoding="utf-8")
    broken = {lang: _outputs(brand, lang, code) for lang in ("zh", "en")}
    assert "共发现" in broken["zh"] and "errors found" in broken["en"]
    # the brand's own words (names, tiers, products) are in its files: only ours count
    theirs = "".join(p.read_text(encoding="utf-8") for p in (brand / "members").glob("*.yml"))
    for out in (good["zh"], broken["zh"]):
        english = _ENGLISH.findall(_NOT_WORDS.sub(" ", out))
        assert not english, english
    for out in (good["en"], broken["en"]):
        ours = [run for run in _CJK.findall(out) if run not in theirs]
        assert not ours, ours
    # every mistake is reported, with its file, line and member
    for mid in BROKEN:
        assert f"members/{mid}.yml:" in broken["zh"], mid
    assert "会员 B5, 字段 'referrals.0'" in broken["zh"]
    assert "member B5, field 'referrals.0'" in broken["en"]


def test_every_error_worded_in_english_is_worded_in_chinese_with_the_same_fields():
    import string

    from memberportal.errors import ENGLISH

    def fields(text):
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}
    for key, english in ENGLISH.items():
        assert key in CATALOGUE["zh"], key
        # Chinese may leave out a library's English reason (an impossible date's "why")
        assert fields(CATALOGUE["zh"][key]) <= fields(english), key
        assert fields(english) - fields(CATALOGUE["zh"][key]) <= {"why"}, key


# --- every other command, good and broken input, in the command line's language ---------------

def _one_language(zh: str, en: str, theirs: str = "") -> None:
    """No run of 3+ English words of ours under zh; no Chinese of ours under en (a usage
    line is a command, not a sentence)."""
    zh = re.sub(r"(?m)^(用法：|Usage:).*$", "", zh)
    english = _ENGLISH.findall(_NOT_WORDS.sub(" ", zh))
    assert not english, (english, zh)
    ours = [run for run in _CJK.findall(en) if run not in theirs]
    assert not ours, (ours, en)


def _both(root, *args, as_of: str = PORTAL_AS_OF, input: str | None = None) -> dict[str, str]:
    return {lang: CliRunner().invoke(cli, ["--lang", lang, "-C", str(root), "--as-of", as_of,
                                           *args], input=input).output for lang in ("zh", "en")}


def _brand_words(root) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in root.rglob("*.yml"))


def test_import_says_its_summary_errors_and_notes_in_one_language(tmp_path, monkeypatch):
    from helpers import IMPORTS, STAFF_SECRET, staff_project
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    root = staff_project(tmp_path / "brand")
    export = IMPORTS / "taobao-orders.csv"
    theirs = _brand_words(root) + export.read_bytes().decode("gbk")
    good = _both(root, "import", "--dry-run", "--verbose", str(export))
    assert "新会员" in good["zh"] and "new member" in good["en"]
    lines = export.read_bytes().split(b"\r\n")
    for i in (1, 2):
        lines[i] = lines[i].replace(b"2026-11-15 20:41:33", b"2026-13-45 20:41")
    lines[2] = lines[2].replace(b",2,59.00,", b",two,59.00,")
    for i in (3, 4):
        lines[i] = lines[i].replace(b"'13905711234", b"139****1234")
    lines[5] = lines[5].replace(b",CNY,", b",USD,").replace(b",198.00,", b",-3,")
    lines[7] = lines[7][:40] + b"\xff\xfe" + lines[7][42:]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\r\n".join(lines))
    broken = _both(root, "import", str(bad))
    assert "不是日期" in broken["zh"] and "数量应为" in broken["zh"] and "打码" in broken["zh"]
    assert "not a date" in broken["en"] and "4 errors found" not in broken["zh"]
    odd = tmp_path / "odd.csv"
    odd.write_text("单号,金额\n1,2\n", encoding="utf-8")
    unfit = _both(root, "import", str(odd))
    assert "没有内置列映射适合这些列" in unfit["zh"] and "no built-in mapping" in unfit["en"]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    nothing = _both(root, "import", str(empty))
    unknown = _both(root, "import", "--mapping", "tmall", str(export))
    for out in (good, broken, unfit, nothing, unknown):
        _one_language(out["zh"], out["en"], theirs + "单号金额")
    for mid in ("M0001", "M0002"):
        (root / "members" / f"{mid}.yml").write_text(f"id: {mid}\nname: [unclosed\n",
                                                     encoding="utf-8")
    syntax = _both(root, "check")
    assert "YAML 语法错误" in syntax["zh"] and "YAML syntax error" in syntax["en"]
    _one_language(syntax["zh"], syntax["en"], theirs)


def test_secret_rotate_and_report_speak_one_language(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMBERPORTAL_SECRET", raising=False)
    outs = {}
    for lang in ("zh", "en"):
        root = print_project(tmp_path / lang)

        def run(*args, lang=lang, root=root):
            return CliRunner().invoke(cli, ["--lang", lang, "-C", str(root), "--as-of",
                                            PORTAL_AS_OF, *args]).output
        said = [run("verify", "ABCD-EFGH"), run("secret", "init"), run("secret", "init"),
                run("secret", "rotate-all"), run("secret", "rotate-all", "--yes"),
                run("rotate", "M0002"), run("report"), run("report", "--save-snapshot"),
                run("report")]
        (root / ".memberportal" / "last-build.json").write_text('{"tiers": 3}')
        said += [run("report"), run("--as-of", "2031-01-01", "cards", "--no-progress")]
        monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
        said += [run("secret", "init"), run("secret", "rotate-all", "--yes")]
        monkeypatch.delenv("MEMBERPORTAL_SECRET")
        outs[lang] = "\n".join(said)
        theirs = _brand_words(root)
    assert "memberportal secret init" in outs["zh"] and "已创建" in outs["zh"]
    assert "已存在" in outs["zh"] and "--yes" in outs["zh"] and "新密钥已写入" in outs["zh"]
    assert "个人主页第 1 代" in outs["zh"] and "没有上一次生成的记录" in outs["zh"]
    assert "快照格式有误" in outs["zh"] and "没有会员有进行中的挽留优惠" in outs["zh"]
    assert "exists already" in outs["en"] and "page generation 1" in outs["en"]
    assert "snapshot is malformed" in outs["en"]
    _one_language(outs["zh"], outs["en"], theirs)


def test_init_speaks_one_language(tmp_path):
    outs = {}
    for lang in ("zh", "en"):
        def run(*args, lang=lang):
            return CliRunner().invoke(cli, ["--lang", lang, "init", *args]).output
        outs[lang] = "\n".join([
            run(str(tmp_path / lang / "new"), "--name", "小禾家", "--site-url",
                "https://member.test.example/"),
            run(str(tmp_path / lang / "new"), "--name", "小禾家", "--site-url",
                "https://member.test.example/"),
            run(str(tmp_path / lang / "other")),
            run(str(tmp_path / lang / "bad"), "--name", "x", "--site-url", "member",
                "--color", "green", "--currency", "yuan"),
            run(str(tmp_path / lang / "example"), "--example"),
        ])
    assert "下一步：" in outs["zh"] and "不是空文件夹" in outs["zh"] and "--site-url：" in outs["zh"]
    assert "next:" in outs["en"] and "is not empty" in outs["en"]
    _one_language(outs["zh"], outs["en"], "小禾家" + _brand_words(tmp_path / "en" / "example"))


@pytest.mark.parametrize("args", [("chek",), ("check", "--bogus"), ("explain",),
                                  ("cards", "--layout", "wide"), ("--as-of", "1800-01-01", "check"),
                                  ("--as-of", "someday", "check"), ("inserts",),
                                  ("secret", "rotate-all")])
def test_click_usage_errors_in_one_language(brand, args):
    zh, en = (invoke("--lang", lang, "-C", str(brand), *args) for lang in ("zh", "en"))
    assert zh.exit_code == en.exit_code == 2, (zh.output, en.output)
    assert "错误：" in zh.output and "Error:" in en.output and "Error:" not in zh.output
    _one_language(zh.output, en.output)


def test_bad_images_and_broken_templates_in_one_language(tmp_path, monkeypatch):
    import io

    from PIL import Image
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = portal_project(tmp_path / "brand")
    images = root / "content" / "images"
    images.mkdir()
    png = io.BytesIO()
    Image.new("RGB", (40, 40), "teal").save(png, "PNG")
    (images / "cut.png").write_bytes(png.getvalue()[:-30])
    (images / "photo.jpg").write_bytes(png.getvalue())
    (images / "logo.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n")
    (images / "icon.svg").write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()'
                                      b'</script></svg>')
    (images / "half.svg").write_bytes(b"<svg")
    bad_images = _both(root, "build", "--no-progress")
    assert bad_images["zh"].count("图片") >= 5 and "共发现 5 处错误" in bad_images["zh"]
    assert "image: SVG with a <script> element" in bad_images["en"]
    for p in images.iterdir():
        p.unlink()
    page = root / "templates" / "member" / "page.html"
    page.parent.mkdir(parents=True)
    page.write_text("{% if member %}<p>{{ member.id }}</p>\n", encoding="utf-8")
    syntax = _both(root, "build", "--no-progress")
    assert "模板语法错误" in syntax["zh"] and "template syntax error" in syntax["en"]
    page.write_text("<p>{{ nobody.knows }}</p>\n", encoding="utf-8")
    undefined = _both(root, "build", "--no-progress")
    assert "未定义" in undefined["zh"] and "'nobody' is undefined" in undefined["en"]
    theirs = _brand_words(root) + "".join(
        p.read_text(encoding="utf-8") for p in (root / "content").rglob("*.md"))
    for out in (bad_images, syntax, undefined):
        _one_language(out["zh"], out["en"], theirs)


def test_a_broken_parcels_file_and_serves_rebuilds_in_one_language(brand):
    (brand / "bad.csv").write_text("order_id,member_id\nP-001,M0002\nP-001,M0002\n,M0001\n"
                                   "P-404,M0001,x\nX-9,NOBODY\nP-002,M0003\n", encoding="utf-8")
    (brand / "headless.csv").write_text("customer\nM0001\n", encoding="utf-8")
    outs = {lang: "\n".join(CliRunner().invoke(cli, [
        "--lang", lang, "-C", str(brand), "--as-of", PORTAL_AS_OF, *args]).output for args in (
            ("inserts", "--parcels", str(brand / "bad.csv"), "--no-progress"),
            ("inserts", "--parcels", str(brand / "headless.csv"), "--no-progress"),
            ("cards", "--parcels", str(brand / "bad.csv"), "--member", "M0001")))
        for lang in ("zh", "en")}
    assert "已在第 2 行出现过" in outs["zh"] and "缺少 order_id 列" in outs["zh"]
    assert "is already on line 2" in outs["en"] and "do not go together" in outs["en"]
    _one_language(outs["zh"], outs["en"], _brand_words(brand))


def test_serve_says_its_rebuilds_in_the_command_lines_language(tmp_path, monkeypatch):
    from memberportal.serve import rebuild
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = portal_project(tmp_path / "brand")
    said: dict[str, list[str]] = {"zh": [], "en": []}
    for lang in said:
        rebuild(root, DAY, said[lang].append, lang)
    (root / "members" / "tiers.yml").write_text("tiers: [\n", encoding="utf-8")
    for lang in said:
        rebuild(root, DAY, said[lang].append, lang)
    zh, en = "\n".join(said["zh"]), "\n".join(said["en"])
    assert "生成用时" in zh and "生成失败，继续提供上一次成功的站点" in zh and "YAML" in zh
    assert "pages rendered" in en and "still serving the last good site" in en
    _one_language(zh, en)
