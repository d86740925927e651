"""`memberportal import`: shop exports (GBK Taobao, Shopify) into member records."""
from __future__ import annotations

import difflib
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from helpers import IMPORTS, LI, STAFF_SECRET, WANG, staff_project, tree_digest

from memberportal.cli import cli
from memberportal.errors import ValidationFailed
from memberportal.inputs.project import load
from memberportal.staff import importing

AS_OF = "2026-11-24"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    return staff_project(tmp_path / "brand")


def run(root, *args):
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", AS_OF, *args],
                                catch_exceptions=False)
    return result.exit_code, result.output


def written(root):
    """Every file but the state folder's .gitignore and the member cache (made by any read)."""
    return {k: v for k, v in tree_digest(root).items()
            if k != ".memberportal/.gitignore" and not k.startswith(".memberportal/cache/")}


def member_texts(root):
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8")
            for p in sorted((root / "members").rglob("*.yml"))}


def only_insertions(old: str, new: str) -> bool:
    ops = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines()).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in ops)


def test_taobao_export_is_gbk_and_one_line_per_row():
    raw = (IMPORTS / "taobao-orders.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "订单编号".encode("gbk") in raw


def test_taobao_gbk_import_creates_and_merges(project):
    code, out = run(project, "import", str(IMPORTS / "taobao-orders.csv"))
    assert code == 0, out
    assert "mapping taobao, GB18030" in out
    assert "5 new orders, 0 already imported, 2 unpaid (skipped)" in out

    p = load(project)
    by_name = {m.name: m for m in p.members}
    assert set(by_name) == {"王晓梅", "李娜", "赵敏", "陈静", "刘洋"}
    chen = by_name["陈静"]
    assert chen.id.startswith("M") and len(chen.id) == 11
    assert "13905711234" not in chen.id and chen.phone == "+86 139 0571 1234"
    assert chen.joined == date(2026, 9, 3)
    assert chen.region == "江苏省 南京市"  # never the street address
    assert [o.id for o in chen.orders] == ["3930021458876610245", "3941290087712345602",
                                           "3941290087712345777"]
    assert [o.refunded for o in chen.orders] == [False, False, True]  # 交易关闭 after payment
    # an empty 商家编码 falls back to the program's product of that exact title
    assert [(i.sku, i.qty, i.price) for i in chen.orders[0].items] == [
        ("DHA-60", 2, Decimal("188")), ("WASH-SET", 1, Decimal("129"))]
    # ¥145.00 for 3 does not divide: split so the cents add up exactly
    liu = by_name["刘洋"]
    assert [(i.qty, i.price) for i in liu.orders[0].items] == [(2, Decimal("48.33")),
                                                              (1, Decimal("48.34"))]
    assert liu.orders[0].total == Decimal("145.00")

    # the existing member (matched by phone 13805712231) got the order and kept everything
    wang_text = (project / "members/2025/M0001-wang-xiaomei.yml").read_text(encoding="utf-8")
    assert only_insertions(WANG, wang_text)
    assert "宝贝标题" not in wang_text and "# 2026-11 更新" in wang_text
    assert "# 顾问推荐" in wang_text and wang_text.startswith("# 金禾会员")
    wang = by_name["王晓梅"]
    assert wang.consultant == "周老师" and wang.profile["宝宝月龄"] == 20
    assert [o.id for o in wang.orders][-1] == "3921187745102238711"
    assert len(wang.activities) == 2
    # the HMAC id is stable: the same phone always gives the same id
    assert chen.id == importing.member_id_for(STAFF_SECRET.encode(), "+8613905711234")


def test_reimport_changes_nothing_byte_for_byte(project):
    export = str(IMPORTS / "taobao-orders.csv")
    assert run(project, "import", export)[0] == 0
    before = tree_digest(project / "members")
    code, out = run(project, "import", export)
    assert code == 0 and "0 new orders, 5 already imported" in out
    assert "nothing to change" in out
    assert tree_digest(project / "members") == before


def test_shopify_export_multi_row_orders_merge_by_phone(project):
    assert run(project, "import", str(IMPORTS / "taobao-orders.csv"))[0] == 0
    li_path = project / "members/2025/M0002-li-na.yml"
    code, out = run(project, "import", str(IMPORTS / "shopify-orders.csv"))
    assert code == 0, out
    assert "mapping shopify, UTF-8" in out
    assert "4 new orders, 0 already imported, 1 unpaid (skipped)" in out
    p = load(project)
    by_name = {m.name: m for m in p.members}
    # #1001 has two line-item rows; its phone matches 陈静 from the Taobao export
    chen = by_name["陈静"]
    shop = [o for o in chen.orders if o.id == "SHOP1001"]
    assert len(shop) == 1 and shop[0].channel == "shopify" and shop[0].date == date(2026, 11, 10)
    assert [(i.sku, i.qty, i.price) for i in shop[0].items] == [
        ("PUREE-12", 2, Decimal(96)), ("CUP-STRAW", 1, Decimal(79))]
    amy = by_name["Amy Zhang"]
    assert amy.phone == "+14155550134" and amy.consent.marketing is True
    assert amy.region == "California"
    assert {o.id: o.refunded for o in amy.orders} == {"SHOP1002": False, "SHOP1005": True}
    # the item without a program product keeps the export's name
    assert [i.name for i in amy.orders[0].items] == [None, None]
    # 李娜: the paid order added (phone '13905710042 matches "13905710042"), the pending skipped
    li = by_name["李娜"]
    assert [o.id for o in li.orders] == ["JD20261002118", "SHOP1004"]
    assert only_insertions(LI, li_path.read_text(encoding="utf-8"))
    assert li.children[0].birthday == date(2026, 6, 30)
    before = tree_digest(project / "members")
    assert run(project, "import", str(IMPORTS / "shopify-orders.csv"))[0] == 0
    assert tree_digest(project / "members") == before


def test_bad_rows_are_all_reported_by_line_and_nothing_is_written(project, tmp_path):
    lines = (IMPORTS / "taobao-orders.csv").read_bytes().split(b"\r\n")
    for i in (1, 2):  # an impossible payment date on both rows of one order
        lines[i] = lines[i].replace(b"2026-11-15 20:41:33", b"2026-13-45 20:41")
    lines[2] = lines[2].replace(b",2,59.00,", b",two,59.00,")  # qty: not a number
    for i in (3, 4):  # one order on two rows, its phone masked on both
        lines[i] = lines[i].replace(b"'13905711234", b"139****1234")
    lines[7] = lines[7][:40] + b"\xff\xfe" + lines[7][42:]  # not GBK
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\r\n".join(lines))
    before = written(project)
    code, out = run(project, "import", str(bad))
    assert code == 1
    reported = [ln for ln in out.splitlines() if ln.startswith(str(bad))]
    assert [int(ln.split(":")[1].split(",")[0]) for ln in reported] == [2, 3, 4, 8]
    assert "not a date: '2026-13-45 20:41'" in out and "field '订单付款时间'" in out
    assert "quantity must be a whole number" in out and "field '购买数量'" in out
    assert "the phone is masked (139****1234)" in out
    assert "cannot be read as GB18030 (byte 0xff" in out
    assert "4 errors found" in out
    assert written(project) == before
    assert not (project / ".memberportal").exists() or not any(
        (project / ".memberportal").glob("import-*"))


def test_merged_result_is_validated_before_anything_is_written(project, tmp_path):
    mapping = tmp_path / "mine.yml"
    mapping.write_text("name: mine\nchannel: own-shop\ncolumns:\n  order_id: order\n"
                       "  member_id: member\n  phone: phone\n  date: paid\n  sku: sku\n"
                       "  qty: qty\n  amount: paid_total\n", encoding="utf-8")
    export = tmp_path / "own.csv"
    export.write_text("order,member,phone,paid,sku,qty,paid_total\n"
                      "OWN-1,M0002,,2026-11-01,WIPES-80x6,1,59\n"
                      "OWN-2,bad id!,13900000000,2026-11-02,WIPES-80x6,1,59\n",
                      encoding="utf-8")
    before = written(project)
    code, out = run(project, "import", str(export), "--mapping", str(mapping))
    assert code == 1
    assert "members/2026/bad id!.yml:2, member bad id!, field 'id'" in out
    assert "nothing was written" in out
    assert written(project) == before  # M0002's valid order was not written either
    export.write_text("order,member,phone,paid,sku,qty,paid_total\n"
                      "OWN-1,M0002,,2026-11-01,WIPES-80x6,1,59\n", encoding="utf-8")
    code, out = run(project, "import", str(export), "--mapping", str(mapping))
    assert code == 0, out
    assert load(project).member("M0002").orders[-1].channel == "own-shop"


def test_a_failed_rename_puts_every_original_back(project, monkeypatch):
    p = load(project)
    plan = importing.plan_import(p, IMPORTS / "taobao-orders.csv")
    assert len(plan.changes) == 3
    before = tree_digest(project / "members")
    real, calls = importing.os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(importing.os, "replace", flaky)
    with pytest.raises(importing.InputError, match="nothing was changed"):
        importing.apply(p, plan, date(2026, 11, 24))
    assert tree_digest(project / "members") == before


def test_utf8_export_and_unknown_columns(project, tmp_path):
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text((IMPORTS / "taobao-orders.csv").read_bytes().decode("gbk"),
                    encoding="utf-8-sig", newline="")
    code, out = run(project, "import", str(utf8), "--dry-run")
    assert code == 0 and "mapping taobao, UTF-8" in out and "dry run" in out
    assert len(member_texts(project)) == 4  # dry run: nothing new
    odd = tmp_path / "odd.csv"
    odd.write_text("单号,金额\n1,2\n", encoding="utf-8")
    code, out = run(project, "import", str(odd))
    assert code == 1 and "no built-in mapping fits these columns (单号, 金额)" in out
    code, out = run(project, "import", str(odd), "--mapping", "shopify")
    assert code == 1 and "no column for order_id, date, amount" in out


@pytest.mark.parametrize("phone,expected", [
    ("13805712231", "+8613805712231"), ("+86 138 0571 2231", "+8613805712231"),
    ("0086-138-0571-2231", "+8613805712231"), ("+1 (415) 555-0134", "+14155550134"),
    ("86 138 0571 2231", "+8613805712231"), ("abc", None), ("123", None)])
def test_phone_normalisation(phone, expected):
    assert importing.normalise_phone(phone, "86") == expected


def test_cells_as_exports_write_them():
    assert importing.clean('="3921187745102238711"') == "3921187745102238711"
    assert importing.clean("\t'13805712231 ") == "13805712231"
    assert sum(q * p for q, p in importing.unit_items(
        importing.Line("X", None, 7, Decimal("100.00")))) == Decimal("100.00")


# even runs of hanzi: its UTF-8 bytes are valid GB18030 too, read as 鍒樻磱 for 刘洋
UTF8_ROW = ('="3930021458876610299",tb_liuyang,liu***@163.com,刘洋,江苏南京 中山北路 八十八号,'
            "'13905719876,2026-09-03 09:12:44,2026-09-03 09:13:02,交易成功,婴儿湿巾,WIPES-80x6,,"
            '1,59.00,59.00,顺丰速运,="SF1409933872",\n').encode("utf-8")


def test_one_utf8_line_in_a_gbk_export_is_refused_not_read_as_other_characters(project,
                                                                              tmp_path):
    assert "鍒樻磱" in UTF8_ROW.decode("gb18030")  # no decoding error would catch it
    lines = (IMPORTS / "taobao-orders.csv").read_bytes().splitlines(keepends=True)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(b"".join(lines[:3] + [UTF8_ROW] + lines[3:]))
    before = written(project)
    code, out = run(project, "import", str(mixed))
    assert code == 1
    assert "mixed.csv:4" in out and "is UTF-8 in a GB18030 file (from byte 50 of the line)" in out
    assert "鍒樻磱" not in out and written(project) == before
    # the other way round: one GBK line in a UTF-8 export, named by line and byte
    utf8 = [ln.decode("gbk").encode("utf-8") for ln in lines]
    mixed.write_bytes(b"".join(utf8[:2] + [lines[2]] + utf8[3:]))
    code, out = run(project, "import", str(mixed))
    assert code == 1 and "mixed.csv:3" in out and "cannot be read as UTF-8 (byte 0x" in out
    assert written(project) == before


def test_encoding_detection_prefers_utf8_only_when_it_fits():
    zh = "订单编号,收货人姓名\n"
    assert importing.detect_encoding([zh.encode("utf-8")]) == "utf-8"
    assert importing.detect_encoding([zh.encode("gbk")]) == "gb18030"
    assert importing.detect_encoding([b"a,b\n"]) == "utf-8"



def test_a_merged_member_whose_status_fails_stops_the_import(project, monkeypatch):
    # Records that validate can still contradict each other once merged (a redemption the
    # balance no longer covers): the import stops, names the member file (not its staged
    # copy) and the order, and writes nothing.
    from memberportal.inputs import project as project_module
    p = load(project)
    plan = importing.plan_import(p, IMPORTS / "taobao-orders.csv")
    change = next(c for c in plan.changes if not c.new_member)
    who, had = change.members[0], len(p.member(change.members[0]).orders)
    shown = str(change.path.relative_to(project))
    real = project_module.evaluate

    def evaluate(member, *args, **kw):
        if member.id == who and len(member.orders) > had:
            raise importing.InputError("redeems 900 points but the balance is 100",
                                       args[3] if len(args) > 3 else None,
                                       field="orders", member=who, path=("orders", had))
        return real(member, *args, **kw)

    monkeypatch.setattr(project_module, "evaluate", evaluate)
    before = tree_digest(project / "members")
    with pytest.raises(ValidationFailed) as failed:
        importing.apply(p, plan, date(2026, 11, 24))
    [error] = failed.value.errors
    assert error.where.file == shown and error.member == who
    assert error.where.line > 1              # the new order's line in the merged file
    assert "nothing was written" in failed.value.message
    assert tree_digest(project / "members") == before
