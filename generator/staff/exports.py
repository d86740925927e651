"""The staff report's figures as JSON and its lists as CSV, from the data the HTML shows."""
from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from memberportal.render.messages import say

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one that could start a formula gets a quote."""
    text = "" if value is None else value.isoformat() if isinstance(value, date) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _num(x: Decimal | float | None):
    """Money as a JSON number (exact for the two decimals money has), None as null."""
    if x is None:
        return None
    if isinstance(x, Decimal):
        return int(x) if x == x.to_integral_value() else float(x)
    return x


def _day(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _member(m, s) -> dict:
    return {"member_id": m.id, "name": m.name, "phone": m.phone, "tier": s.tier.tier.id,
            "consultant": m.consultant, "marketing_consent": m.consent.marketing}


def report_json(data: dict, lang: str) -> dict:
    """Every figure of the report and every list in full, as plain JSON values."""
    kpi = data["kpi"]
    sym = data["program"].currency_symbol

    def words(msg) -> str:
        return say(msg, lang, sym)

    out = {
        "brand": data["brand"].name,
        "as_of": data["as_of"].isoformat(),
        "compared_with": _day(data["snapshot"].as_of) if data["snapshot"] else None,
        "revenue_12m": _num(kpi["revenue_12m"]),
        "revenue_new_12m": _num(data["new_revenue_12m"]),
        "revenue_returning_12m": _num(data["returning_revenue_12m"]),
        "revenue_month_to_date": _num(kpi["revenue_month_to_date"]),
        "revenue_by_month": [{"month": f"{mo.first:%Y-%m}", "revenue": _num(mo.total),
                              "new": _num(mo.new), "returning": _num(mo.returning)}
                             for mo in data["months"]],
        "kpi": {k: _num(v) if isinstance(v, Decimal) else v for k, v in kpi.items()},
        "members_by_tier": [{"tier": b.key, "name": b.label, "members": b.count}
                            for b in data["tiers"]],
        "members_by_stage": [{"stage": b.key, "members": b.count, "reached": b.reached}
                             for b in data["stages"]],
        "calls": [{**_member(c.member, c.status), "call_on": c.call_on.isoformat(),
                   "days_late": c.days_late,
                   "products": [{"sku": r.sku, "name": r.name, "last_order": _day(r.last_order),
                                 "run_out": _day(r.run_out)} for r in c.reminders]}
                  for c in data["calls"]],
        "tier_changes": [{**_member(ch.member, ch.status), "from": ch.before_id,
                          "to": ch.after.id, "direction": "up" if ch.up else "down",
                          "why": words(ch.status.tier.reason)}
                         for ch in data["changes"]["changed"]],
        "birthdays": [{**_member(b.member, b.status), "who": b.who, "child_name": b.child_name,
                       "date": b.date.isoformat(), "age": b.age, "gift": b.gift}
                      for b in data["birthdays"]],
        "at_risk": [{**_member(a.member, a.status), "signal": a.signal, "why": words(a.why),
                     "last_order": _day(a.rhythm.last_order),
                     "expected": _day(a.rhythm.expected), "p_alive": a.p_alive,
                     "expected_order_value": a.value,
                     "spend_12m": _num(a.status.spend_12m)} for a in data["at_risk"]],
        "about_to_drop": [{**_member(d.member, d.status), "keep_until": _day(d.keep_until),
                           "amount": _num(d.amount), "basis": d.status.tier.basis,
                           "in_grace": d.status.tier.grace_until is not None,
                           "why": words(d.why), "offer": words(d.offer) if d.offer else None}
                          for d in data["about_to_drop"]],
        "win_back": [{"member_id": w.member.id, "name": w.member.name, "phone": w.member.phone,
                      "tier": w.tier.id, "consultant": w.member.consultant,
                      "marketing_consent": w.member.consent.marketing, "value": _num(w.value),
                      "orders": w.orders, "last_order": _day(w.last_order),
                      "why": words(w.why), "offer": words(w.offer) if w.offer else None}
                     for w in data["win_back"]],
        "ambassadors_to_be": [{**_member(p.member, p.status), "eligible": p.eligible,
                               "referrals": p.status.ambassador.referrals,
                               "why": words(p.status.ambassador.reason),
                               "offer": words(p.offer)} for p in data["ambassadors_to_be"]],
    }
    return out


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for row in rows:
        w.writerow([safe_cell(v) for v in row])
    return buf.getvalue()


def csv_files(data: dict, lang: str) -> dict[str, str]:
    """The lists staff work through, one CSV each (file name -> text)."""
    calls = [[c.call_on, c.days_late, c.member.id, c.member.name, c.member.phone,
              c.status.tier.tier.name, "、".join(r.name for r in c.reminders),
              min(r.run_out for r in c.reminders), c.member.consultant,
              "yes" if c.member.consent.marketing else "no"] for c in data["calls"]]
    sym = data["program"].currency_symbol

    def words(msg) -> str:
        return say(msg, lang, sym) if msg else ""

    drop = [[d.keep_until, d.amount, d.member.id, d.member.name, d.member.phone,
             d.status.tier.tier.name, words(d.why), words(d.offer), d.member.consultant,
             "yes" if d.status.tier.grace_until else "no"]
            for d in data["about_to_drop"]]
    back = [[w.value, w.orders, w.last_order, w.member.id, w.member.name, w.member.phone,
             w.tier.name, words(w.why), words(w.offer), w.member.consultant,
             "yes" if w.member.consent.marketing else "no"] for w in data["win_back"]]
    return {
        "calls.csv": _csv(["call_on", "days_late", "member_id", "name", "phone", "tier",
                           "products", "runs_out", "consultant", "marketing_consent"], calls),
        "about-to-drop.csv": _csv(["keep_until", "amount", "member_id", "name", "phone", "tier",
                                   "to_keep", "offer", "consultant", "in_grace"], drop),
        "win-back.csv": _csv(["value", "orders", "last_order", "member_id", "name", "phone",
                              "tier", "why", "offer", "consultant", "marketing_consent"], back),
    }
