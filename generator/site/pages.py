"""Personal member pages: their private URL, what they show, and rendering into the shell."""
from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from memberportal import code_fingerprint
from memberportal.core.codes import code_anchor, make_code
from memberportal.core.models import Member, Program
from memberportal.core.rules import Status
from memberportal.core.tokens import page_token, referral_code
from memberportal.errors import BuildError, InputError, MemberPortalError, TemplateError, worded
from memberportal.layout import PRIVATE_DIR
from memberportal.render.colors import tier_palette
from memberportal.render.messages import discount, money
from memberportal.render.templates import mask_name, render
from memberportal.site.links import refused
from memberportal.site.portal import Shell

PAGE_TEMPLATE = "member/page.html"
INDEX_TEMPLATE = "member/index.html"


@dataclass(frozen=True)
class MemberPage:
    member_id: str
    token: str
    context: dict[str, Any]
    digest: str            # hash of everything the page is made from (the manifest key)

    @property
    def path(self) -> str:
        return f"{PRIVATE_DIR}/{self.token}/index.html"


def shown_amount(status: Status, value: Decimal | None, symbol: str) -> str:
    """A tier amount as the member reads it: money, or points for a points basis."""
    if value is None:
        return ""
    return f"{int(value):,}" if status.tier.basis == "points" else money(value, symbol)


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
    shown_skus = [r.sku for r in status.recommendations] + [r.sku for r in status.reminders]
    shown_skus += list(status.churn.lapsed)
    links = {sku: url for sku in shown_skus if (url := program.product_url(sku))}
    code = referral_code(secret, member.id)
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
        "referral_code": code,
        "referral_url": referral_url(program, site_url, code),
        "shop_links": links,
        "lapsed": [{"sku": sku, "name": program.product(sku).name} for sku in status.churn.lapsed],
        "earn": {"per_unit": float(program.points.per_currency_unit),
                 "activities": [{"name": a.name, "points": a.points,
                                 "daily": a.daily_limit, "monthly": a.monthly_limit}
                                for a in program.activities.values()]},
        "token": token,
        "url": f"{site_url.rstrip('/')}/{PRIVATE_DIR}/{token}/",
        "progress": progress(status, program.currency_symbol),
        "keep_needed": shown_amount(status, status.tier.keep_needed, program.currency_symbol),
        "keep_needed_by": shown_amount(status, status.tier.keep_needed_by,
                                       program.currency_symbol),
        "discount": discount(status.tier.tier.discount, lang),
        "palette": tier_palette(status.tier.tier.color),
        "offer_labels": {o.id: discount(o.discount_percent, lang) for o in status.offers},
        # The same code the retention card prints, so the member can use it without the card.
        "codes": {o.id: make_code(secret, member.id, o.id, o.valid_until)
                  for o in status.offers if o.active},
        "code_anchors": {o.id: code_anchor(o.id) for o in status.offers},
    }
    # repr() of the status is complete (dataclasses and pydantic models show every field),
    # stable across processes and six times faster than hashing to_dict(); the rest of the
    # context is plain data (str, int, Decimal, dicts built in a fixed order), whose repr is
    # as complete and twice as fast as JSON. The code version in `fingerprint` covers a
    # change of either format.
    rest = {k: v for k, v in ctx.items() if k != "s"}
    digest = hashlib.sha256(f"{fingerprint}\0{status!r}\0{rest!r}".encode()).hexdigest()
    return MemberPage(member.id, token, ctx, digest)


def referral_url(program: Program, site_url: str, code: str) -> str:
    """The address a member shares: the ambassador rule's share_url with {code}, else the
    portal's join page carrying the code (it shows the code to quote at checkout)."""
    rule = program.ambassador
    if rule and rule.share_url:
        return rule.share_url.replace("{code}", code)
    return f"{site_url.rstrip('/')}/join/?ref={code}"


def render_index(env: jinja2.Environment, shell: Shell, program: Program) -> str:
    """m/index.html: a neutral page, so a server's directory listing never shows the tokens."""
    body = render(env, INDEX_TEMPLATE, brand=program.brand)
    stay_home(body, INDEX_TEMPLATE, PRIVATE_DIR)
    return _one_level_up(shell.wrap(body))


def _one_level_up(html: str) -> str:
    """The shell's relative links are made for m/<token>/; m/index.html is one folder higher
    (left as they were, its links would point above the site: wrong under a sub-path)."""
    return re.sub(r"""(["'])\.\./\.\.(?=["'/])""", r"\1..", html)


_ANCHOR = re.compile(r'<a\s[^>]*?href="([^"]+)"', re.I)


def stay_home(body: str, template: str, location: str,
              links: frozenset[str] = frozenset()) -> None:
    """A personal page references nothing on another host and no file outside the site;
    `links` are the shop's addresses it may link to (followed by a reader, never loaded)."""
    bad = refused(body, location)
    if links and bad:
        # a shop address passes only where each of its occurrences is an <a href>
        anchors = Counter(html.unescape(u) for u in _ANCHOR.findall(body))
        bad = [u for u in bad if u not in links or
               body.count(html.escape(u)) + body.count(u) * (html.escape(u) != u)
               != anchors[u]]
    if bad:
        raise TemplateError(**worded("template.leaves_site", refs=", ".join(bad)),
                            kind=f"template {template}")


# --- rendering in batches, on any worker --------------------------------------------------


@dataclass(frozen=True)
class PageJob:
    """What every worker needs once, as plain data: no project folder, no secret."""

    key: str                               # hash of all the rest: the pages' common inputs
    sources: tuple[tuple[str, str], ...]   # (name, source) of every template a page loads
    head: str
    tail: str
    lang: str
    symbol: str
    code: str                              # the code version the pages are rendered with
    address: str = "您"                    # the program's form of address


def page_job(shell: Shell, search_path: list[Path], lang: str, symbol: str,
             code: str, address: str = "您") -> PageJob:
    """The templates a personal page loads (resolved through the search path) and the shell."""
    sources = page_sources(search_path)
    key = _digest([shell.digest, sources, lang, symbol, code, address])
    return PageJob(key, sources, shell.head, shell.tail, lang, symbol, code, address)


def page_sources(search_path: list[Path]) -> tuple[tuple[str, str], ...]:
    """member/page.html and everything it extends, includes or imports, as resolved now.

    A name computed at render time (include of a variable) cannot be followed: then every
    text template on the search path goes along.
    """
    from memberportal.render.templates import environment
    env = environment(search_path)
    todo, found = [PAGE_TEMPLATE, INDEX_TEMPLATE], {}
    while todo:
        name = todo.pop()
        if name in found:
            continue
        try:
            found[name] = env.loader.get_source(env, name)[0]
        except jinja2.TemplateNotFound:
            continue  # render() reports it, naming the template
        try:
            refs = list(jinja2.meta.find_referenced_templates(env.parse(found[name])))
        except jinja2.TemplateSyntaxError:
            continue  # render() reports it with its line
        if None in refs:
            todo += [n for n in env.loader.list_templates()
                     if n.endswith((".html", ".j2", ".svg", ".txt")) and
                     not n.startswith(("fonts/", "print/", "staff/"))]
        todo += [r for r in refs if r]
    return tuple(sorted(found.items()))


_envs: dict[str, tuple[jinja2.Environment, bytes, bytes]] = {}


def _job_env(job: PageJob) -> tuple[jinja2.Environment, bytes, bytes]:
    """The worker's environment for this job and the shell's head and tail as UTF-8, made
    once per worker process."""
    made = _envs.get(job.key)
    if made is None:
        from memberportal.render.templates import environment
        if job.code != code_fingerprint():
            raise BuildError(f"this worker runs other memberportal code ({code_fingerprint()}, "
                             f"the build needs {job.code}): install the same version on "
                             "every worker")
        env = environment([], job.lang, job.symbol, loader=jinja2.DictLoader(dict(job.sources)),
                          address=job.address)
        made = (env, job.head.encode(), job.tail.encode())
        _envs.clear()
        _envs[job.key] = made
    return made


BatchError = tuple[str, str, "str | None", "list | None"]  # class name, message, kind, said


def render_batch(job: PageJob, items: list[tuple[str, dict[str, Any]]],
                 ) -> list[tuple[str, bytes | None, BatchError | None]]:
    """Render (member id, context) pairs; each gives (id, page bytes, None) or (id, None, error).

    Errors come back as (class name, message, kind, said): plain data over any wire.
    """
    env, head, tail = _job_env(job)
    out = []
    for member_id, context in items:
        try:
            body = render(env, PAGE_TEMPLATE, **context)
            stay_home(body, PAGE_TEMPLATE, f"{PRIVATE_DIR}/{context['token']}",
                      frozenset(context.get("shop_links", {}).values()))
            out.append((member_id, b"".join((head, body.encode(), tail)), None))
        except MemberPortalError as e:
            out.append((member_id, None, (type(e).__name__, e.message, e.kind, e.said)))
        except Exception as e:  # one broken page must not stop the others
            out.append((member_id, None, ("BuildError", f"{type(e).__name__}: {e}", None, None)))
    return out


def batch_error(error: BatchError) -> MemberPortalError:
    name, message, kind, said = error
    cls = {"TemplateError": TemplateError, "InputError": InputError}.get(name, BuildError)
    return cls(message, kind=kind, said=said)


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
