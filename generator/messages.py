"""The message catalogue (zh, en): rule reasons and the words our templates add."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from .rules import Msg

LANGUAGES = ("zh", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    "zh": {
        "window.rolling_12_months": "{start} 至 {as_of} 的 12 个月内",
        "window.calendar_year": "{year} 年内（截至 {as_of}）",
        "window.lifetime": "累计（截至 {as_of}）",
        "basis.spend": "消费 {amount}",
        "basis.points": "获得 {amount} 积分",
        "tier.qualified": "{window}{basis}；{tier}需 {threshold}",
        "tier.grace": "{window}{basis}，已低于{tier}门槛（{fell_below} 起）；宽限期内保留{tier}至 {until}",
        "tier.override": "员工指定为{tier}至 {until}：{why}（按规则：{computed}）",
        "points.order": "订单 {order} 实付 {amount}（{tier} × {multiplier} 倍）",
        "points.activity": "{activity}",
        "points.over_limit": "{activity}（超出次数上限，不计积分）",
        "points.redeemed": "兑换 {gift}",
        "points.expired": "积分过期",
        "churn.no_order": "尚未下单",
        "churn.lost": "已 {days} 天未下单，视为流失",
        "churn.quiet": "已 {days} 天未下单，有流失风险",
        "churn.lapsed": "{products} 已用完仍未回购",
        "churn.active": "{days} 天前下过单",
        "stage.satisfaction": "已入会，尚未下单",
        "stage.memory": "{date} 完成首单",
        "stage.retention": "已下单 {orders} 次",
        "stage.participation": "近 180 天参与了 {count} 次会员活动",
        "stage.interaction": "有专属顾问 {consultant} 和成长档案",
        "stage.cooperation": "角色：{role}",
        "ambassador.role": "角色：{role}",
        "ambassador.eligible": "已推荐 {referrals} 位好友，可受邀成为{name}",
        "ambassador.needs_tier": "已推荐 {referrals} 位好友，升至{min_tier}即可成为{name}",
        "ambassador.needs_referrals": "已推荐 {referrals} 位好友，推荐满 {min_referrals} 位可成为{name}",
        "rec.trial": "您收到过{trial}，正装在这里",
        "rec.new_for": "{segment}新品",
        "rec.for": "适合{segment}",
        "rec.new": "新品上架",
        "stage.name.satisfaction": "满意度", "stage.name.memory": "记忆度",
        "stage.name.retention": "挽留度", "stage.name.participation": "参与度",
        "stage.name.interaction": "交往度", "stage.name.cooperation": "合作度",
        "churn.name.new": "新会员", "churn.name.active": "活跃",
        "churn.name.at_risk": "有流失风险", "churn.name.lost": "已流失",
        "rfm.important_value": "重要价值", "rfm.important_keep": "重要保持",
        "rfm.important_develop": "重要发展", "rfm.important_retain": "重要挽留",
        "rfm.general_value": "一般价值", "rfm.general_keep": "一般保持",
        "rfm.general_develop": "一般发展", "rfm.general_retain": "一般挽留",
        "role.member": "会员", "role.ambassador": "品牌大使", "role.distributor": "分销伙伴",
        "role.experience_officer": "体验官",
        "offer.active": "有效", "offer.expired": "已过期", "offer.redeemed": "已使用",
        # --- staff report (templates/staff/report.html) ---
        "staff.title": "员工日报",
        "staff.confidential": "机密",
        "staff.confidential_note": "本页含会员姓名与电话，仅供店内员工使用；请勿转发、拍照或带离门店，用完请销毁打印件。",
        "staff.as_of": "数据截至",
        "staff.compared_with": "等级变动对比：{date} 的构建",
        "staff.no_snapshot_short": "尚无上次构建的记录",
        "staff.kpi.members": "会员总数",
        "staff.kpi.members_note": "本月新入会 {joined} 位 · 活跃 {active} 位",
        "staff.kpi.revenue": "近 12 个月销售额",
        "staff.kpi.revenue_note": "{buyers} 位会员下过单（不含退款）",
        "staff.kpi.returning_share": "老客销售占比",
        "staff.kpi.returning_note": "首单以外的订单：{amount}",
        "staff.kpi.repurchase": "复购率",
        "staff.kpi.repurchase_note": "下过单的会员中下单 2 次及以上的比例",
        "staff.kpi.calls": "本周待回访",
        "staff.kpi.calls_note": "其中 {late} 位已过提醒日",
        "staff.kpi.at_risk": "流失风险",
        "staff.kpi.at_risk_note": "另有已流失 {lost} 位",
        "staff.calls": "补货回访",
        "staff.calls_range": "截至 {end} · {n} 位会员 · {products} 件商品",
        "staff.calls_lead": "这些会员买的消耗品快用完了。请在提醒日联系，问问使用情况，再告知补货优惠；没有营销授权的会员只做使用提醒，不推销。",
        "staff.calls_none": "本周没有到期的补货回访。",
        "staff.col.call_on": "提醒日", "staff.col.member": "会员", "staff.col.phone": "电话",
        "staff.col.product": "商品", "staff.col.runs_out": "预计用完",
        "staff.col.consultant": "顾问", "staff.col.consent": "营销授权", "staff.col.done": "已联系",
        "staff.col.change": "变动", "staff.col.from_to": "原等级 → 现等级", "staff.col.why": "原因",
        "staff.col.date": "日期", "staff.col.whose": "谁的生日", "staff.col.gift": "礼物",
        "staff.col.last_order": "最近下单", "staff.col.spend_12m": "近 12 个月消费",
        "staff.late": "逾期 {days} 天",
        "staff.today": "今天",
        "staff.last_bought": "上次购买 {date}",
        "staff.consent_yes": "已授权",
        "staff.consent_no": "仅提醒",
        "staff.changes": "等级变动",
        "staff.changes_since": "自 {date} 的构建以来 · {n} 位",
        "staff.changes_lead": "规则调整或新订单后等级变化的会员。升级的请发祝贺；降级的请先核对原因，必要时由顾问联系说明。",
        "staff.changes_none": "自上次构建以来没有会员的等级发生变化。",
        "staff.changes_new": "另有新会员 {new} 位，记录已删除的会员 {gone} 位。",
        "staff.no_snapshot": "还没有上次构建的记录，无法对比。运行 memberportal build（或 memberportal report --save-snapshot）后，下一份报表会列出等级变化。",
        "staff.up": "升级", "staff.down": "降级",
        "staff.per_tier": "各等级会员",
        "staff.people": "位",
        "staff.funnel": "六度关系漏斗",
        "staff.reached": "达到",
        "staff.here_now": "停留于此",
        "staff.revenue": "近 12 个月销售额：老客与新客",
        "staff.revenue_split": "老客 {returning} · 新客首单 {new}",
        "staff.new_revenue": "新客首单",
        "staff.returning_revenue": "老客复购",
        "staff.month": "{month}月",
        "staff.short_date": "{month}月{day}日",
        "staff.birthdays": "本月生日",
        "staff.count": "{n} 位",
        "staff.birthday_member": "本人 {age} 岁",
        "staff.birthday_child": "{name} {age} 岁",
        "staff.child": "宝宝",
        "staff.birthdays_none": "本月没有会员或宝宝过生日。",
        "staff.churn": "流失风险名单",
        "staff.churn_lead": "按近 12 个月消费从高到低排列：先联系最有价值的会员。",
        "staff.churn_none": "目前没有流失风险的会员。",
        "staff.footer": "{brand} · 员工日报 · 数据截至 {date} · 由 memberportal 生成 · 机密",
    },
    "en": {
        "window.rolling_12_months": "in the 12 months {start} to {as_of}",
        "window.calendar_year": "in {year} (to {as_of})",
        "window.lifetime": "in total (to {as_of})",
        "basis.spend": "{amount} spent",
        "basis.points": "{amount} points earned",
        "tier.qualified": "{basis} {window}; {tier} needs {threshold}",
        "tier.grace": "{basis} {window}, below {tier} since {fell_below}; {tier} is kept by grace until {until}",
        "tier.override": "set to {tier} by staff until {until}: {why} (by the rules: {computed})",
        "points.order": "order {order}, {amount} paid ({tier} × {multiplier})",
        "points.activity": "{activity}",
        "points.over_limit": "{activity} (over the limit, no points)",
        "points.redeemed": "redeemed for {gift}",
        "points.expired": "points expired",
        "churn.no_order": "no order yet",
        "churn.lost": "no order for {days} days: lost",
        "churn.quiet": "no order for {days} days: at risk",
        "churn.lapsed": "{products} ran out and was not bought again",
        "churn.active": "last order {days} days ago",
        "stage.satisfaction": "joined, no order yet",
        "stage.memory": "first order on {date}",
        "stage.retention": "{orders} orders",
        "stage.participation": "{count} member activities in the last 180 days",
        "stage.interaction": "has consultant {consultant} and a profile",
        "stage.cooperation": "role: {role}",
        "ambassador.role": "role: {role}",
        "ambassador.eligible": "{referrals} friends referred: can be invited as {name}",
        "ambassador.needs_tier": "{referrals} friends referred: reach {min_tier} to become {name}",
        "ambassador.needs_referrals": "{referrals} friends referred; {min_referrals} make a {name}",
        "rec.trial": "you tried {trial}; here is the full size",
        "rec.new_for": "new for {segment}",
        "rec.for": "for {segment}",
        "rec.new": "new arrival",
        "stage.name.satisfaction": "satisfaction", "stage.name.memory": "memory",
        "stage.name.retention": "retention", "stage.name.participation": "participation",
        "stage.name.interaction": "interaction", "stage.name.cooperation": "cooperation",
        "churn.name.new": "new", "churn.name.active": "active",
        "churn.name.at_risk": "at risk", "churn.name.lost": "lost",
        "rfm.important_value": "champion", "rfm.important_keep": "valuable, slipping",
        "rfm.important_develop": "big spender, new", "rfm.important_retain": "big spender, lost",
        "rfm.general_value": "loyal, small baskets", "rfm.general_keep": "regular, slipping",
        "rfm.general_develop": "recent, small", "rfm.general_retain": "dormant",
        "role.member": "member", "role.ambassador": "ambassador", "role.distributor": "distributor",
        "role.experience_officer": "experience officer",
        "offer.active": "active", "offer.expired": "expired", "offer.redeemed": "redeemed",
        # --- staff report (templates/staff/report.html) ---
        "staff.title": "Staff report",
        "staff.confidential": "Confidential",
        "staff.confidential_note": "This page shows members' names and phone numbers. For shop staff only: do not forward, photograph or take it out of the shop; shred printouts after use.",
        "staff.as_of": "Data as of",
        "staff.compared_with": "Tier changes compared with the build of {date}",
        "staff.no_snapshot_short": "No previous build recorded yet",
        "staff.kpi.members": "Members",
        "staff.kpi.members_note": "{joined} joined this month · {active} active",
        "staff.kpi.revenue": "Revenue, last 12 months",
        "staff.kpi.revenue_note": "{buyers} members have ordered (refunds excluded)",
        "staff.kpi.returning_share": "Returning revenue share",
        "staff.kpi.returning_note": "orders after the first: {amount}",
        "staff.kpi.repurchase": "Repurchase rate",
        "staff.kpi.repurchase_note": "of members who ordered, the share who ordered twice or more",
        "staff.kpi.calls": "Calls due this week",
        "staff.kpi.calls_note": "{late} past their reminder day",
        "staff.kpi.at_risk": "At risk",
        "staff.kpi.at_risk_note": "plus {lost} lost",
        "staff.calls": "Replenishment calls",
        "staff.calls_range": "to {end} · {n} members · {products} products",
        "staff.calls_lead": "These members will soon run out of a consumable. Call on the reminder day, ask how it is going, then mention the reorder offer; members without marketing consent get the reminder only, no selling.",
        "staff.calls_none": "No replenishment calls are due this week.",
        "staff.col.call_on": "Call on", "staff.col.member": "Member", "staff.col.phone": "Phone",
        "staff.col.product": "Product", "staff.col.runs_out": "Runs out",
        "staff.col.consultant": "Consultant", "staff.col.consent": "Marketing", "staff.col.done": "Done",
        "staff.col.change": "Change", "staff.col.from_to": "From → to", "staff.col.why": "Why",
        "staff.col.date": "Date", "staff.col.whose": "Whose", "staff.col.gift": "Gift",
        "staff.col.last_order": "Last order", "staff.col.spend_12m": "Spent, 12 months",
        "staff.late": "{days} days late",
        "staff.today": "today",
        "staff.last_bought": "last bought {date}",
        "staff.consent_yes": "yes",
        "staff.consent_no": "reminder only",
        "staff.changes": "Tier changes",
        "staff.changes_since": "since the build of {date} · {n}",
        "staff.changes_lead": "Members whose tier changed after a rule change or new orders. Congratulate the ones who went up; for the ones who went down, check why first and let their consultant explain if needed.",
        "staff.changes_none": "No member changed tier since the last build.",
        "staff.changes_new": "Also {new} new members, and {gone} members whose records were removed.",
        "staff.no_snapshot": "No previous build is recorded, so there is nothing to compare with. After memberportal build (or memberportal report --save-snapshot) the next report lists tier changes.",
        "staff.up": "up", "staff.down": "down",
        "staff.per_tier": "Members per tier",
        "staff.people": "",
        "staff.funnel": "The six degrees",
        "staff.reached": "reached",
        "staff.here_now": "here now",
        "staff.revenue": "Revenue, last 12 months: returning and new",
        "staff.revenue_split": "returning {returning} · first orders {new}",
        "staff.new_revenue": "first orders",
        "staff.returning_revenue": "returning",
        "staff.month": "{month}/{yy}",
        "staff.short_date": "{month}/{day}",
        "staff.birthdays": "Birthdays this month",
        "staff.count": "{n}",
        "staff.birthday_member": "the member, {age}",
        "staff.birthday_child": "{name}, {age}",
        "staff.child": "child",
        "staff.birthdays_none": "No member or child has a birthday this month.",
        "staff.churn": "At risk of leaving",
        "staff.churn_lead": "Most valuable first (spend in the last 12 months): call these first.",
        "staff.churn_none": "No member is at risk right now.",
        "staff.footer": "{brand} · staff report · data as of {date} · made by memberportal · confidential",
    },
}


def money(amount: Decimal | int | float, symbol: str = "¥") -> str:
    """¥3,200 for whole amounts, ¥3,200.50 otherwise."""
    value = Decimal(str(amount))
    if value == value.to_integral_value():
        return f"{symbol}{int(value):,}"
    return f"{symbol}{value:,.2f}"


def day(d: date, lang: str = "zh") -> str:
    return f"{d.year}年{d.month}月{d.day}日" if lang == "zh" else d.isoformat()


def word(key: str, lang: str = "zh") -> str:
    """One catalogue entry, falling back to Chinese, then to the key itself."""
    return CATALOGUE.get(lang, {}).get(key) or CATALOGUE["zh"].get(key, key)


def say(msg: Msg, lang: str = "zh", symbol: str = "¥") -> str:
    """A rule's reason as a sentence in `lang`."""
    params: dict[str, Any] = {}
    for k, v in msg.params.items():
        if isinstance(v, Msg):
            v = say(v, lang, symbol)
        elif isinstance(v, date):
            v = day(v, lang)
        elif isinstance(v, Decimal) and k in ("amount", "threshold", "needed"):
            v = f"{int(v):,}" if msg.params.get("basis") == "points" else money(v, symbol)
        elif k == "role":
            v = word(f"role.{v}", lang)
        params[k] = v
    if "window" in params and "basis" in params:
        params["window"] = word(f"window.{params['window']}", lang).format(
            year=msg.params["as_of"].year, **params)
        params["basis"] = word(f"basis.{params['basis']}", lang).format(**params)
    return word(msg.key, lang).format(**params)
