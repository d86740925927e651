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
