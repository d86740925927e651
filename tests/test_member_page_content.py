"""What the member page offers to act on, computed from the one Status: points history with
expiry per batch, rewards, the keep-tier nudge in grace, ending offers, referral counts,
win-back; and the example brand's pages saying it."""
from __future__ import annotations

import re
import shutil
from datetime import date
from decimal import Decimal

import pytest
from helpers import REPO, member, order, program

from memberportal.core.models import Member, Program
from memberportal.core.rules import evaluate
from memberportal.core.tokens import page_token
from memberportal.inputs.secret import load_secret
from memberportal.site.build import run

AS_OF = date(2026, 11, 24)


def status(m: dict, as_of: date = AS_OF, **changes):
    return evaluate(Member.model_validate(m), Program.model_validate(program(**changes)), as_of)


def test_history_is_earned_redeemed_expired_with_each_batchs_expiry_and_lots_sum_to_balance():
    m = member(orders=[order("A", "2024-05-10", 300), order("B", "2026-03-01", 500)],
               activities=[{"type": "checkin", "date": "2026-11-01"}],
               redemptions=[{"date": "2026-04-01", "points": 200, "gift": "湿巾",
                             "reward": "wipes"}])
    s = status(m)
    kinds = [(e.date, e.kind, e.points) for e in s.points.history]
    # FIFO: the redemption takes 200 of the oldest batch; its other 100 expire 24 months on
    assert kinds == [(date(2024, 5, 10), "earned", 300), (date(2026, 3, 1), "earned", 500),
                     (date(2026, 4, 1), "redeemed", -200), (date(2026, 5, 10), "expired", -100),
                     (date(2026, 11, 1), "earned", 5)]
    earned = [e for e in s.points.history if e.kind == "earned"]
    assert [e.expires for e in earned] == [date(2026, 5, 10), date(2028, 3, 1), date(2028, 11, 1)]
    assert [(lot.date, lot.points) for lot in s.points.lots] == [(date(2028, 3, 1), 500),
                                                                 (date(2028, 11, 1), 5)]
    assert sum(lot.points for lot in s.points.lots) == s.points.balance == 505
    assert s.rewards[0].id == "wipes" and s.rewards[0].used == 1


def test_rewards_say_what_the_balance_affords_and_what_is_missing():
    m = member(orders=[order("A", "2026-10-01", 700)])
    s = status(m, rewards=[{"id": "a", "name": "A", "points": 600},
                           {"id": "b", "name": "B", "points": 1000},
                           {"id": "c", "name": "C", "points": 100, "min_tier": "gold"},
                           {"id": "d", "name": "D", "points": 100, "limit": 1}])
    assert s.points.balance == 700
    assert [(r.id, r.state, r.short) for r in s.rewards] == [
        ("a", "available", 0), ("b", "short", 300), ("c", "tier", 0), ("d", "available", 0)]


def test_a_member_in_grace_is_told_what_keeps_the_tier_today_and_on_the_last_day():
    m = member(orders=[order("A", "2025-12-01", 5000), order("B", "2026-03-10", 2756),
                       order("C", "2026-06-01", 300)])
    # diamond (8,056) until A leaves the window on 2026-12-01; then 3,056, held by grace
    s = status(m, date(2026, 12, 2), grace_months=6)
    assert s.tier.tier.id == "diamond" and s.tier.grace_until == date(2027, 5, 31)
    assert s.tier.amount == 3056 and s.tier.keep_needed == Decimal(8000 - 3056)
    # by the grace period's last day B has left the window as well: only C counts
    assert s.tier.keep_needed_by == Decimal(8000 - 300)
    # no grace, no nudge
    assert status(m, date(2026, 11, 2), grace_months=6).tier.keep_needed is None


def test_offer_ending_soon_and_days_left():
    m = member(orders=[order("A", "2025-11-25", 100)])   # valid 365 days: to 2026-11-25
    offer = status(m).offers[0]
    assert offer.active and offer.days_left == 1 and offer.ending_soon
    far = status(member(orders=[order("A", "2026-06-01", 100)])).offers[0]
    assert far.active and not far.ending_soon


def test_referral_points_count_as_referrals_when_no_friend_is_listed():
    acts = [{"type": "referral", "date": f"2026-0{i}-10"} for i in (3, 5, 6)]
    s = status(member(orders=[order("A", "2026-10-01", 100)], activities=acts))
    assert s.ambassador.referrals == 3
    # both recorded: not counted twice
    s = status(member(orders=[order("A", "2026-10-01", 100)], activities=acts,
                      referrals=["X1", "X2"]))
    assert s.ambassador.referrals == 3


# --- the example brand's pages ----------------------------------------------------------------

@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("brand")
    for name in ("members", "content"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    assert not run(root, AS_OF, show_progress=False).failures
    secret = load_secret(root)

    def page(mid: str) -> str:
        html = (root / "output" / "site" / "m" / page_token(secret, mid, 0) /
                "index.html").read_text(encoding="utf-8")
        text = re.sub(r"<[^>]+>", "", html)
        return html, re.sub(r"\s+", " ", text)
    return page


def test_grace_diamond_is_asked_to_spend_what_keeps_the_tier(pages):
    _, text = pages("M0006")   # diamond in grace at ¥7,756 of ¥8,000
    # enough on any day of grace (older orders leave the window meanwhile); today less will do
    assert "在 2027年1月11日 前再消费 ¥1,093，即可保留钻石会员" in text
    assert "现在下单，再消费 ¥244 就够了" in text
    assert "钻石会员保留期至 2027年1月11日" in text
    assert "您已是最高等级" not in text and "无需再消费" not in text


def test_an_amount_that_holds_only_today_says_today_not_a_date_that_reads_as_past(pages):
    # M0010's spend leaves the rolling window tomorrow: "在 <today> 前" read as already over
    _, text = pages("M0010")
    assert "今天之内再消费 ¥4,610，即可升级为钻石会员" in text
    assert "在 2026年11月24日 前再消费" not in text


def test_referrals_offer_urgency_win_back_and_shop_links(pages):
    assert "已推荐 3 位好友" in pages("M0021")[1]
    assert "仅剩 1 天" in pages("M0010")[1]
    html, text = pages("M0039")
    assert "我们想念你" in text and "距你上次下单已经" in text
    assert 'href="https://xiaohejia.tmall.example/search?q=MILK-3-800"' in html
    assert 'rel="noopener noreferrer"' in html


def test_points_history_newest_first_and_rewards_with_what_is_missing(pages):
    html, text = pages("M0002")        # 665 points
    assert "积分明细" in text and "还差 335 分" in text and "可兑换" in text
    days = re.findall(r"(\d{4})年(\d+)月(\d+)日 · ", text)
    assert days and days == sorted(days, key=lambda d: tuple(map(int, d)), reverse=True)
    assert "每日签到" in text and "+5" in text
