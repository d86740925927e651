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

        # --- portal and personal pages (issue 3) ---
        "page.title": "我的会员主页",
        "page.my_page": "我的会员主页",
        "page.greeting": "{name}，您好",
        "page.as_of": "会员信息更新于 {date}",
        "page.tier": "会员等级",
        "page.discount": "{value}折",
        "page.keep_until": "无需再消费，{tier}也会保留至 {date}",
        "page.progress": "升级进度",
        "page.next_tier": "升级到{tier}",
        "page.still_needed": "还差",
        "page.needed_by": "在 {date} 前再消费 {amount}，即可升级为{tier}。",
        "page.window.rolling_12_months": "近 12 个月累计{basis} {amount}。等级按滚动 12 个月计算，每笔订单计入之后的 12 个月。",
        "page.window.calendar_year": "今年累计{basis} {amount}。等级按自然年计算，每年 1 月 1 日重新累计。",
        "page.window.lifetime": "累计{basis} {amount}。等级按累计金额计算，长期有效。",
        "page.basis.spend": "消费",
        "page.basis.points": "获得积分",
        "page.top_tier": "您已是最高等级：{tier}",
        "page.points": "可用积分",
        "page.expiring_soon": "即将过期",
        "page.multiplier": "积分倍率",
        "page.expires_on": "{points} 积分将于 {date} 过期，记得及时兑换",
        "page.offers": "我的优惠",
        "page.valid_until": "有效期至 {date}",
        "page.birthdays": "生日礼",
        "page.birthday.member": "妈妈的生日",
        "page.birthday.child": "{name}的 {age} 岁生日",
        "page.your_child": "宝宝",
        "page.today": "就是今天",
        "page.in_days": "还有 {days} 天",
        "page.reminders": "补货提醒",
        "page.runs_out": "预计 {date} 用完",
        "page.restock_now": "该补货了",
        "page.remind_on": "{date} 提醒",
        "page.benefits": "会员权益",
        "page.benefits_of": "{tier}权益",
        "page.for_you": "为您推荐",
        "page.for_segments": "根据您的成长阶段：{segments}",
        "page.contact": "联系我们",
        "page.consultant": "您的专属顾问",
        "page.consultant_text": "喂养、用品、售后问题，都可以直接问我",
        "page.you_are": "您是{name}",
        "page.referral_code": "我的推荐码",
        "page.referral_how": "好友下单时报上推荐码，你们都能获得积分。",
        "page.qr": "在手机上打开",
        "page.qr_text": "用手机扫一扫，随时查看积分和优惠。",
        "page.private": "这是您的专属页面，请勿转发链接。如链接外泄，请联系客服为您更换。",
        "page.index_title": "会员专属页面",
        "page.index_text": "请扫描包裹里会员卡上的二维码，打开您的专属会员主页。",
        "portal.tiers.title": "会员等级与权益",
        "portal.tiers.intro": "{brand}的会员分为以下几个等级，等级越高，折扣和权益越多。",
        "portal.tiers.entry": "首次下单即入会",
        "portal.tiers.rule.rolling_12_months": "近 12 个月{basis}满 {amount}",
        "portal.tiers.rule.calendar_year": "当年{basis}满 {amount}",
        "portal.tiers.rule.lifetime": "累计{basis}满 {amount}",
        "portal.tiers.multiplier": "积分 ×{value}",
        "portal.tiers.how": "等级怎么算",
        "portal.tiers.how.rolling_12_months": "按近 12 个月的实付{basis}计算，每天更新：每笔订单在之后的 12 个月里都计入等级。",
        "portal.tiers.how.calendar_year": "按当年 1 月 1 日起的实付{basis}计算，每年重新累计。",
        "portal.tiers.how.lifetime": "按入会以来的累计{basis}计算，等级不会降低。",
        "portal.tiers.grace": "等级降低前有 {months} 个月的保留期：保留期内权益不变。",
        "portal.tiers.refunds": "退款的订单不计入等级和积分。",
        "portal.tiers.matrix": "权益一览",
        "portal.tiers.benefit": "权益",
        "portal.birthday.member": "妈妈生日前 {days} 天起可在会员主页看到并领取",
        "portal.birthday.child": "宝宝生日前 {days} 天起可在会员主页看到并领取",
        "portal.birthday.max_age": "（宝宝 {age} 岁及以下）",
        "portal.from_tier": "（{tier}及以上）",
        "portal.offer.rule": "自首单之日起 {days} 天内有效，随首个包裹寄出的会员卡上有您的专属优惠码。",
        "portal.points.title": "积分",
        "portal.points.intro": "每实付 {symbol}1 获得 {points} 积分，等级越高，积分倍率越高。积分可以兑换礼品。",
        "portal.points.orders": "购物得积分",
        "portal.points.tier": "等级",
        "portal.points.multiplier": "积分倍率",
        "portal.points.example": "实付 {amount} 可得",
        "portal.points.multiplier_note": "倍率按下单前一天的会员等级计算。",
        "portal.points.activities": "参与活动得积分",
        "portal.points.activity": "活动",
        "portal.points.points": "积分",
        "portal.points.limit": "次数",
        "portal.points.daily": "每天最多 {n} 次",
        "portal.points.monthly": "每月最多 {n} 次",
        "portal.points.no_limit": "不限",
        "portal.points.expiry": "积分有效期",
        "portal.points.expire_after": "每笔积分自获得之日起 {months} 个月内有效，先获得的积分先使用。到期前 {days} 天，会员主页会提醒您。",
        "portal.points.never_expire": "积分长期有效。",
        "portal.points.redeem": "兑换礼品",
        "portal.points.redeem_text": "在会员主页查看可用积分，联系客服即可兑换礼品。",
        "portal.points.service": "客服：{service}",
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

        # --- portal and personal pages (issue 3) ---
        "page.title": "My member page",
        "page.my_page": "my member page",
        "page.greeting": "Hello, {name}",
        "page.as_of": "Updated {date}",
        "page.tier": "Tier",
        "page.discount": "{value}% off",
        "page.keep_until": "You keep {tier} until {date} even without another order",
        "page.progress": "Progress",
        "page.next_tier": "On the way to {tier}",
        "page.still_needed": "Still to go",
        "page.needed_by": "Spend {amount} more by {date} to reach {tier}.",
        "page.window.rolling_12_months": "{amount} {basis} in the last 12 months. Tiers count a rolling 12 months: each order counts for the 12 months after it.",
        "page.window.calendar_year": "{amount} {basis} this year. Tiers count the calendar year and start again every 1 January.",
        "page.window.lifetime": "{amount} {basis} in total. Tiers count everything, for good.",
        "page.basis.spend": "spent",
        "page.basis.points": "points earned",
        "page.top_tier": "You are at the top: {tier}",
        "page.points": "Points",
        "page.expiring_soon": "Expiring soon",
        "page.multiplier": "Points rate",
        "page.expires_on": "{points} points expire on {date}: redeem them in time",
        "page.offers": "My offers",
        "page.valid_until": "Valid until {date}",
        "page.birthdays": "Birthday gifts",
        "page.birthday.member": "Your birthday",
        "page.birthday.child": "{name} turns {age}",
        "page.your_child": "Your child",
        "page.today": "Today",
        "page.in_days": "in {days} days",
        "page.reminders": "Time to restock",
        "page.runs_out": "Runs out around {date}",
        "page.restock_now": "Restock now",
        "page.remind_on": "reminder on {date}",
        "page.benefits": "Benefits",
        "page.benefits_of": "{tier} benefits",
        "page.for_you": "Picked for you",
        "page.for_segments": "For your stage: {segments}",
        "page.contact": "Contact us",
        "page.consultant": "Your consultant",
        "page.consultant_text": "Feeding, products, after-sales: just ask me",
        "page.you_are": "You are a {name}",
        "page.referral_code": "My referral code",
        "page.referral_how": "Friends who give your code with their order earn points, and so do you.",
        "page.qr": "Open on your phone",
        "page.qr_text": "Scan to see your points and offers any time.",
        "page.private": "This page is yours alone: please do not share its link. If it leaked, ask our service team for a new one.",
        "page.index_title": "Member pages",
        "page.index_text": "Scan the QR code on the member card in your parcel to open your own member page.",
        "portal.tiers.title": "Tiers and benefits",
        "portal.tiers.intro": "{brand} members are in one of these tiers; the higher the tier, the bigger the discount and the more benefits.",
        "portal.tiers.entry": "from your first order",
        "portal.tiers.rule.rolling_12_months": "{amount} {basis} in 12 months",
        "portal.tiers.rule.calendar_year": "{amount} {basis} in a year",
        "portal.tiers.rule.lifetime": "{amount} {basis} in total",
        "portal.tiers.multiplier": "points ×{value}",
        "portal.tiers.how": "How tiers work",
        "portal.tiers.how.rolling_12_months": "Your tier follows what you {basis} in the last 12 months, updated daily: each order counts for the 12 months after it.",
        "portal.tiers.how.calendar_year": "Your tier follows what you {basis} since 1 January; it starts again every year.",
        "portal.tiers.how.lifetime": "Your tier follows what you {basis} since you joined; it never goes down.",
        "portal.tiers.grace": "Before a tier goes down you keep it for {months} more months, with all its benefits.",
        "portal.tiers.refunds": "Refunded orders count toward neither tiers nor points.",
        "portal.tiers.matrix": "Benefits at a glance",
        "portal.tiers.benefit": "Benefit",
        "portal.birthday.member": "shown on your member page from {days} days before your birthday",
        "portal.birthday.child": "shown on your member page from {days} days before your child's birthday",
        "portal.birthday.max_age": " (children up to {age})",
        "portal.from_tier": " ({tier} and above)",
        "portal.offer.rule": "Valid for {days} days from your first order; your own code is on the member card in your first parcel.",
        "portal.points.title": "Points",
        "portal.points.intro": "Every {symbol}1 you pay earns {points} points, more in higher tiers. Points exchange for gifts.",
        "portal.points.orders": "Points for orders",
        "portal.points.tier": "Tier",
        "portal.points.multiplier": "Rate",
        "portal.points.example": "Points for {amount}",
        "portal.points.multiplier_note": "The rate is the one of your tier on the day before the order.",
        "portal.points.activities": "Points for taking part",
        "portal.points.activity": "Activity",
        "portal.points.points": "Points",
        "portal.points.limit": "Limit",
        "portal.points.daily": "{n} a day",
        "portal.points.monthly": "{n} a month",
        "portal.points.no_limit": "none",
        "portal.points.expiry": "When points expire",
        "portal.points.expire_after": "Points are valid for {months} months from the day you earn them; the oldest are used first. Your member page warns you {days} days before they expire.",
        "portal.points.never_expire": "Points never expire.",
        "portal.points.redeem": "Redeeming",
        "portal.points.redeem_text": "See your points on your member page and ask our service team to exchange them for a gift.",
        "portal.points.service": " Service: {service}",
    },
}


def money(amount: Decimal | int | float, symbol: str = "¥") -> str:
    """¥3,200 for whole amounts, ¥3,200.50 otherwise."""
    value = Decimal(str(amount))
    if value == value.to_integral_value():
        return f"{symbol}{int(value):,}"
    return f"{symbol}{value:,.2f}"


def discount(percent: Decimal | int, lang: str = "zh") -> str:
    """A tier discount as shops say it: 5 -> '95折' in Chinese, '5% off' in English; 0 -> ''."""
    percent = Decimal(str(percent))
    if not percent:
        return ""
    if lang == "zh":
        value = f"{((Decimal(100) - percent) / 10).normalize():f}".replace(".", "")
        return word("page.discount", lang).format(value=value)
    return word("page.discount", lang).format(value=f"{percent.normalize():f}")


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
