"""Shop order exports (CSV) into member records: read, map, merge, validate, write all or none."""
from __future__ import annotations

import base64
import csv
import difflib
import fcntl
import io
import json
import os
import re
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from memberportal.core.codes import normalize
from memberportal.core.models import FIRST_DAY, LAST_DAY, MEMBER_KEYS, Record, is_masked
from memberportal.core.rules import REFERRAL_ACTIVITY, history_key
from memberportal.core.tokens import CROCKFORD, derive, referral_code
from memberportal.errors import (
    InputError,
    MemberPortalError,
    Told,
    ValidationFailed,
    Where,
    worded,
)
from memberportal.inputs.project import (
    IMPORT_JOURNAL,
    IMPORT_LOCK,
    IMPORT_STAGE,
    Project,
    load_members,
    member_files,
    recover_imports,
)
from memberportal.inputs.safe_yaml import read_yaml
from memberportal.inputs.secret import load_secret
from memberportal.inputs.validation import validation_errors
from memberportal.layout import rel, write_atomic
from memberportal.runtime.progress import paused_gc

MAPPINGS = Path(__file__).resolve().parent / "mappings"
CENT = Decimal("0.01")
_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")


def _names(v):
    return [v] if isinstance(v, str) else v


Columns = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_names)]


class Join(Record):
    """An order id made of several columns (a shop and its order number)."""

    join: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=2)]
    separator: str = "-"


class ColumnMap(Record):
    """Which export column holds each field; a list names alternatives, first non-empty wins."""

    order_id: Join | Columns
    date: Columns
    amount: Columns
    member_id: Columns = []   # the member's id in these records, when the export has it
    customer_id: Columns = []  # member keys (members.keys in tiers.yml says which count)
    buyer: Columns = []       # the shop account (买家会员名)
    phone: Columns = []
    email: Columns = []
    name: Columns = []
    sku: Columns = []
    product_name: Columns = []
    qty: Columns = []
    channel: Columns = []
    currency: Columns = []    # rows in another currency than the program's are errors
    region: Columns = []
    consent: Columns = []     # yes/no: the buyer accepted marketing (new members only)
    referral_code: Columns = []  # the referral code a new buyer quoted (a buyer's message)


class StatusRule(Record):
    column: Columns
    skip: list[str] = []      # not paid: the order is not imported
    refunded: list[str] = []  # paid and refunded: imported with refunded: true


# What a mapping may set to a constant or a default: never an id, a key, a date or an amount.
Settable = Literal["sku", "product_name", "qty", "channel", "currency", "region", "consent"]


class Mapping(Record):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    channel: str | None = None  # the same as constant: {channel: …}
    encoding: str = "auto"
    country_code: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}$")] = "86"
    order_prefix: str = ""
    amount: Literal["line_total", "unit_price"] = "line_total"
    columns: ColumnMap
    constant: dict[Settable, Annotated[str, Field(min_length=1)]] = {}  # every row, always
    default: dict[Settable, Annotated[str, Field(min_length=1)]] = {}   # where a cell is empty
    status: StatusRule | None = None

    def model_post_init(self, _context) -> None:
        if self.channel and "channel" not in self.constant:
            self.constant["channel"] = self.channel

    def order_columns(self) -> list[str]:
        o = self.columns.order_id
        return o.join if isinstance(o, Join) else o

    def has(self, fieldname: str, headers: set[str]) -> bool:
        cols = (self.order_columns() if fieldname == "order_id"
                else getattr(self.columns, fieldname))
        if fieldname in self.constant or fieldname in self.default:
            return True
        if fieldname == "order_id" and isinstance(self.columns.order_id, Join):
            return all(_key(n) in headers for n in cols)
        return any(_key(n) in headers for n in cols)

    def required_missing(self, headers: set[str], keys: list[str] = MEMBER_KEYS) -> list[str]:
        """Fields whose every alternative column is absent from `headers`."""
        need = [("order_id", ["order_id"]), ("date", ["date"]), ("amount", ["amount"]),
                (f"a member key ({' or '.join(keys)}) or member_id", [*keys, "member_id"]),
                ("sku or product_name", ["sku", "product_name"])]
        return [k for k, fields in need if not any(self.has(f, headers) for f in fields)]


def builtin_mappings() -> list[str]:
    return sorted(p.stem for p in MAPPINGS.glob("*.yml"))


def load_mapping(name_or_file: str, root: Path) -> Mapping:
    """A built-in mapping by name (taobao, shopify, generic) or a YAML mapping file."""
    path = Path(name_or_file)
    if not path.suffix:
        path = MAPPINGS / f"{name_or_file}.yml"
        if not path.is_file():
            raise InputError(**worded("import.no_mapping", name=name_or_file,
                                      builtin=", ".join(builtin_mappings())))
    doc = read_yaml(path, rel(path, root))
    if not isinstance(doc.data, dict):
        raise InputError(**worded("import.mapping_file"), where=doc.where())
    try:
        return Mapping.model_validate(doc.data)
    except ValidationError as e:
        raise ValidationFailed(validation_errors(e, doc, (), Mapping, None)) from None


# --- reading the export ------------------------------------------------------------------


@dataclass
class Table:
    file: str                  # as shown in messages
    encoding: str
    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line the row starts on, header key -> cell)


def _key(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).casefold()


def _decodes(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _utf8_inside(line: bytes) -> int | None:
    """Where a line of a file read as GB18030 turns out to be UTF-8 with characters from U+0800
    (Chinese is three bytes in UTF-8), or None. GBK text is almost never that: 79 of 200,000
    random strings of 2-6 common hanzi were, and a whole export line (address, product) less."""
    if line.isascii():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    for i, ch in enumerate(text):
        if ord(ch) >= 0x800:
            return len(text[:i].encode("utf-8"))
    return None


def detect_encoding(lines: list[bytes]) -> str:
    """UTF-8 when most non-ASCII lines are valid UTF-8 (GBK text almost never is), else GB18030."""
    foreign = [ln for ln in lines if not ln.isascii()]
    if not foreign:
        return "utf-8"
    good = sum(_decodes(ln, "utf-8") for ln in foreign)
    return "utf-8" if good * 2 > len(foreign) else "gb18030"


def read_table(path: Path, shown: str, encoding: str = "auto") -> tuple[Table, list[InputError]]:
    """The export's rows with their line numbers; undecodable lines are errors, one per line."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(**worded("error.cannot_read", why=e.strerror),
                         where=Where(shown)) from None
    errors: list[InputError] = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text": UTF-16, tabs
        try:
            text_lines = raw.decode("utf-16").splitlines(keepends=True)
        except UnicodeDecodeError as e:   # a UTF-16 mark on what is not (whole) UTF-16
            raise InputError(**worded("error.not_utf16", at=e.start),
                             where=Where(shown)) from None
        encoding = "utf-16"
    else:
        if raw.startswith(b"\xef\xbb\xbf"):
            raw, encoding = raw[3:], "utf-8"
        lines = raw.splitlines(keepends=True)
        guessed = encoding == "auto"
        if guessed:
            encoding = detect_encoding(lines)
        try:
            "".encode(encoding)
        except LookupError:
            raise InputError(**worded("import.unknown_encoding", encoding=encoding),
                             where=Where(shown)) from None
        text_lines = []
        for n, line in enumerate(lines, 1):
            try:
                text_lines.append(line.decode(encoding))
            except UnicodeDecodeError as e:
                errors.append(InputError(
                    **worded("import.bad_bytes", encoding=encoding.upper(),
                             byte=f"0x{line[e.start]:02x}", column=e.start + 1),
                    where=Where(shown, n), kind="encoding"))
                text_lines.append(line.decode(encoding, errors="replace"))
                continue
            at = _utf8_inside(line) if guessed and encoding == "gb18030" else None
            if at is not None:
                # GB18030 decodes most UTF-8 bytes too, as other characters: never guess
                errors.append(InputError(
                    **worded("import.utf8_inside", encoding=encoding.upper(), at=at + 1),
                    where=Where(shown, n), kind="encoding"))
    if not text_lines:
        raise InputError(**worded("import.empty"), where=Where(shown))
    delimiter = "\t" if text_lines[0].count("\t") > text_lines[0].count(",") else ","
    reader = csv.reader(io.StringIO("".join(text_lines), newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except (StopIteration, csv.Error) as e:
        raise InputError(**worded("import.no_header", why=str(e)),
                         where=Where(shown, 1)) from None
    keys = [_key(h) for h in headers]
    rows: list[tuple[int, dict[str, str]]] = []
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            errors.append(InputError(**worded("import.bad_row", why=str(e)),
                                     where=Where(shown, start)))
            break
        if any(c.strip() for c in cells):
            if len(cells) > len(keys):
                errors.append(InputError(**worded("import.extra_cells", cells=len(cells),
                                                  headers=len(keys)),
                                         where=Where(shown, start)))
            else:
                rows.append((start, dict(zip(keys, cells))))
        start = reader.line_num + 1
    return Table(shown, encoding, headers, rows), errors


def guess_mapping(table: Table) -> str:
    keys = {_key(h) for h in table.headers}
    fits = [n for n in builtin_mappings() if not load_mapping(n, MAPPINGS).required_missing(keys)]
    if not fits:
        headers = ", ".join(table.headers[:8]) + ("…" if len(table.headers) > 8 else "")
        raise InputError(**worded("import.no_fit", headers=headers,
                                  builtin=", ".join(builtin_mappings())),
                         where=Where(table.file, 1))
    return fits[0]


# --- rows into orders --------------------------------------------------------------------


def clean(cell: str) -> str:
    """A cell as exports write it: ="0123" (Excel text), a leading ' or tab, padding."""
    v = cell.strip().strip("\t").strip()
    if v.startswith('="') and v.endswith('"'):
        v = v[2:-1]
    return v.lstrip("'").strip()


def normalise_phone(phone: str, country_code: str) -> str | None:
    """E.164 (+8613805712231), or None when it is not a phone number."""
    digits = re.sub(r"[\s\-().]", "", phone)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        if country_code == "86" and re.fullmatch(r"(86)?1\d{10}", digits):
            digits = "+86" + digits[-11:]
        else:
            digits = "+" + country_code + digits.removeprefix("0")
    return digits if re.fullmatch(r"\+[1-9]\d{6,14}", digits) else None


def shown_phone(e164: str) -> str:
    """+86 138 0571 2231 for Chinese mobiles (as the example files write them), else E.164."""
    m = re.fullmatch(r"\+86(1\d{2})(\d{4})(\d{4})", e164)
    return f"+86 {m[1]} {m[2]} {m[3]}" if m else e164


def member_id_for(secret: bytes, e164: str) -> str:
    """A stable id from the normalised phone (HMAC with the brand secret, never the phone)."""
    return "M" + base64.b32encode(derive(secret, "member-id", e164)).decode()[:10]


@dataclass
class Line:
    sku: str
    name: str | None
    qty: int
    total: Decimal


@dataclass
class ImportedOrder:
    id: str
    line: int                 # first row of the order
    date: date | None = None
    refunded: bool = False
    channel: str | None = None
    member_id: str | None = None
    keys: dict[str, str] = field(default_factory=dict)  # member keys, normalised, never masked
    masked: dict[str, str] = field(default_factory=dict)  # keys the export masked
    phone: str | None = None  # E.164
    name: str | None = None
    region: str | None = None
    consent: bool | None = None
    referral: str | None = None  # the cell that may hold a referral code
    lines: list[Line] = field(default_factory=list)


_ORDER_FIELDS = ("member_id", *MEMBER_KEYS, "name", "date", "channel", "currency", "region",
                 "consent", "referral_code", "status")
_YES = {"yes", "y", "true", "1", "是", "同意"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_key(kind: str, value: str, country_code: str) -> str | None:
    """A member key as it is compared: E.164 phones, lower-case e-mail; None: not a valid one."""
    if kind == "phone":
        return normalise_phone(value, country_code)
    if kind == "email":
        v = value.strip().casefold()
        return v if _EMAIL.match(v) else None
    return value.strip() or None


def no_key(order: ImportedOrder, keys: list[str]) -> Told:
    masked = [("import.masked", {"kind": k, "value": v}) for k, v in order.masked.items()]
    return Told("import.no_key", *masked, order=order.id, keys=", ".join(keys))


class _Rows:
    """Maps rows to orders, collecting every problem with its line and column."""

    def __init__(self, mapping: Mapping, table: Table, program_names: dict[str, str],
                 currency: str = "CNY", keys: list[str] = MEMBER_KEYS, progress=None):
        self.m, self.table, self.names, self.keys = mapping, table, program_names, keys
        self.currency = currency
        self.progress = progress or (lambda n: None)
        self.errors: list[InputError] = []
        self.skipped: set[str] = set()
        self.order_level = list(dict.fromkeys(c for f in _ORDER_FIELDS for c in self.columns(f)))

    def err(self, line: int, message: Told, column: str | None = None) -> None:
        self.errors.append(InputError(message, Where(self.table.file, line), field=column,
                                      said=message.said))

    def columns(self, fieldname: str) -> list[str]:
        if fieldname == "status":
            return self.m.status.column if self.m.status else []
        if fieldname == "order_id":
            return self.m.order_columns()
        return getattr(self.m.columns, fieldname, [])

    def cell(self, row: dict[str, str], fieldname: str, default: bool = True,
             ) -> tuple[str, str | None]:
        """The field's value (a constant, the first non-empty cell, a default), and its column."""
        if fieldname in self.m.constant:
            return self.m.constant[fieldname], None
        first = None
        for col in self.columns(fieldname):
            if _key(col) in row:
                first = first or col
                v = clean(row[_key(col)])
                if v:
                    return v, col
        return self.m.default.get(fieldname, "") if default else "", first

    def order_id(self, row: dict[str, str]) -> tuple[str, str | None]:
        o = self.m.columns.order_id
        if not isinstance(o, Join):
            return self.cell(row, "order_id")
        parts = [clean(row.get(_key(c), "")) for c in o.join]
        missing = next((c for c, v in zip(o.join, parts) if not v), None)
        return ("", missing) if missing else (o.separator.join(parts), o.join[0])

    def orders(self) -> list[ImportedOrder]:
        by_id: dict[str, ImportedOrder] = {}
        # order id -> column -> (value, line): an order's own fields may sit on any of its
        # rows (Shopify: the first only) but must not contradict each other.
        values: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
        for n, (line, row) in enumerate(self.table.rows, 1):
            if n % 1000 == 0:
                self.progress(1000)
            raw_id, col = self.order_id(row)
            if not raw_id:
                self.err(line, Told("import.no_order_id"), col)
                continue
            oid = self.m.order_prefix + raw_id.lstrip("#")
            if oid not in by_id:
                by_id[oid] = ImportedOrder(oid, line)
            seen = values[oid]
            for col in self.order_level:
                v = clean(row.get(_key(col), ""))
                if not v:
                    continue
                if col in seen and seen[col][0] != v:
                    self.err(line, Told("import.differs", order=oid, value=v,
                                        first=seen[col][0], line=seen[col][1]), col)
                seen.setdefault(col, (v, line))
            by_id[oid].lines.append(self.item(line, row))
        self.progress(len(self.table.rows) % 1000)
        out = []
        for oid, order in by_id.items():
            if self.finish(order, values[oid]):
                out.append(order)
        return out

    def item(self, line: int, row: dict[str, str]) -> Line:
        sku, _ = self.cell(row, "sku")
        title, _ = self.cell(row, "product_name")
        if not sku:
            sku = self.names.get(title, "")
            if not sku:
                self.err(line, Told("import.no_sku", title=title) if title
                         else Told("import.no_sku_empty"),
                         (self.m.columns.sku or self.m.columns.product_name or ["sku"])[0])
        qty_text, qty_col = self.cell(row, "qty")
        qty = 1
        if qty_text:
            try:
                if not _QTY.fullmatch(qty_text.strip()):
                    raise ValueError
                qty = int(Decimal(qty_text.strip()))
                if qty < 1:
                    raise ValueError
            except (InvalidOperation, ValueError):
                self.err(line, Told("import.qty", value=qty_text), qty_col)
                qty = 1
        amount_text, amount_col = self.cell(row, "amount")
        amount = _money(amount_text)
        if amount is None:
            self.err(line, Told("import.amount", value=amount_text),
                     amount_col or self.m.columns.amount[0])
            amount = Decimal(0)
        total = amount * qty if self.m.amount == "unit_price" else amount
        known = sku in self.names.values()
        return Line(sku, None if known or not title else title, qty, total)

    def finish(self, order: ImportedOrder, v: dict[str, tuple[str, int]]) -> bool:
        """Order-level fields, each from its first column with a value; False: skipped."""
        def get(f):
            if f in self.m.constant:
                return self.m.constant[f], order.line, None
            cols = self.columns(f)
            col = next((c for c in cols if c in v), None)
            if col:
                return (*v[col], col)
            return self.m.default.get(f, ""), order.line, cols[0] if cols else None
        status, _, _ = get("status")
        rule = self.m.status
        when, line, col = get("date")
        if rule and (status in rule.skip or (not when and status in rule.refunded)):
            self.skipped.add(order.id)
            return False
        order.refunded = bool(rule and status in rule.refunded)
        if not when:
            self.err(order.line, Told("import.no_date", order=order.id),
                     col or self.m.columns.date[0])
        else:
            m = _DATE.match(when)
            try:
                order.date = date(int(m[1]), int(m[2]), int(m[3])) if m else None
            except ValueError:
                order.date = None
            if order.date and not FIRST_DAY <= order.date <= LAST_DAY:
                order.date = None
            if order.date is None:
                self.err(line, Told("import.not_date", value=when), col)
        currency, line, col = get("currency")
        if currency and currency.upper() != self.currency:
            self.err(line, Told("import.currency", order=order.id, currency=currency,
                                program=self.currency), col)
        member_id, _, _ = get("member_id")
        order.member_id = member_id or None
        for kind in MEMBER_KEYS:
            value, line, col = get(kind)
            if not value:
                continue
            if is_masked(value):
                order.masked[kind] = value  # 138****1234: never a key
                continue
            key = normalise_key(kind, value, self.m.country_code)
            if key is None:
                self.err(line, Told("import.not_phone", value=value) if kind == "phone"
                         else Told("import.not_key", kind=kind, value=value), col)
                continue
            order.keys[kind] = key
        order.phone = order.keys.get("phone")
        if not order.member_id and not any(k in order.keys for k in self.keys):
            self.err(order.line, no_key(order, self.keys),
                     next((c for k in self.keys for c in self.columns(k)), None))
        channel, _, _ = get("channel")
        order.channel = channel or None
        name, _, _ = get("name")
        order.name = name if name and not is_masked(name) else None
        region, _, _ = get("region")
        order.region = " ".join(region.split()[:2]) or None  # province and city, never a street
        consent, _, _ = get("consent")
        order.consent = consent.casefold() in _YES if consent else None
        referral, _, _ = get("referral_code")
        order.referral = referral or None
        return True


_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,6})?")   # no exponent: 1e99999999 would hang
_QTY = re.compile(r"\d{1,9}(\.0{1,6})?")


def _money(text: str) -> Decimal | None:
    t = re.sub(r"[\s,¥￥$€£]|^(CNY|RMB|USD)", "", text[:100])
    if not _AMOUNT.fullmatch(t):
        return None
    return Decimal(t).quantize(CENT)


def unit_items(line: Line) -> list[tuple[int, Decimal]]:
    """(qty, unit price) pairs whose sum is exactly the line total, cent for cent."""
    unit = (line.total / line.qty).quantize(CENT, rounding=ROUND_DOWN)
    up = int((line.total - unit * line.qty) / CENT)  # 0 <= up < qty
    return [(n, p) for n, p in ((line.qty - up, unit), (up, unit + CENT)) if n]


# --- merging into member files -----------------------------------------------------------


def _yaml(mapping_indent: int = 2, sequence_indent: int = 4) -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=mapping_indent, sequence=sequence_indent,
             offset=max(sequence_indent - 2, 0))
    y.representer.ignore_aliases = lambda data: True  # the loader refuses anchors
    return y


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _order_node(order: ImportedOrder) -> CommentedMap:
    node = CommentedMap()
    node["id"] = order.id
    node["date"] = order.date
    if order.channel:
        node["channel"] = order.channel
    if order.refunded:
        node["refunded"] = True
    items = CommentedSeq()
    for line in order.lines:
        for qty, price in unit_items(line):
            item = CommentedMap()
            item["sku"] = line.sku
            if line.name:
                item["name"] = line.name
            item["qty"] = qty
            item["price"] = _plain(price)
            item.fa.set_flow_style()
            items.append(item)
    node["items"] = items
    return node


@dataclass
class Change:
    path: Path
    text: str
    new_member: bool
    members: list[str]
    orders: int


@dataclass
class Plan:
    mapping: Mapping
    table: Table
    changes: list[Change]
    already: int              # orders already in the project (left untouched)
    skipped: int              # unpaid orders in the export
    new_members: int
    notices: list[str]

    @property
    def new_orders(self) -> int:
        return sum(c.orders for c in self.changes)


ERROR_LIMIT = 100  # bad rows listed one by one; the rest are counted


def plan_import(project: Project, csv_path: Path, mapping_name: str | None = None,
                secret: bytes | None = None, bar=None) -> Plan:
    """Everything the import would write, validated; raises with every problem found.

    `bar(total, desc, unit)` gives a progress bar (a context manager with update(n))."""
    bar = bar or _no_bar
    root = project.root
    shown = rel(csv_path, root)
    probe = load_mapping(mapping_name, root) if mapping_name else None
    table, errors = read_table(csv_path, shown, probe.encoding if probe else "auto")
    mapping = probe or load_mapping(guess_mapping(table), root)
    keys = project.program.members.keys
    missing = mapping.required_missing({_key(h) for h in table.headers}, keys)
    if missing:
        headers = [h.strip() for h in table.headers]
        hint: list[tuple[str, dict]] = []
        for f in missing:
            for col in (getattr(mapping.columns, f, None) or [])[:1]:
                close = difflib.get_close_matches(col, headers, n=1)
                if close:
                    hint.append(("import.hint_close", {"col": col, "close": close[0]}))
        other = [k for k in MEMBER_KEYS if k not in keys and mapping.has(
            k, {_key(h) for h in table.headers})]
        if other and any(f.startswith("a member key") for f in missing):
            hint.append(("import.hint_keys", {"other": ", ".join(other), "first": other[0]}))
        def joined(parts, sep):
            return [p for i, one in enumerate(parts) for p in ([(sep, {})] if i else []) + one]
        named = [[("import.need.key_open", {}),
                  *joined([[("import.name", {"name": k})] for k in keys], "import.or"),
                  ("import.need.key_close", {})] if f.startswith("a member key")
                 else [("import.need.product", {})] if f == "sku or product_name"
                 else [("import.name", {"name": f})] for f in missing]
        listed = joined(named, "error.list_sep")
        raise InputError(**worded("import.no_column", *listed,
                                  ("import.in_mapping", {"mapping": mapping.name}), *hint),
                         where=Where(shown, 1))
    names = {p.name: p.sku for p in project.program.products}
    with bar(len(table.rows), "reading orders", "row") as b:
        rows = _Rows(mapping, table, names, project.program.currency, keys, b.update)
        orders = rows.orders()
    errors += rows.errors
    if errors:
        raise ValidationFailed(errors, ERROR_LIMIT)
    secret = secret or load_secret(root, create=True)
    return _merge(project, mapping, table, orders, len(rows.skipped), secret, bar)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int = 1) -> None:
        pass


def _no_bar(total: int, desc: str, unit: str) -> _NoBar:
    return _NoBar()


def _shown_key(kind: str, value: str) -> str:
    return shown_phone(value) if kind == "phone" else value


class _Identities:
    """Who each order belongs to: members found by any of the program's keys.

    Keys that meet in one row link the records (a member found by its customer id gets the
    row's phone); a row whose keys name two members, or a key another than the member's own,
    is an error naming both."""

    def __init__(self, project: Project, keys: list[str], country_code: str, secret: bytes):
        self.keys, self.secret = keys, secret
        self.index: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.of: dict[str, dict[str, str]] = {}      # member id -> kind -> normalised key
        self.added: dict[str, dict[str, str]] = defaultdict(dict)  # links to write
        for m in project.members:
            own = {}
            for kind in MEMBER_KEYS:
                raw = getattr(m, kind)
                key = normalise_key(kind, raw, country_code) if raw else None
                if key:
                    own[kind] = key
                    if kind in keys:
                        self.index[kind, key].append(m.id)
            self.of[m.id] = own

    def who(self, order: ImportedOrder) -> tuple[str | None, Told | None]:
        """(member id, None), or (None, the error)."""
        keys = {k: v for k, v in order.keys.items() if k in self.keys}
        found: dict[str, tuple[str, str]] = {}  # member id -> the key that found it
        if order.member_id:
            found[order.member_id] = ("member_id", order.member_id)
        for kind, key in keys.items():
            ids = self.index.get((kind, key), [])
            if len(ids) > 1:
                return None, Told("import.shared_key", order=order.id, kind=kind,
                                  value=_shown_key(kind, key), first=ids[0],
                                  rest=" and ".join(ids[1:]))
            if ids and ids[0] not in found:
                found[ids[0]] = (kind, key)
        if len(found) > 1:
            (a, (ka, va)), (b, (kb, vb)) = list(found.items())[:2]
            return None, Told("import.two_members", order=order.id, ka=ka,
                              va=_shown_key(ka, va), a=a, kb=kb, vb=_shown_key(kb, vb), b=b)
        if found:
            who = next(iter(found))
        elif keys:
            kind = next(k for k in self.keys if k in keys)
            value = keys[kind]
            who = member_id_for(self.secret, value if kind == "phone" else f"{kind}:{value}")
        else:
            return None, no_key(order, self.keys)
        own = self.of.setdefault(who, {})
        for kind, key in keys.items():
            have = own.get(kind)
            if have is None:
                continue
            if have != key:
                return None, Told("import.key_differs", order=order.id, who=who, kind=kind,
                                  have=_shown_key(kind, have), theirs=_shown_key(kind, key))
        for kind, key in keys.items():
            if kind not in own:
                own[kind] = key
                self.added[who][kind] = key
                self.index[kind, key].append(who)
        if order.phone and "phone" not in own:  # a phone is kept to call, even if not a key
            own["phone"] = order.phone
            self.added[who]["phone"] = order.phone
        return who, None


def _merge(project: Project, mapping: Mapping, table: Table, orders: list[ImportedOrder],
           skipped: int, secret: bytes, bar=_no_bar) -> Plan:
    root = project.root
    errors: list[MemberPortalError] = []
    notices: list[str] = []
    existing_orders: dict[str, tuple[str, bool]] = {}
    for m in project.members:
        for o in m.orders:
            existing_orders[o.id] = (m.id, o.refunded)
    known = {m.id for m in project.members}
    ids = _Identities(project, project.program.members.keys, mapping.country_code, secret)
    per_member: dict[str, list[ImportedOrder]] = defaultdict(list)
    already = 0
    for order in orders:
        if order.id in existing_orders:
            already += 1
            owner, refunded = existing_orders[order.id]
            if order.refunded and not refunded:
                notices.append(Told("import.refunded", order=order.id,
                                    file=project.where[owner].file, member=owner))
            continue
        who, error = ids.who(order)
        if error:
            errors.append(InputError(error, Where(table.file, order.line), said=error.said))
            continue
        per_member[who].append(order)
    if errors:
        raise ValidationFailed(errors, ERROR_LIMIT)
    referred = _referrals(project, per_member, secret, notices)

    changes: list[Change] = []
    by_file: dict[str, list[str]] = defaultdict(list)
    for who in per_member.keys() | {w for w in ids.added if w in known} | referred.keys():
        if who in known:
            by_file[project.where[who].file].append(who)
    for shown_file, in_file in sorted(by_file.items()):
        path = root / shown_file
        text = path.read_text(encoding="utf-8-sig")
        _, seq_indent, map_indent = load_yaml_guess_indent(text)
        y = _yaml(map_indent or 2, seq_indent or 4)
        data = y.load(text)
        count = 0
        for who in sorted(in_file):
            record = data if isinstance(data, dict) else next(
                d for d in data if isinstance(d, dict) and d.get("id") == who)
            for kind, key in ids.added.get(who, {}).items():
                at = list(record).index("joined") if "joined" in record else len(record)
                value = _shown_key(kind, key)
                record.insert(at, kind, DoubleQuotedScalarString(value) if kind == "phone"
                              else value)
            if record.get("orders") is None and per_member.get(who):
                record["orders"] = CommentedSeq()
            for order in sorted(per_member.get(who, []), key=history_key):
                record["orders"].append(_order_node(order))
                count += 1
            for friend, order in referred.get(who, []):
                _credit(record, friend, order,
                        REFERRAL_ACTIVITY in project.program.activities)
        out = io.StringIO()
        y.dump(data, out)
        changes.append(Change(path, out.getvalue(), False, sorted(in_file), count))
    new_ids = sorted(w for w in per_member if w not in known)
    with bar(len(new_ids), "new members", "member") as b:
        for n, who in enumerate(new_ids, 1):
            changes.append(_new_member(root, who, per_member[who], ids.of[who], mapping, table))
            if n % 100 == 0:
                b.update(100)
    return Plan(mapping, table, changes, already, skipped, len(new_ids), notices)


# a referral code inside a buyer's message, as the join page shows it ("7KQ2 M9XD") or not
_CODE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{4}[ -]?[0-9A-Za-z]{4}(?![0-9A-Za-z])")
_CROCKFORD = set(CROCKFORD)


def _referrals(project: Project, per_member: dict[str, list[ImportedOrder]], secret: bytes,
               notices: list[str]) -> dict[str, list[tuple[str, ImportedOrder]]]:
    """Referrer -> (new buyer, her first order) for each order quoting a member's referral
    code: a buyer with no earlier orders, referred by no one yet, not by herself."""
    quoted = sorted(((o.date, o.id, who, o) for who, orders in per_member.items()
                     for o in orders if o.referral and not o.refunded), key=lambda q: q[:2])
    if not quoted:
        return {}
    by_code = {referral_code(secret, m.id): m.id for m in project.members}
    claimed = {friend for m in project.members for friend in m.referrals}
    out: dict[str, list[tuple[str, ImportedOrder]]] = defaultdict(list)
    for _, _, who, order in quoted:
        # only what looks like a code is read (and shown): a message is the buyer's own words
        shaped = [c for c in map(normalize, _CODE_IN_TEXT.findall(order.referral or ""))
                  if set(c) <= _CROCKFORD]
        if not shaped:
            continue
        referrer = next((by_code[c] for c in shaped if c in by_code), None)
        why = None
        if referrer is None:
            why = ("import.why.no_code", {"codes": ", ".join(shaped)})
        elif referrer == who:
            why = ("import.why.self", {})
        elif who in claimed:
            why = ("import.why.referred", {"who": who})
        elif who in project.by_id and project.member(who).orders:
            why = ("import.why.ordered", {"who": who})
        if why:
            notices.append(Told("import.referral", why, order=order.id))
            continue
        claimed.add(who)
        out[referrer].append((who, order))
    return out


def _credit(record: CommentedMap, friend: str, order: ImportedOrder, points: bool) -> None:
    """The friend in the referrer's `referrals`, and the referral activity her order earns
    (when the program has one)."""
    for key in ("referrals", "activities") if points else ("referrals",):
        if record.get(key) is None:
            record[key] = CommentedSeq()
    record["referrals"].append(friend)
    if not points:
        return
    activity = CommentedMap()
    activity["type"] = REFERRAL_ACTIVITY
    activity["date"] = order.date
    activity["note"] = order.id
    activity.fa.set_flow_style()
    record["activities"].append(activity)


def _new_member(root: Path, who: str, orders: list[ImportedOrder], keys: dict[str, str],
                mapping: Mapping, table: Table) -> Change:
    """A new member's file, written as text: ruamel.yaml takes 20 ms a member (24,000 new
    members: eight minutes), this a fraction of a millisecond."""
    orders = sorted(orders, key=history_key)
    first = orders[0]
    source = f"{Path(table.file).name} (mapping {mapping.name})".replace("\n", " ")
    out = [f"# imported from {source}", f"id: {_scalar(who)}"]
    name = next((o.name for o in orders if o.name), None)
    if name:
        out.append(f"name: {_scalar(name)}")
    for kind in MEMBER_KEYS:
        if kind in keys:
            value = _shown_key(kind, keys[kind])
            out.append(f"{kind}: {_quoted(value) if kind == 'phone' else _scalar(value)}")
    out.append(f"joined: {first.date.isoformat()}")
    region = next((o.region for o in orders if o.region), None)
    if region:
        out.append(f"region: {_scalar(region)}")
    consent = next((o.consent for o in orders if o.consent is not None), None)
    if consent is not None:
        out += ["consent:", f"  marketing: {'true' if consent else 'false'}"]
    out.append("orders:")
    for o in orders:
        out += [f"  - id: {_scalar(o.id)}", f"    date: {o.date.isoformat()}"]
        if o.channel:
            out.append(f"    channel: {_scalar(o.channel)}")
        if o.refunded:
            out.append("    refunded: true")
        out.append("    items:")
        for line in o.lines:
            name = f", name: {_scalar(line.name)}" if line.name else ""
            for qty, price in unit_items(line):
                out.append(f"      - {{sku: {_scalar(line.sku)}{name}, qty: {qty}, "
                           f"price: {_plain(price)}}}")
    path = root / "members" / str(first.date.year) / f"{who}.yml"
    if path.exists():
        raise InputError(f"new member {who} would overwrite {rel(path, root)}",
                         Where(table.file, first.line), member=who)
    return Change(path, "\n".join(out) + "\n", True, [who], len(orders))


_PLAIN = re.compile(r"[A-Za-z0-9_\u3400-\u9fff][A-Za-z0-9_.\-\u3400-\u9fff]*"
                    r"(?: [A-Za-z0-9_.\-\u3400-\u9fff]+)*")
_RESOLVER = yaml.resolver.Resolver()


def _scalar(text: str) -> str:
    """A string as a YAML scalar that reads back as that string: plain when it is safe."""
    if _PLAIN.fullmatch(text) and _RESOLVER.resolve(
            yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str" and \
            not re.fullmatch(r"[-+]?[0-9_.:]+(?:[eE][-+]?[0-9]+)?", text):
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


# --- validate the merged project, then write all or none ----------------------------------


def apply(project: Project, plan: Plan, as_of: date, bar=None) -> None:
    """Stage every file, load the merged project from the stage, then swap files in.

    The stage is members/.import-*, on the members' own filesystem (a rename never crosses
    devices), readable by the owner only, held under a lock while the import runs; a stage
    left by a killed import is rolled back or removed by the next command that reads members.
    """
    bar = bar or _no_bar
    root = project.root
    if not plan.changes:
        return
    recover_imports(root)
    stage = Path(tempfile.mkdtemp(prefix=IMPORT_STAGE, dir=root / "members"))  # 0700
    lock = os.open(stage / IMPORT_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        staged: dict[Path, Path] = {}
        with bar(len(plan.changes), "staging", "file") as b:
            for n, change in enumerate(plan.changes):
                tmp = stage / f"{n}-{change.path.name}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                    f.write(change.text)
                staged[change.path] = tmp
                b.update(1)
        os.sync()  # once for the whole stage: an fsync per file took 4 ms a file
        _validate_staged(project, staged, as_of, bar)
        _swap(root, staged, stage)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        os.close(lock)


def _validate_staged(project: Project, staged: dict[Path, Path], as_of: date,
                     bar=_no_bar) -> None:
    root = project.root
    real = {p.resolve(): p for p in member_files(root)}
    for target in staged:
        real[target.resolve()] = target
    shown = {rel(tmp, root): rel(target, root) for target, tmp in staged.items()}
    files = sorted(staged.get(p, p) for p in real.values())
    with bar(len(files), "checking merged records", "file") as b:
        members, where, errors = load_members(root, project.program, files,
                                              progress=b.update)
    if not errors:
        merged = Project(root, project.program, members, where, project.redeemed)
        with bar(len(members), "checking statuses", "member") as b, paused_gc():
            # only the errors are kept, as in `check`
            errors = [s for s in merged.each_status(as_of, b.update)
                      if isinstance(s, MemberPortalError)]
    for e in errors:  # name the member file, not its staged copy
        if e.where and e.where.file in shown:
            e.where = Where(shown[e.where.file], e.where.line)
    if errors:
        failed = ValidationFailed(errors, ERROR_LIMIT)
        failed.message += " in the merged records; nothing was written"
        failed.said.append(("cli.nothing_written", {}))
        raise failed


def _swap(root: Path, staged: dict[Path, Path], stage: Path) -> None:
    """Rename staged files into place; on any failure put every original back. A journal
    (written before the first rename) lets the next command do the same after a kill."""
    umask = os.umask(0)
    os.umask(umask)
    journal = stage / IMPORT_JOURNAL
    done: list[tuple[Path, Path | None]] = []
    target = None
    try:
        plan: list[tuple[Path, Path, Path | None]] = []
        for n, (target, tmp) in enumerate(sorted(staged.items())):
            backup = None
            if target.exists():
                backup = stage / f"backup-{n}"
                os.link(target, backup) if _same_device(target, stage) else shutil.copy2(
                    target, backup)
                os.chmod(tmp, os.stat(target).st_mode & 0o7777)
            else:
                os.chmod(tmp, 0o666 & ~umask)  # as any new file (it was staged privately)
            plan.append((target, tmp, backup))
        write_atomic(journal, json.dumps([[rel(t, root), b.name if b else None]
                                          for t, _, b in plan]).encode(), private=True)
        for target, tmp, backup in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            done.append((target, backup))
        journal.unlink()
    except OSError as e:
        for done_target, backup in reversed(done):
            if backup is not None:
                os.replace(backup, done_target)
            else:
                done_target.unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        raise InputError(f"could not write {target}: {e.strerror}; nothing was changed") from None


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev

