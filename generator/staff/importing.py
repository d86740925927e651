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

from pydantic import BeforeValidator, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from memberportal.core.models import FIRST_DAY, LAST_DAY, Record
from memberportal.core.tokens import derive
from memberportal.errors import InputError, MemberPortalError, ValidationFailed, Where
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


class ColumnMap(Record):
    """Which export column holds each field; a list names alternatives, first non-empty wins."""

    order_id: Columns
    date: Columns
    amount: Columns
    member_id: Columns = []
    phone: Columns = []
    name: Columns = []
    buyer: Columns = []       # the shop account (买家会员名, e-mail): a name of last resort
    sku: Columns = []
    product_name: Columns = []
    qty: Columns = []
    region: Columns = []
    consent: Columns = []     # yes/no: the buyer accepted marketing (new members only)


class StatusRule(Record):
    column: Columns
    skip: list[str] = []      # not paid: the order is not imported
    refunded: list[str] = []  # paid and refunded: imported with refunded: true


class Mapping(Record):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    channel: str | None = None
    encoding: str = "auto"
    country_code: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}$")] = "86"
    order_prefix: str = ""
    amount: Literal["line_total", "unit_price"] = "line_total"
    columns: ColumnMap
    status: StatusRule | None = None

    def required_missing(self, headers: set[str]) -> list[str]:
        """Fields whose every alternative column is absent from `headers`."""
        c = self.columns
        need = {"order_id": c.order_id, "date": c.date, "amount": c.amount,
                "member_id or phone": c.member_id + c.phone, "sku or product_name":
                c.sku + c.product_name}
        return [k for k, cols in need.items() if not any(_key(n) in headers for n in cols)]


def builtin_mappings() -> list[str]:
    return sorted(p.stem for p in MAPPINGS.glob("*.yml"))


def load_mapping(name_or_file: str, root: Path) -> Mapping:
    """A built-in mapping by name (taobao, shopify) or a YAML mapping file."""
    path = Path(name_or_file)
    if not path.suffix:
        path = MAPPINGS / f"{name_or_file}.yml"
        if not path.is_file():
            raise InputError(f"no mapping named '{name_or_file}'; built in: "
                             f"{', '.join(builtin_mappings())}, or give a .yml file")
    doc = read_yaml(path, rel(path, root))
    if not isinstance(doc.data, dict):
        raise InputError("a mapping file is a mapping (name, columns…)", doc.where())
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
        raise InputError(f"cannot read: {e.strerror}", Where(shown)) from None
    errors: list[InputError] = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text": UTF-16, tabs
        text_lines = raw.decode("utf-16").splitlines(keepends=True)
        encoding = "utf-16"
    else:
        if raw.startswith(b"\xef\xbb\xbf"):
            raw, encoding = raw[3:], "utf-8"
        lines = raw.splitlines(keepends=True)
        if encoding == "auto":
            encoding = detect_encoding(lines)
        try:
            "".encode(encoding)
        except LookupError:
            raise InputError(f"unknown encoding '{encoding}'", Where(shown)) from None
        text_lines = []
        for n, line in enumerate(lines, 1):
            try:
                text_lines.append(line.decode(encoding))
            except UnicodeDecodeError as e:
                errors.append(InputError(
                    f"cannot be read as {encoding.upper()} (byte 0x{line[e.start]:02x} at "
                    f"column {e.start + 1}); re-export the file or save it as UTF-8",
                    Where(shown, n), kind="encoding"))
                text_lines.append(line.decode(encoding, errors="replace"))
    if not text_lines:
        raise InputError("the export is empty", Where(shown))
    delimiter = "\t" if text_lines[0].count("\t") > text_lines[0].count(",") else ","
    reader = csv.reader(io.StringIO("".join(text_lines), newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except (StopIteration, csv.Error) as e:
        raise InputError(f"no header row ({e})", Where(shown, 1)) from None
    keys = [_key(h) for h in headers]
    rows: list[tuple[int, dict[str, str]]] = []
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            errors.append(InputError(f"unreadable CSV row: {e}", Where(shown, start)))
            break
        if any(c.strip() for c in cells):
            if len(cells) > len(keys):
                errors.append(InputError(f"{len(cells)} cells but {len(keys)} column headers",
                                         Where(shown, start)))
            else:
                rows.append((start, dict(zip(keys, cells))))
        start = reader.line_num + 1
    return Table(shown, encoding, headers, rows), errors


def guess_mapping(table: Table) -> str:
    keys = {_key(h) for h in table.headers}
    fits = [n for n in builtin_mappings() if not load_mapping(n, MAPPINGS).required_missing(keys)]
    if not fits:
        raise InputError(f"no built-in mapping fits these columns ({', '.join(table.headers[:8])}"
                         f"{'…' if len(table.headers) > 8 else ''}); give one with --mapping "
                         f"({', '.join(builtin_mappings())} or a .yml file)", Where(table.file, 1))
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
    member_id: str | None = None
    phone: str | None = None  # E.164
    name: str | None = None
    region: str | None = None
    consent: bool | None = None
    lines: list[Line] = field(default_factory=list)


_ORDER_FIELDS = ("member_id", "phone", "name", "buyer", "date", "region", "consent", "status")
_YES = {"yes", "y", "true", "1", "是", "同意"}


class _Rows:
    """Maps rows to orders, collecting every problem with its line and column."""

    def __init__(self, mapping: Mapping, table: Table, program_names: dict[str, str]):
        self.m, self.table, self.names = mapping, table, program_names
        self.errors: list[InputError] = []
        self.skipped: set[str] = set()

    def err(self, line: int, message: str, column: str | None = None) -> None:
        self.errors.append(InputError(message, Where(self.table.file, line), field=column))

    def columns(self, fieldname: str) -> list[str]:
        if fieldname == "status":
            return self.m.status.column if self.m.status else []
        return getattr(self.m.columns, fieldname, [])

    def cell(self, row: dict[str, str], fieldname: str) -> tuple[str, str | None]:
        """The first non-empty cell among the field's columns, and that column's name."""
        first = None
        for col in self.columns(fieldname):
            if _key(col) in row:
                first = first or col
                v = clean(row[_key(col)])
                if v:
                    return v, col
        return "", first

    def orders(self) -> list[ImportedOrder]:
        by_id: dict[str, ImportedOrder] = {}
        # order id -> column -> (value, line): an order's own fields may sit on any of its
        # rows (Shopify: the first only) but must not contradict each other.
        values: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
        for line, row in self.table.rows:
            raw_id, col = self.cell(row, "order_id")
            if not raw_id:
                self.err(line, "no order id", col)
                continue
            oid = self.m.order_prefix + raw_id.lstrip("#")
            if oid not in by_id:
                by_id[oid] = ImportedOrder(oid, line)
            seen = values[oid]
            for f in _ORDER_FIELDS:
                for col in self.columns(f):
                    v = clean(row.get(_key(col), ""))
                    if not v:
                        continue
                    if col in seen and seen[col][0] != v:
                        self.err(line, f"order {oid}: '{v}' differs from '{seen[col][0]}' on "
                                       f"line {seen[col][1]}", col)
                    seen.setdefault(col, (v, line))
            by_id[oid].lines.append(self.item(line, row))
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
                self.err(line, "no sku, and the product name matches no product in "
                               f"members/tiers.yml ({title or 'empty'})",
                         (self.m.columns.sku or self.m.columns.product_name)[0])
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
                self.err(line, f"quantity must be a whole number ≥ 1 (got '{qty_text}')",
                         qty_col)
                qty = 1
        amount_text, amount_col = self.cell(row, "amount")
        amount = _money(amount_text)
        if amount is None:
            self.err(line, f"amount must be a number ≥ 0 (got '{amount_text}')",
                     amount_col or self.m.columns.amount[0])
            amount = Decimal(0)
        total = amount * qty if self.m.amount == "unit_price" else amount
        known = sku in self.names.values()
        return Line(sku, None if known or not title else title, qty, total)

    def finish(self, order: ImportedOrder, v: dict[str, tuple[str, int]]) -> bool:
        """Order-level fields, each from its first column with a value; False: skipped."""
        def get(f):
            cols = self.columns(f)
            col = next((c for c in cols if c in v), None)
            return (*v[col], col) if col else ("", order.line, cols[0] if cols else None)
        status, _, _ = get("status")
        rule = self.m.status
        when, line, col = get("date")
        if rule and (status in rule.skip or (not when and status in rule.refunded)):
            self.skipped.add(order.id)
            return False
        order.refunded = bool(rule and status in rule.refunded)
        if not when:
            self.err(order.line, f"order {order.id}: no payment date",
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
                self.err(line, f"not a date: '{when}' (expected 2026-11-05 or 2026/11/5 "
                               "14:23)", col)
        member_id, line, col = get("member_id")
        order.member_id = member_id or None
        phone, line, col = get("phone")
        if phone:
            if "*" in phone:
                self.err(line, f"the phone is masked ({phone}); export with full contact data, "
                               "or add a member id column to the mapping", col)
            else:
                order.phone = normalise_phone(phone, self.m.country_code)
                if order.phone is None:
                    self.err(line, f"not a phone number: '{phone}'", col)
        elif not member_id:
            self.err(order.line, f"order {order.id}: no phone and no member id, so the "
                                 "buyer cannot be identified",
                     (self.m.columns.phone or self.m.columns.member_id)[0])
        name, _, _ = get("name")
        buyer, _, _ = get("buyer")
        order.name = name or buyer or None
        region, _, _ = get("region")
        order.region = " ".join(region.split()[:2]) or None  # province and city, never a street
        consent, _, _ = get("consent")
        order.consent = consent.casefold() in _YES if consent else None
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


def _order_node(order: ImportedOrder, channel: str | None) -> CommentedMap:
    node = CommentedMap()
    node["id"] = order.id
    node["date"] = order.date
    if channel:
        node["channel"] = channel
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


def plan_import(project: Project, csv_path: Path, mapping_name: str | None = None,
                secret: bytes | None = None) -> Plan:
    """Everything the import would write, validated; raises with every problem found."""
    root = project.root
    shown = rel(csv_path, root)
    probe = load_mapping(mapping_name, root) if mapping_name else None
    table, errors = read_table(csv_path, shown, probe.encoding if probe else "auto")
    mapping = probe or load_mapping(guess_mapping(table), root)
    missing = mapping.required_missing({_key(h) for h in table.headers})
    if missing:
        headers = [h.strip() for h in table.headers]
        hint = []
        for f in missing:
            for col in (getattr(mapping.columns, f, None) or [])[:1]:
                close = difflib.get_close_matches(col, headers, n=1)
                if close:
                    hint.append(f"'{col}' (found '{close[0]}')")
        raise InputError(f"the export has no column for {', '.join(missing)} in mapping "
                         f"'{mapping.name}'{'; ' + ', '.join(hint) if hint else ''}",
                         Where(shown, 1))
    names = {p.name: p.sku for p in project.program.products}
    rows = _Rows(mapping, table, names)
    orders = rows.orders()
    errors += rows.errors
    if errors:
        raise ValidationFailed(errors)
    secret = secret or load_secret(root, create=True)
    return _merge(project, mapping, table, orders, len(rows.skipped), secret)


def _merge(project: Project, mapping: Mapping, table: Table, orders: list[ImportedOrder],
           skipped: int, secret: bytes) -> Plan:
    root = project.root
    errors: list[MemberPortalError] = []
    notices: list[str] = []
    by_phone: dict[str, list[str]] = defaultdict(list)
    existing_orders: dict[str, tuple[str, bool]] = {}
    for m in project.members:
        e164 = normalise_phone(m.phone, mapping.country_code)
        if e164:
            by_phone[e164].append(m.id)
        for o in m.orders:
            existing_orders[o.id] = (m.id, o.refunded)
    known = {m.id for m in project.members}
    per_member: dict[str, list[ImportedOrder]] = defaultdict(list)
    already = 0
    for order in orders:
        if order.id in existing_orders:
            already += 1
            owner, refunded = existing_orders[order.id]
            if order.refunded and not refunded:
                notices.append(f"order {order.id} is refunded in the export but not in "
                               f"{project.where[owner].file} (member {owner}); mark it "
                               "`refunded: true` there if the refund is final")
            continue
        if order.member_id:
            who = order.member_id
        else:
            matches = by_phone.get(order.phone or "", [])
            if len(matches) > 1:
                errors.append(InputError(f"order {order.id}: the phone matches members "
                                         f"{' and '.join(matches)}; give them different phones",
                                         Where(table.file, order.line)))
                continue
            who = matches[0] if matches else member_id_for(secret, order.phone or "")
        per_member[who].append(order)
    if errors:
        raise ValidationFailed(errors)

    changes: list[Change] = []
    by_file: dict[str, list[str]] = defaultdict(list)
    for who in per_member:
        if who in known:
            by_file[project.where[who].file].append(who)
    for shown_file, ids in sorted(by_file.items()):
        path = root / shown_file
        text = path.read_text(encoding="utf-8-sig")
        _, seq_indent, map_indent = load_yaml_guess_indent(text)
        y = _yaml(map_indent or 2, seq_indent or 4)
        data = y.load(text)
        count = 0
        for who in ids:
            record = data if isinstance(data, dict) else next(
                d for d in data if isinstance(d, dict) and d.get("id") == who)
            if record.get("orders") is None:
                record["orders"] = CommentedSeq()
            for order in sorted(per_member[who], key=lambda o: (o.date, o.id)):
                record["orders"].append(_order_node(order, mapping.channel))
                count += 1
        out = io.StringIO()
        y.dump(data, out)
        changes.append(Change(path, out.getvalue(), False, ids, count))
    y = _yaml()
    new_ids = sorted(w for w in per_member if w not in known)
    for who in new_ids:
        member_orders = sorted(per_member[who], key=lambda o: (o.date, o.id))
        first = member_orders[0]
        named = next((o for o in member_orders if o.name), first)
        record = CommentedMap()
        record["id"] = who
        record["name"] = named.name or who
        if not first.phone:
            raise InputError(f"new member {who} has no phone in the export; every member "
                             "needs one", Where(table.file, first.line), member=who)
        record["phone"] = DoubleQuotedScalarString(shown_phone(first.phone))
        record["joined"] = first.date
        region = next((o.region for o in member_orders if o.region), None)
        if region:
            record["region"] = region
        consent = next((o.consent for o in member_orders if o.consent is not None), None)
        if consent is not None:
            record["consent"] = CommentedMap(marketing=consent)
        record["orders"] = CommentedSeq(_order_node(o, mapping.channel) for o in member_orders)
        record.yaml_set_start_comment(f"imported from {Path(table.file).name} "
                                      f"(mapping {mapping.name})")
        out = io.StringIO()
        y.dump(record, out)
        path = root / "members" / str(first.date.year) / f"{who}.yml"
        if path.exists():
            raise InputError(f"new member {who} would overwrite {rel(path, root)}",
                             Where(table.file, first.line), member=who)
        changes.append(Change(path, out.getvalue(), True, [who], len(member_orders)))
        if not named.name:
            notices.append(f"member {who}: no name in the export; named '{who}' for now")
    return Plan(mapping, table, changes, already, skipped, len(new_ids), notices)


# --- validate the merged project, then write all or none ----------------------------------


def apply(project: Project, plan: Plan, as_of: date) -> None:
    """Stage every file, load the merged project from the stage, then swap files in.

    The stage is members/.import-*, on the members' own filesystem (a rename never crosses
    devices), readable by the owner only, held under a lock while the import runs; a stage
    left by a killed import is rolled back or removed by the next command that reads members.
    """
    root = project.root
    if not plan.changes:
        return
    recover_imports(root)
    stage = Path(tempfile.mkdtemp(prefix=IMPORT_STAGE, dir=root / "members"))  # 0700
    lock = os.open(stage / IMPORT_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        staged: dict[Path, Path] = {}
        for n, change in enumerate(plan.changes):
            tmp = stage / f"{n}-{change.path.name}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(change.text)
                f.flush()
                os.fsync(f.fileno())
            staged[change.path] = tmp
        _validate_staged(project, staged, as_of)
        _swap(root, staged, stage)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        os.close(lock)


def _validate_staged(project: Project, staged: dict[Path, Path], as_of: date) -> None:
    root = project.root
    real = {p.resolve(): p for p in member_files(root)}
    for target in staged:
        real[target.resolve()] = target
    shown = {rel(tmp, root): rel(target, root) for target, tmp in staged.items()}
    files = sorted(staged.get(p, p) for p in real.values())
    members, where, errors = load_members(root, project.program, files)
    if not errors:
        merged = Project(root, project.program, members, where, project.redeemed)
        with paused_gc():  # only the errors are kept, as in `check`
            errors = [s for s in merged.each_status(as_of) if isinstance(s, MemberPortalError)]
    for e in errors:  # name the member file, not its staged copy
        if e.where and e.where.file in shown:
            e.where = Where(shown[e.where.file], e.where.line)
    if errors:
        failed = ValidationFailed(errors)
        failed.message += " in the merged records; nothing was written"
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

