"""One exception family: every error says where it is (file, line, field, member)."""
from __future__ import annotations

import functools
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True, order=True)
class Where:
    """A place in an input file; line is 1-based, 0 when unknown."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class MemberPortalError(Exception):
    """Base of every error this tool reports to a user (never a traceback)."""

    def __init__(self, message: str, where: Where | None = None, field: str | None = None,
                 member: str | None = None, kind: str | None = None, path: tuple = (),
                 said: list[tuple[str, dict]] | None = None):
        super().__init__(message)
        self.message = message
        # the message as catalogue entries (key, params), joined: the command line says it in
        # its language when the catalogue has every part, else says `message`
        self.said = said
        self.where = where
        self.field = field
        self.member = member
        self.kind = kind
        self.path = path  # inside the member's record; the project turns it into a line

    def __str__(self) -> str:
        head = [str(self.where)] if self.where else []
        if self.kind:
            head.append(self.kind)
        if self.member:
            head.append(f"member {self.member}")
        if self.field:
            head.append(f"field '{self.field}'")
        return (": ".join([", ".join(head), self.message]) if head else self.message)

    def __reduce__(self):  # from a render worker with all it says (`said` too), not only text
        return (_remade, (type(self), self.message, dict(self.__dict__)))


def _remade(cls: type, message: str, state: dict) -> MemberPortalError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


# What the errors below say in English, as raised (logged, tested, and what --lang en shows);
# render/messages.py words the same keys in the other languages.
ENGLISH = {
    "error.day_range": "a date between {first} and {last} is expected, not {day}",
    "error.one_redemption": "only 1 is supported: each member can redeem the offer once",
    "error.lost_after_warn": "lost_days must be greater than warn_days",
    "error.bounds_down": "{name} needs 4 bounds from best to worst",
    "error.bounds_up": "needs 4 bounds in increasing order",
    "error.key_once": "each key is named once",
    "error.tier_twice": "tier id '{id}' is used twice",
    "error.unknown_benefit": "unknown benefit '{name}'; known: {known}",
    "error.first_threshold": "the first tier's threshold must be 0",
    "error.thresholds_increase": "thresholds must increase from tier to tier",
    "error.unknown_tier": "unknown tier '{name}'; known: {known}",
    "error.sku_twice": "sku '{sku}' is listed twice",
    "error.reward_twice": "reward id '{id}' is used twice",
    "error.unknown_sku": "unknown sku '{sku}'",
    "error.name_invisible":
        "the name has no visible characters (only spaces, zero-width or invisible ones)",
    "error.name_control":
        "the name holds a control or direction-changing character ({code}): it would show as "
        "something it is not",
    "error.phone_unquoted":
        "write the phone number in quotes (\"{phone}\"): unquoted, YAML reads it as a number "
        "and drops a leading + or 0",
    "error.phone_masked":
        "the phone is masked ({phone}); write the full number or leave the phone out",
    "error.phone_digits": "a phone number is digits, optionally with a leading +, spaces or dashes",
    "error.unknown_activity": "unknown activity '{name}'; known: {known}",
    "error.unknown_reward": "unknown reward '{name}'; known: {known}",
    "error.order_twice": "order id '{id}' appears twice",
    "error.child_before": "a child born before the member",
    "error.did_you_mean": "; did you mean {close}?",
    "error.no_member": "no member with id '{id}'",
    "error.sku_not_in_program": "SKU '{sku}' is not in the program's products",
    "error.empty_member_file": "empty file: a member file holds one member or a list",
    "error.member_mapping": "a member is a mapping of fields (id, name, phone…)",
    "error.program_mapping": "the program file must be a mapping of settings",
    "error.id_used": "member id '{id}' is already used at {at}",
    "error.referral_self": "referral refers to itself",
    "error.referral_unknown": "referral unknown member '{id}'",
    "error.referral_claimed":
        "referral '{id}' is also claimed by member {other} ({at}): a friend is referred by "
        "one member, {other} or {member}",
    "error.order_elsewhere": "order id '{id}' also belongs to member {member}",
    "warn.placeholders":
        "{n} sample member(s) left ({ids}): delete them once your own members are in",
    "warn.example_members": "{n} of the example brand's members left ({ids}): delete them",
    "error.no_config": "no {file}: the portal needs one (site_name, site_url, theme material)",
    "error.cannot_read": "cannot read: {why}",
    "error.config_mapping": "must be a mapping of settings",
    "error.site_url":
        "site_url must be the portal's full address, e.g. https://member.example.com/ (QR "
        "codes and printed links use it)",
    "error.site_name":
        "site_name '{name}' does not name the brand of {file} ('{brand}'); write the brand's "
        "name there, or leave site_name out and the build uses brand.name",
    "error.example_copyright": "copyright names the example brand ({name}); write your brand's",
    "error.example_name": "brand.name is the example brand's ({name}); write your brand's name",
    "error.example_url":
        "site_url is the example brand's address ({url}): every QR code would send members "
        "there; write your portal's address",
    "error.secret_how": "make one with `memberportal secret init`",
    "error.secret_restore":
        "Restore {file} (and {rotations}) from your backup; to change it on purpose (every "
        "page address and printed QR code changes) run `memberportal secret rotate-all`",
    "error.secret_ascii":
        "the secret must be printable ASCII text (letters, digits, punctuation); ",
    "error.secret_short": "the secret is too short: use at least {n} characters; ",
    "error.secret_weak":
        "the secret is too weak: it has {n} different characters or repeats a shorter text "
        "(at least {min} different ones are needed); ",
    "error.secret_link":
        "the secret file is a link (to {to}): refused; put the secret itself in the file",
    "error.secret_special": "the secret is not a regular file: refused",
    "error.secret_differs":
        "${env} differs from {file}: one of them is not the brand's secret; unset the "
        "variable or remove the file, whichever is wrong",
    "error.no_secret": "no secret: set {env} or run `memberportal secret init` to create {file}",
    "error.no_secret_built":
        "no secret, but pages were built before ({built} exists): a new secret would change "
        "every page address and printed QR code. ",
    "error.secret_not_live":
        "this is not the secret the live site was built with ({manifest}); building with it "
        "would change every page address and printed QR code. ",
    "error.yaml_tag": "tag {tag} is not allowed (only plain values)",
    "error.yaml_as_int": "cannot read {value} as a whole number (!!int)",
    "error.yaml_as_float": "cannot read {value} as a number (!!float)",
    "error.yaml_as_bool": "cannot read {value} as true or false (!!bool)",
    "error.yaml_as_null": "cannot read {value} as nothing (!!null)",
    "error.yaml_as_timestamp": "cannot read {value} as a date, YYYY-MM-DD (!!timestamp)",
    "error.yaml_date": "impossible date {value} ({why})",
    "error.yaml_key": "a key must be plain text",
    "error.yaml_merge": "YAML merge keys (<<) are not allowed",
    "error.yaml_duplicate": "duplicate key '{name}' (first at line {first})",
    "error.yaml_alias":
        "YAML anchors and aliases (&name / *name) are not allowed; write the value out",
    "error.yaml_depth": "nested more than {n} levels deep",
    "error.not_utf8": "not UTF-8 (byte {byte}); save the file as UTF-8",
    "error.ledger_header": "the ledger's header must be {header}",
    "error.ledger_row": "incomplete ledger row",
    "error.not_utf16":
        "the file starts with a UTF-16 mark but is not UTF-16 (from byte {at}); export it "
        "again",
    "error.secret_env_init":
        "${env} is set: that is the secret; unset it to keep one in {file}",
    "error.secret_exists":
        "{file} exists already; `memberportal secret rotate-all` replaces it (every page "
        "address changes)",
    "error.secret_env_rotate": "${env} is set: change it where it is kept, not here",
    "error.rotations_behind":
        "{file} is missing or older than the live site: revoked page addresses would work "
        "again for ",
    "error.rotations_member": "{member} (generation {built}, now {now})",
    "error.list_sep": ", ",
    "error.list_more": " …",
    "error.rotations_restore":
        ". Restore it from your backup (or `memberportal rotate` those members again)",
    "error.rotations_map": "rotations must map member ids to whole numbers (generations)",
    "error.snapshot_unreadable":
        "cannot read the last build's snapshot (\"{why}\"); delete the file and save a new one "
        "with `memberportal report --save-snapshot`",
    "error.snapshot_malformed":
        "the last build's snapshot is malformed (\"{why}\"); delete it and save a new one with "
        "`memberportal report --save-snapshot`",
    "error.yaml_character": "character U+{code} is not allowed in YAML (\"{why}\")",
    "error.yaml_syntax": "YAML syntax error: \"{why}\"",
    "error.yaml_other": "YAML error: \"{why}\"",
    "error.yaml_documents":
        "YAML syntax error: expected a single document in the stream, but found another "
        "document",
    "error.no_project":
        "no {file} here or in any parent folder of {here}; run this inside a brand project "
        "(see `memberportal init`)",
    "image.refused": "{kind} files are not allowed; use PNG, JPEG, WebP or SVG",
    "image.misnamed": "holds a {format} image under a {suffix} name; use PNG, JPEG, WebP or SVG",
    "image.damaged": "cannot read the image (truncated or damaged?): \"{why}\"",
    "image.too_big":
        "{width}×{height} pixels is too large (at most {max} pixels, e.g. 8000×5000); scale it "
        "down: every page or printed sheet that uses it would have to decode it",
    "image.svg_doctype":
        "SVG with a DOCTYPE or entities is not allowed (entities can expand without end)",
    "image.svg_broken": "not well-formed SVG: \"{why}\"",
    "image.not_svg": "not an SVG image (the root element is <{root}>)",
    "image.svg_element": "SVG with a <{element}> element is not allowed (scripts, embedded pages)",
    "image.svg_handler": "SVG with an event handler ({handler}=) is not allowed",
    "image.svg_reference": "SVG references {target}: only #fragments inside the file are allowed",
    "image.svg_style": "SVG style loads {target}: nothing outside the file",
    "template.syntax": "template syntax error: \"{why}\"",
    "template.not_found": "template not found: {name}",
    "template.not_allowed": "not allowed in a template: \"{why}\"",
    "template.undefined": "{why}",
    "template.failed": "{error}: \"{why}\"",
    "template.link_out": "refused: it is a link to {real}, outside the template folder {folder}",
    "parcels.tip":
        "insert: one line of text of at most {n} characters, shown on inserts with room left",
    "parcels.empty": "empty file: the first line names the columns ({columns}, …)",
    "parcels.malformed": "malformed CSV: \"{why}\"",
    "parcels.no_order_column": "missing column order_id (the header has: {header})",
    "parcels.fields": "{n} fields, the header has {header}",
    "parcels.empty_order": "empty order_id",
    "parcels.order_twice": "order {order} is already on line {line}",
    "parcels.order_unknown":
        "order {order} is in no member's records (import it first, or add a member_id column)",
    "parcels.order_other": "order {order} is member {owner}'s, not {member}'s",
    "parcels.unknown_member": "unknown member id '{member}'",
    "parcels.none": "no parcels in the file",
    "cards.no_offer_left": "has no active retention offer with {n} days left on {date}",
    "cards.no_offer": "no member has an active retention offer on {date}",
    "build.page_kept": " (the previous page is kept)",
    "template.leaves_site":
        "references {refs}: a personal page may only use files inside the site (no other host, "
        "no file: URL, no ../ out of it)",
    "build.changed": "{file} changed during the build; build again",
    "build.os_error": "{why}",
    "build.os_stage": " ({stage} stage); ",
    "build.os_file": ": {file}",
    "build.os_writing": " while writing {out}",
    "build.live": "the new site is live",
    "build.midway":
        "output/site is part the previous build, part this one (no removed or revoked page is "
        "live beside a new one); the next build, check or serve finishes the swap",
    "build.unchanged": "nothing changed: output/site is still the previous build",
    "init.not_empty":
        "{target} is not empty; `memberportal init` makes a new project in a new or empty folder",
    "init.bad.name": "--name: the brand's name, one line of at most 100 characters",
    "init.bad.site_url": "--site-url: the portal's full address, e.g. https://member.example.com/",
    "init.bad.lang": "--lang: zh or en",
    "init.bad.color": "--color: #rrggbb, e.g. #2f7d6d",
    "init.bad.currency": "--currency: an ISO code such as CNY, USD, EUR",
    "error.semicolon": "; ",
    "init.step.cd": "cd {folder}",
    "init.step.backup":
        "back up {secret} (made by the first command that needs it) together with {rotations}: "
        "without them every personal-page address and retention code changes; never commit or "
        "publish them",
    "init.step.example":
        "this is a copy of the example brand: change brand.name in {file} and site_name, "
        "site_url and copyright in mkdocs.yml before printing anything",
    "init.step.edit":
        "edit {file} (tiers, benefits, products, members.keys), content/story.md and "
        "content/handbook-intro.md",
    "init.step.import":
        "import your orders (memberportal import orders.csv --dry-run), then delete the sample "
        "members in members/samples/",
    "init.step.build":
        "memberportal check && memberportal build, then memberportal serve to look at it",
    "import.no_mapping": "no mapping named '{name}'; built in: {builtin}, or give a .yml file",
    "import.mapping_file": "a mapping file is a mapping (name, columns…)",
    "import.unknown_encoding": "unknown encoding '{encoding}'",
    "import.bad_bytes":
        "cannot be read as {encoding} (byte {byte} at column {column}); re-export the file or "
        "save it as UTF-8",
    "import.utf8_inside":
        "is UTF-8 in a {encoding} file (from byte {at} of the line); it would read as other "
        "characters: re-export the file in one encoding (or set encoding: gb18030 in a mapping "
        "if the line really is GBK)",
    "import.empty": "the export is empty",
    "import.no_header": "no header row (\"{why}\")",
    "import.bad_row": "unreadable CSV row: \"{why}\"",
    "import.extra_cells": "{cells} cells but {headers} column headers",
    "import.no_fit":
        "no built-in mapping fits these columns ({headers}); give one with --mapping "
        "({builtin} or a .yml file)",
    "import.no_column": "the export has no column for ",
    "import.in_mapping": " in mapping '{mapping}'",
    "import.need.key_open": "a member key (",
    "import.need.key_close": ") or member_id",
    "import.or": " or ",
    "import.need.product": "sku or product_name",
    "import.name": "{name}",
    "import.hint_close": "; '{col}' (found '{close}')",
    "import.hint_keys":
        "; the export has {other}: to recognise members by it, write `members: {{keys: "
        "[{first}]}}` in members/tiers.yml",
    "import.no_order_id": "no order id",
    "import.differs": "order {order}: '{value}' differs from '{first}' on line {line}",
    "import.no_sku":
        "no sku, and the product name matches no product in members/tiers.yml ({title})",
    "import.no_sku_empty":
        "no sku, and the product name matches no product in members/tiers.yml (empty)",
    "import.qty": "quantity must be a whole number ≥ 1 (got '{value}')",
    "import.amount": "amount must be a number ≥ 0 (got '{value}')",
    "import.no_date": "order {order}: no payment date",
    "import.not_date": "not a date: '{value}' (expected 2026-11-05 or 2026/11/5 14:23)",
    "import.currency":
        "order {order} is in {currency}; the program counts {program} (currency in "
        "members/tiers.yml)",
    "import.not_phone": "not a phone number: '{value}'",
    "import.not_key": "not a valid {kind}: '{value}'",
    "import.no_key":
        "order {order}: no member key ({keys}: members.keys in members/tiers.yml), so the buyer "
        "cannot be identified",
    "import.masked": "; the {kind} is masked ({value})",
    "import.shared_key": "order {order}: {kind} {value} belongs to members {first} and {rest}; "
                         "give each its own",
    "import.two_members":
        "order {order}: {ka} {va} is member {a} but {kb} {vb} is member {b}; merge the two "
        "records or correct the export",
    "import.key_differs":
        "order {order}: member {who} has {kind} {have}, the export {theirs}; correct the record "
        "or the export",
    "import.refunded":
        "order {order} is refunded in the export but not in {file} (member {member}); mark it "
        "`refunded: true` there if the refund is final",
    "import.referral": "order {order}: referral not credited: ",
    "import.why.no_code": "{codes} is no member's referral code",
    "import.why.self": "a member cannot refer herself",
    "import.why.referred": "member {who} was already referred",
    "import.why.ordered": "member {who} had ordered before",
}


def worded(key: str, /, *more: tuple[str, dict], **params) -> dict:
    """An error worded by key: `message` in English and `said`, the keys and their parameters
    (`key` with `params`, then `more`), for the command line's language."""
    said = [(key, params), *more]
    return {"message": plurals("".join(ENGLISH[k].format(**p) for k, p in said)),
            "said": said}


def plurals(text: str) -> str:
    """English "1 day(s)" as "1 day", "3 day(s)" as "3 days" (also "3 sample member(s)")."""
    return re.sub(r"\b(\d[\d,]*) ((?:\w+ )?\w+)\(s\)",
                  lambda m: f"{m[1]} {m[2]}" + ("" if m[1] == "1" else "s"), text)


class Told(str):
    """A sentence in English (the string itself) that carries its catalogue parts, `said`, for
    the command line's language (an import's notes)."""

    said: list

    def __new__(cls, key: str, /, *more: tuple[str, dict], **params):
        told = worded(key, *more, **params)
        self = super().__new__(cls, told["message"])
        self.said = told["said"]
        return self

    def __reduce__(self):
        (key, params), *more = self.said
        return (functools.partial(Told, key, *more, **params), ())


class Worded(ValueError):
    """A model rule's failure, worded by the catalogue (pydantic passes it on as the error's
    ctx['error']; cross-reference checks return it as their message)."""

    def __init__(self, key: str, **params):
        told = worded(key, **params)
        super().__init__(told["message"])
        self.message, self.said = told["message"], told["said"]
        self._worded = (key, params)

    def __reduce__(self):   # pickled as what it was made from, not its message
        key, params = self._worded
        return (functools.partial(Worded, key, **params), ())


class InputError(MemberPortalError):
    """Bad input data: YAML, CSV, a member record or the program."""


class TemplateError(MemberPortalError):
    """A template that cannot render: unknown variable, forbidden URL, syntax."""


class BuildError(MemberPortalError):
    """An artifact that failed to build."""


class ValidationFailed(MemberPortalError):
    """Many errors found in one pass; raised once after everything was checked."""

    def __init__(self, errors: list[MemberPortalError], limit: int | None = None):
        self.errors = sorted(errors, key=lambda e: (e.where or Where(""), e.message))
        self.limit = limit  # show this many, then a count (an export with 24,000 bad rows)
        n = len(self.errors)
        super().__init__(f"{n:,} error{'s' if n != 1 else ''} found",
                         said=[("cli.errors_found", {"n": f"{n:,}"})])

    def __str__(self) -> str:
        shown = self.errors if self.limit is None else self.errors[:self.limit]
        more = len(self.errors) - len(shown)
        tail = [f"… and {more:,} more (not listed)"] if more else []
        return "\n".join([*(str(e) for e in shown), *tail, self.message])

    def __reduce__(self):  # crosses process boundaries (render workers) intact
        return (type(self), (self.errors, self.limit))


@contextmanager
def warnings_of(logger_name: str, quiet: bool = False) -> Iterator[list[str]]:
    """What a library logs at WARNING or above while the block runs, for us to report as
    errors; with `quiet` the messages are not also passed on to the root logger."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger, handler = logging.getLogger(logger_name), Collect(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = propagate and not quiet
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
