"""Personal member pages: their private URL, what they show, and rendering into the shell."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from .errors import TemplateError
from .links import refused
from .messages import discount, money
from .models import Member, Program
from .portal import PRIVATE_DIR, Shell
from .rules import Status
from .templates import mask_name, render
from .tokens import page_token, referral_code

PAGE_TEMPLATE = "member/page.html"
INDEX_TEMPLATE = "member/index.html"


def member_url(site_url: str, secret: bytes, member_id: str, generation: int = 0) -> str:
    """The personal page's public address: what QR codes and printed inserts carry."""
    return f"{site_url.rstrip('/')}/{PRIVATE_DIR}/{page_token(secret, member_id, generation)}/"


@dataclass(frozen=True)
class MemberPage:
    member_id: str
    token: str
    context: dict[str, Any]
    digest: str            # hash of everything the page is made from (the manifest key)

    @property
    def path(self) -> str:
        return f"{PRIVATE_DIR}/{self.token}/index.html"


def progress(status: Status, symbol: str) -> dict[str, Any]:
    """The bar toward the next tier: where the member is, the target and what is missing."""
    t = status.tier
    points = t.basis == "points"

    def shown(v: Decimal) -> str:
        return f"{int(v):,}" if points else money(v, symbol)

    target = t.next_tier.threshold if t.next_tier else t.tier.threshold
    percent = 100 if not target else min(100, int(t.amount * 100 / target))
    return {"amount": shown(t.amount), "target": shown(target),
            "needed": shown(t.needed) if t.needed is not None else "", "percent": percent}


def page_for(member: Member, status: Status, program: Program, secret: bytes, generation: int,
             site_url: str, lang: str, fingerprint: str) -> MemberPage:
    """Everything one page shows, as a context, and the digest that decides re-rendering.

    `fingerprint` covers what all pages share (shell, templates, language, code version).
    """
    token = page_token(secret, member.id, generation)
    rule = program.ambassador
    prices = {}
    for r in status.recommendations:
        product = program.product(r.sku)
        if product and product.price:
            prices[r.sku] = product.price
    # Only what the page shows of the program, so a change elsewhere in tiers.yml (another
    # tier's threshold, a product nobody is offered) leaves this page alone.
    ctx = {
        "s": status,
        "brand": program.brand.model_dump(), "symbol": program.currency_symbol,
        "window": program.qualification.window,
        "ambassador": {"name": rule.name, "min_referrals": rule.min_referrals} if rule else None,
        "prices": prices,
        "member_name": mask_name(member.name), "consultant": member.consultant,
        "segments": list(member.segments),
        "referral_code": referral_code(secret, member.id),
        "url": f"{site_url.rstrip('/')}/{PRIVATE_DIR}/{token}/",
        "progress": progress(status, program.currency_symbol),
        "discount": discount(status.tier.tier.discount, lang),
        "offer_labels": {o.id: discount(o.discount_percent, lang) for o in status.offers},
    }
    digest = _digest([fingerprint, status.to_dict(), {k: v for k, v in ctx.items() if k != "s"}])
    return MemberPage(member.id, token, ctx, digest)


def render_page(env: jinja2.Environment, shell: Shell, page: MemberPage) -> str:
    body = render(env, PAGE_TEMPLATE, **page.context)
    stay_home(body, PAGE_TEMPLATE, f"{PRIVATE_DIR}/{page.token}")
    return shell.wrap(body)


def render_index(env: jinja2.Environment, shell: Shell, program: Program) -> str:
    """m/index.html: a neutral page, so a server's directory listing never shows the tokens."""
    body = render(env, INDEX_TEMPLATE, brand=program.brand)
    stay_home(body, INDEX_TEMPLATE, PRIVATE_DIR)
    return _one_level_up(shell.wrap(body))


def _one_level_up(html: str) -> str:
    """The shell's relative links are made for m/<token>/; m/index.html is one folder higher
    (left as they were, its links would point above the site: wrong under a sub-path)."""
    return re.sub(r"""(["'])\.\./\.\.(?=["'/])""", r"\1..", html)


def stay_home(body: str, template: str, location: str) -> None:
    """A personal page references nothing on another host and no file outside the site."""
    bad = refused(body, location)
    if bad:
        raise TemplateError(f"references {', '.join(bad)}: a personal page may only use files "
                            "inside the site (no other host, no file: URL, no ../ out of it)",
                            kind=f"template {template}")


def fingerprint(shell: Shell, search_path: list[Path], lang: str, code_version: str) -> str:
    """What every personal page depends on besides its own member and status."""
    templates = []
    for folder in search_path:
        base = folder / "member"
        if base.is_dir():
            templates += [(str(p.relative_to(folder)), p.read_bytes().hex())
                          for p in sorted(base.rglob("*")) if p.is_file()]
    return _digest([shell.digest, templates, lang, code_version])


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False,
                                     default=_plain).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (Decimal, date)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "__dict__"):
        return vars(value)
    raise TypeError(f"cannot hash {type(value).__name__}")
