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
        # --- print: inserts, retention cards, notebooks (templates/print/) ---
        "print.thanks": "{name}，谢谢你",
        "print.welcome": "欢迎成为{brand}的新会员。这是你的第一份订单，我们一件件仔细打包好了。",
        "print.again": "这是你在{brand}的第 {n} 份订单，谢谢你一直在。",
        "print.care": "如有破损或任何不满意，请先联系客服，我们马上处理。",
        "print.tier": "会员等级",
        "print.points": "可用积分",
        "print.points_expiring": "其中 {points} 分将于 {date} 到期",
        "print.to_next": "再消费 {amount}，升级{tier}",
        "print.to_next_points": "再得 {amount} 积分，升级{tier}",
        "print.top_tier": "你已是最高等级会员",
        "print.offer_kicker": "新会员专享",
        "print.offer_until": "有效期至 {date}",
        "print.offer_how": "下单时把券码发给客服，或扫码出示",
        "print.code": "券码",
        "print.reminders": "补货提醒",
        "print.run_out": "约 {date} 用完",
        "print.birthday": "生日礼",
        "print.birthday_member": "你的生日（{date}）快到了，{gift}已经为你备好。",
        "print.birthday_child": "{child}{age} 岁生日（{date}）快到了，{gift}已经为宝宝备好。",
        "print.baby": "宝宝",
        "print.recommend": "为你挑选",
        "print.scan": "扫码进入你的会员主页",
        "print.scan_detail": "积分明细、会员权益、补货提醒，随时查看",
        "print.order": "订单",
        "card.kicker": "新会员礼遇",
        "card.holder": "持卡会员",
        "card.until": "有效期至",
        "card.how": "使用方法",
        "card.how_1": "挑选任意一件商品下单",
        "card.how_2": "把券码发给客服，或扫码出示",
        "card.how_3": "核销后立减，每张卡限用一次",
        "card.note": "券码由{brand}签发，可离线核验；请勿转借。",
        "notebook.title": "我的成长笔记",
        "notebook.owner": "这本笔记属于",
        "notebook.story": "品牌故事",
        "notebook.handbook": "会员手册",
        "notebook.tiers": "会员等级",
        "notebook.threshold_spend": "近 12 个月消费满 {amount}",
        "notebook.threshold_points": "近 12 个月获得 {amount} 积分",
        "notebook.threshold_zero": "注册即是",
        "notebook.discount": "会员价 {n}% off",
        "notebook.multiplier": "积分 × {n}",
        "notebook.points": "积分",
        "notebook.points_rule": "每实付 ¥1 得 {n} 积分，按会员等级加倍。",
        "notebook.points_expire": "积分自获得之日起 {n} 个月内有效，兑换时先用最早获得的积分。",
        "notebook.grace": "消费回落后，会员等级仍保留 {n} 个月。",
        "notebook.activities": "更多赚积分的方式",
        "notebook.per_day": "每天 {n} 次",
        "notebook.per_month": "每月 {n} 次",
        "notebook.gifts": "生日礼",
        "notebook.gift_member": "妈妈生日",
        "notebook.gift_child": "宝宝生日",
        "notebook.days_before": "提前 {n} 天寄出",
        "notebook.offer": "新会员礼",
        "notebook.offer_days": "首单后 {n} 天内有效",
        "notebook.benefits": "会员权益",
        "notebook.notes": "笔记",
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
        # --- print: inserts, retention cards, notebooks (templates/print/) ---
        "print.thanks": "Thank you, {name}",
        "print.welcome": "Welcome to {brand}. This is your first order, packed piece by piece with care.",
        "print.again": "This is your order no. {n} with {brand}. Thank you for staying with us.",
        "print.care": "If anything arrived damaged or is not right, tell us first and we will fix it.",
        "print.tier": "Tier",
        "print.points": "Points",
        "print.points_expiring": "{points} of them expire on {date}",
        "print.to_next": "{amount} more to reach {tier}",
        "print.to_next_points": "{amount} more points to reach {tier}",
        "print.top_tier": "You are at our top tier",
        "print.offer_kicker": "For new members",
        "print.offer_until": "Valid until {date}",
        "print.offer_how": "Send the code to our service team when you order, or show the QR",
        "print.code": "Code",
        "print.reminders": "Running low soon",
        "print.run_out": "runs out around {date}",
        "print.birthday": "Birthday gift",
        "print.birthday_member": "Your birthday ({date}) is coming: {gift} is ready for you.",
        "print.birthday_child": "{child} turns {age} on {date}: {gift} is ready.",
        "print.baby": "Your baby",
        "print.recommend": "Picked for you",
        "print.scan": "Scan for your member page",
        "print.scan_detail": "points, benefits and reminders, any time",
        "print.order": "Order",
        "card.kicker": "New member card",
        "card.holder": "Member",
        "card.until": "Valid until",
        "card.how": "How to use",
        "card.how_1": "Choose any one item",
        "card.how_2": "Send the code to our service team, or show the QR",
        "card.how_3": "Once redeemed the card is used up",
        "card.note": "Issued by {brand}; the code can be verified offline. Not transferable.",
        "notebook.title": "My notebook",
        "notebook.owner": "This notebook belongs to",
        "notebook.story": "Our story",
        "notebook.handbook": "Member handbook",
        "notebook.tiers": "Tiers",
        "notebook.threshold_spend": "{amount} spent in 12 months",
        "notebook.threshold_points": "{amount} points earned in 12 months",
        "notebook.threshold_zero": "from the day you join",
        "notebook.discount": "{n}% member discount",
        "notebook.multiplier": "points × {n}",
        "notebook.points": "Points",
        "notebook.points_rule": "{n} point per ¥1 paid, multiplied by your tier.",
        "notebook.points_expire": "Points last {n} months from the day they are earned; the oldest are used first.",
        "notebook.grace": "A tier is kept for {n} months after spending falls below it.",
        "notebook.activities": "More ways to earn points",
        "notebook.per_day": "{n} a day",
        "notebook.per_month": "{n} a month",
        "notebook.gifts": "Birthday gifts",
        "notebook.gift_member": "Your birthday",
        "notebook.gift_child": "Your baby's birthday",
        "notebook.days_before": "sent {n} days ahead",
        "notebook.offer": "New member gift",
        "notebook.offer_days": "valid {n} days from the first order",
        "notebook.benefits": "Member benefits",
        "notebook.notes": "Notes",
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
