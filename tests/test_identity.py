"""Member keys of your choosing, mappings that fit real exports, imports at scale."""
from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import REPO, STAFF_SECRET, WANG, pdftotext, staff_project, tree_digest

from memberportal.cli import cli
from memberportal.inputs.project import load

AS_OF = "2026-11-24"


def run(root, *args):
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", AS_OF, *args],
                                catch_exceptions=False)
    return result.exit_code, result.output


def set_keys(root, *keys):
    tiers = root / "members" / "tiers.yml"
    tiers.write_text(tiers.read_text(encoding="utf-8") + f"\nmembers:\n  keys: [{', '.join(keys)}]\n",
                     encoding="utf-8")


def members_dir(root):
    return {k: v for k, v in tree_digest(root / "members").items()}


@pytest.fixture
def brand(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    return staff_project(tmp_path / "brand")


# A shop system's export: no names, no phones, no SKUs; the order number is unique per store.
PLAIN = """\
store,order_no,customer,paid_on,pieces,total
S1,1001,C00001,2026-03-02,2,120.00
S2,1001,C00002,2026-03-05,1,59.90
S1,1002,C00001,2026/10/28 14:20,3,300
S1,1003,C00003,2026-11-20,1,88
"""

PLAIN_MAPPING = """\
name: plain-shop
columns:
  order_id: {join: [store, order_no], separator: "-"}
  customer_id: customer
  date: paid_on
  qty: pieces
  amount: total
constant:
  channel: own-shop
  currency: CNY
default:
  sku: ORDER
"""


def test_a_plain_export_through_a_mapping_file_twice(brand, tmp_path):
    set_keys(brand, "customer_id")
    (tmp_path / "plain.yml").write_text(PLAIN_MAPPING, encoding="utf-8")
    (tmp_path / "orders.csv").write_text(PLAIN, encoding="utf-8")
    args = ("import", str(tmp_path / "orders.csv"), "--mapping", str(tmp_path / "plain.yml"))
    code, out = run(brand, *args)
    assert code == 0, out
    assert "3 new members, 4 new orders, 0 already imported, 0 unpaid (skipped), 0 errors" in out
    assert len(out.splitlines()) == 3 and "new member " not in out  # a summary, no line each
    p = load(brand)
    by_key = {m.customer_id: m for m in p.members if m.customer_id}
    assert set(by_key) == {"C00001", "C00002", "C00003"}
    one = by_key["C00001"]
    assert one.name is None and one.phone is None
    assert [o.id for o in one.orders] == ["S1-1001", "S1-1002"]  # two columns make the id
    assert {o.channel for o in one.orders} == {"own-shop"}
    assert [(i.sku, i.qty, i.total) for i in one.orders[1].items] == [
        ("ORDER", 3, Decimal("300.00"))]
    assert by_key["C00002"].orders[0].id == "S2-1001"
    assert not re.search(r"C0000\d", one.id)  # the id never shows the shop's customer id
    before = members_dir(brand)
    code, out = run(brand, *args)
    assert code == 0, out
    assert "0 new members, 0 new orders, 4 already imported" in out and "nothing to change" in out
    assert members_dir(brand) == before
    # a later export with a new order of a known customer goes to that member
    (tmp_path / "orders.csv").write_text(PLAIN + "S2,1002,C00003,2026-11-22,1,10\n",
                                         encoding="utf-8")
    code, out = run(brand, *args)
    assert code == 0 and "0 new members, 1 new orders, 4 already imported" in out
    assert [o.id for o in load(brand).member(by_key["C00003"].id).orders] == ["S1-1003", "S2-1002"]


def test_the_builtin_generic_mapping_and_what_it_says_without_the_key(brand, tmp_path):
    export = tmp_path / "orders.csv"
    export.write_text("order_id,customer_id,date,quantity,amount\n"
                      "A1,C1,2026-01-05,1,100\nA2,C2,2026-02-05,2,80.5\n", encoding="utf-8")
    code, out = run(brand, "import", str(export))  # the program still recognises phones
    assert code == 1
    assert "mapping 'generic'" in out and "write `members: {keys: [customer_id]}`" in out
    set_keys(brand, "customer_id")
    code, out = run(brand, "import", str(export))
    assert code == 0, out
    assert "mapping generic" in out and "2 new members, 2 new orders" in out
    assert {m.customer_id for m in load(brand).members} == {None, "C1", "C2"}


def test_an_order_in_another_currency_is_an_error(brand, tmp_path):
    set_keys(brand, "customer_id")
    export = tmp_path / "orders.csv"
    export.write_text("order_id,customer_id,date,quantity,amount,currency\n"
                      "A1,C1,2026-01-05,1,100,CNY\nA2,C2,2026-02-05,2,80.5,USD\n",
                      encoding="utf-8")
    code, out = run(brand, "import", str(export), "--mapping", "generic")
    assert code == 1
    assert f"{export}:3, field 'currency': order A2 is in USD; the program counts CNY" in out


TAOBAO_HEAD = "订单编号,买家会员名,收货人姓名,收货地址,联系手机,订单付款时间,订单状态,宝贝标题,商家编码,购买数量,实付金额\n"


def test_a_taobao_export_with_masked_phones(brand, tmp_path):
    set_keys(brand, "buyer", "phone")
    wang = brand / "members/2025/M0001-wang-xiaomei.yml"
    wang.write_text(WANG.replace('phone: "+86 138 0571 2231"\n',
                                 'phone: "+86 138 0571 2231"\nbuyer: xiaomei_1993\n'),
                    encoding="utf-8")
    export = tmp_path / "taobao.csv"
    export.write_text(
        TAOBAO_HEAD
        + "T1,xiaomei_1993,王晓梅,浙江省 杭州市 西湖区,138****2231,2026-11-15 20:41,交易成功,"
          "湿巾,WIPES-80x6,1,59\n"
        + "T2,sunny_mama,孙*,上海 上海市 浦东新区,158****1111,2026-11-16 10:00,交易成功,"
          "湿巾,WIPES-80x6,2,118\n",
        encoding="gbk")
    code, out = run(brand, "import", str(export))
    assert code == 0, out
    assert "1 new member, 2 new orders" in out
    p = load(brand)
    assert p.member("M0001").orders[-1].id == "T1"
    assert p.member("M0001").phone == "+86 138 0571 2231"   # never the masked one
    sun = next(m for m in p.members if m.buyer == "sunny_mama")
    assert sun.phone is None and sun.name is None           # 孙* is masked too: no name
    text = next((brand / "members" / "2026").glob(f"{sun.id}.yml")).read_text(encoding="utf-8")
    assert "****" not in text and "孙*" not in text

    # with the phone as the only key, a masked phone identifies nobody: every such row is named
    set_keys_only = (brand / "members" / "tiers.yml")
    set_keys_only.write_text(set_keys_only.read_text(encoding="utf-8").replace(
        "keys: [buyer, phone]", "keys: [phone]"), encoding="utf-8")
    export.write_text(TAOBAO_HEAD + "T3,someone,,江苏,139****0000,2026-11-17 10:00,交易成功,"
                      "湿巾,WIPES-80x6,1,59\n", encoding="gbk")
    code, out = run(brand, "import", str(export))
    assert code == 1
    assert f"{export}:2, field '联系手机': order T3: no member key (phone" in out
    assert "the phone is masked (139****0000)" in out


def test_keys_that_meet_link_records_and_a_conflict_names_both(brand, tmp_path):
    set_keys(brand, "customer_id", "phone")
    export = tmp_path / "orders.csv"
    mapping = tmp_path / "m.yml"
    mapping.write_text("name: m\ncolumns:\n  order_id: id\n  customer_id: customer\n"
                       "  phone: phone\n  date: date\n  amount: amount\ndefault:\n  sku: ORDER\n",
                       encoding="utf-8")
    # 李娜 (phone 13905710042) gets her shop customer id from a row that has both
    export.write_text("id,customer,phone,date,amount\nX1,C-LI,13905710042,2026-11-01,10\n",
                      encoding="utf-8")
    li = brand / "members/2025/M0002-li-na.yml"
    code, out = run(brand, "import", str(export), "--mapping", str(mapping))
    assert code == 0, out
    assert "0 new members, 1 new orders" in out
    assert load(brand).member("M0002").customer_id == "C-LI"
    assert 'customer_id: C-LI\njoined: 2026-10-02' in li.read_text(encoding="utf-8")
    # now C-LI is 李娜 and +86 138 0571 2231 is 王晓梅: a row with both is a conflict, and a
    # row giving 李娜's customer id with another phone is one too
    export.write_text("id,customer,phone,date,amount\n"
                      "X2,C-LI,+86 138 0571 2231,2026-11-02,10\n"
                      "X3,C-LI,13900000000,2026-11-03,10\n"
                      "X4,C-NEW,13900000001,2026-11-04,10\n", encoding="utf-8")
    before = members_dir(brand)
    code, out = run(brand, "import", str(export), "--mapping", str(mapping))
    assert code == 1
    assert (f"{export}:2: order X2: customer_id C-LI is member M0002 but phone "
            "+86 138 0571 2231 is member M0001") in out
    assert (f"{export}:3: order X3: member M0002 has phone +86 139 0571 0042, the export "
            "+86 139 0000 0000") in out
    assert "2 errors found" in out
    assert members_dir(brand) == before  # all or nothing


def test_bad_rows_are_listed_up_to_a_limit_then_counted(brand, tmp_path):
    set_keys(brand, "customer_id")
    export = tmp_path / "orders.csv"
    export.write_text("order_id,customer_id,date,quantity,amount\n"
                      + "".join(f"A{i},C{i},2026-01-05,1,free\n" for i in range(150)),
                      encoding="utf-8")
    code, out = run(brand, "import", str(export), "--mapping", "generic")
    assert code == 1
    listed = [ln for ln in out.splitlines() if ln.startswith(str(export))]
    assert len(listed) == 100 and "amount must be a number" in listed[0]
    assert "… and 50 more (not listed)" in out and "150 errors found" in out


def test_a_member_without_a_name_is_greeted_neutrally(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    root = tmp_path / "p"
    (root / "members").mkdir(parents=True)
    shutil.copy(REPO / "members" / "tiers.yml", root / "members" / "tiers.yml")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "content", root / "content")
    (root / "members" / "C1.yml").write_text(
        "id: C1\ncustomer_id: C00001\njoined: 2026-01-05\norders:\n  - id: A1\n"
        "    date: 2026-11-01\n    items: [{sku: WIPES-80x6, qty: 1, price: 59}]\n",
        encoding="utf-8")
    code, out = run(root, "build", "--no-progress")
    assert code == 0, out
    [page] = (root / "output" / "site" / "m").glob("*/index.html")
    html = page.read_text(encoding="utf-8")
    assert '<h1 class="mp-hello__name">你好</h1>' in html   # the example addresses members as 你
    assert "mp-tiercard__name" not in html and "*" not in html.split("<main", 1)[-1][:4000]
    code, out = run(root, "report")
    assert code == 0, out
    report = (root / "output" / "staff" / "report.html").read_text(encoding="utf-8")
    assert "None" not in report
    code, out = run(root, "explain", "C1")
    assert code == 0 and "C1  -  (members/C1.yml:1)" in out
    code, out = run(root, "preview", "insert", "C1")
    assert code == 0, out
    text = pdftotext(next(Path(p) for p in out.split() if p.endswith(".pdf")))
    assert "谢谢你" in text and "*" not in text
