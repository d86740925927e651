"""A referral closes its loop: the page's ref link, the join page's code, an imported order
quoting it, and the referrer's count and points on the next build."""
from __future__ import annotations

import re
import shutil
from datetime import date

import pytest
from click.testing import CliRunner
from helpers import REPO, STAFF_SECRET, chromium, open_page, serve, staff_project

from memberportal.cli import cli
from memberportal.core.tokens import page_token, referral_code
from memberportal.inputs.project import load

AS_OF = "2026-11-24"
HEADER = "订单编号,订单付款时间,联系手机,收货人姓名,商家编码,购买数量,实付金额,买家留言\n"


@pytest.fixture
def brand(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", STAFF_SECRET)
    root = staff_project(tmp_path / "brand")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    return root


def run(root, *args) -> str:
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", AS_OF, *args])
    assert result.exit_code == 0, result.output
    return result.output


def page_of(root, member_id: str) -> str:
    token = page_token(STAFF_SECRET.encode(), member_id, 0)
    return (root / "output" / "site" / "m" / token / "index.html").read_text(encoding="utf-8")


def standing(root, member_id: str):
    project = load(root)
    s = project.status(project.member(member_id), date.fromisoformat(AS_OF))
    return s.ambassador.referrals, s.points.balance


def test_ref_link_to_join_page_to_imported_order_to_referrer_credit(brand, tmp_path):
    run(brand, "build", "--no-progress")
    link = re.search(r'https?://[^<"\s]*/join/\?ref=([0-9A-Z]+)', page_of(brand, "M0001"))
    assert link and link[1] == referral_code(STAFF_SECRET.encode(), "M0001")
    # the friend opens the link: the join page reads ?ref= and shows the code to quote
    path = link[0].split("/join/", 1)[1]
    with serve(brand / "output" / "site") as base, chromium() as browser:
        seen = open_page(browser, f"{base}/join/{path}", width=390)
        plain = open_page(browser, f"{base}/join/", width=390)
    assert not seen.console_errors and not seen.foreign_requests and not plain.foreign_requests
    quoted = re.search(r"\b([0-9A-Z]{4}) ?([0-9A-Z]{4})\b", seen.text.split("订单备注")[1])
    assert quoted and quoted[1] + quoted[2] == link[1]
    assert "200" in seen.text                       # the referral activity's points, quoted
    assert link[1][:4] not in plain.text             # no ref: no code shown
    before = standing(brand, "M0001")

    export = tmp_path / "orders.csv"
    export.write_text(HEADER +
                      f"TB9001,2026-11-20 10:00,13600000001,周小雨,MILK-1-800,1,288,"
                      f"朋友推荐 推荐码 {quoted[1]} {quoted[2]} 谢谢\n"
                      f"TB9002,2026-11-21 09:00,13905710042,李娜,WIPES-80x6,1,59,{link[1]}\n"
                      f"TB9003,2026-11-21 11:00,13600000002,钱多多,WIPES-80x6,1,59,ABCD2345\n"
                      f"TB9004,2026-11-22 08:00,13600000003,孙小美,WIPES-80x6,1,59,"
                      f"请尽快发货 电话13600000003\n",
                      encoding="utf-8")
    out = run(brand, "import", str(export), "--mapping", "taobao")
    assert "TB9002: referral not credited: member M0002 had ordered before" in out
    assert "TB9003: referral not credited: ABCD2345 is no member's referral code" in out
    assert "TB9004" not in out and "尽快" not in out    # a message without a code: no note
    after = standing(brand, "M0001")
    assert after == (before[0] + 1, before[1] + 200)
    project = load(brand)
    friend = next(m for m in project.members if any(o.id == "TB9001" for o in m.orders))
    assert project.member("M0001").referrals[-1] == friend.id

    run(brand, "build", "--no-progress")
    assert f"已推荐 {after[0]} 位好友" in page_of(brand, "M0001")
    # importing the same export again credits nothing twice
    run(brand, "import", str(export), "--mapping", "taobao")
    assert standing(brand, "M0001") == after
