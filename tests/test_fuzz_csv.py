"""Fuzzing the CSV inputs through the command line: parcels files and shop exports. Whatever the
bytes, the answer is a result or a clear error (exit 1), never an uncaught exception."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import IMPORTS, PRINT_SECRET, print_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memberportal.cli import cli

PARCELS = "order_id,member_id,note\nP-001,M0002,\nP-002,M0001,gift wrap\nP-003,M0003,\n"
TAOBAO = b"\n".join((IMPORTS / "taobao-orders.csv").read_bytes().splitlines()[:4]) + b"\n"
SHOPIFY = b"\n".join((IMPORTS / "shopify-orders.csv").read_bytes().splitlines()[:4]) + b"\n"
SPECIAL = list(b',"\'\n\r\t;=#\x00\xff\xfe\xef\xbb\xbf\xe7\x8e\x8b\xb0\xa1 0aZ-')
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def brand(tmp_path_factory):
    return print_project(tmp_path_factory.mktemp("fuzz") / "brand")


@pytest.fixture(autouse=True)
def no_rendering(monkeypatch):
    """Reading is what is fuzzed: a parcels file that reads fine is not rendered."""
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    monkeypatch.setattr("memberportal.print.inserts.build_inserts",
                        lambda job, project, parcels, out, *a, **k:
                        {"path": out, "inserts": len(parcels), "bytes": 1, "shapes": 1,
                         "whole": {}, "manifest": out.with_suffix(".csv"), "failed": []})


def invoke(brand: Path, raw: bytes, *command: str):
    path = brand / "fuzz.csv"
    path.write_bytes(raw)
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(brand), "--as-of", "2026-11-24", *command,
                                      str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}"
                             f" for {raw!r}") from result.exception
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert result.output.strip() and "Traceback" not in result.output
        assert "fuzz.csv" in result.output, result.output   # the error names the file
    return result


def mutate(data, text: bytes) -> bytes:
    raw = bytearray(text)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        byte = data.draw(st.sampled_from(SPECIAL))
        if op == "delete" and raw:
            del raw[pos]
        elif op == "insert" or not raw:
            raw.insert(pos, byte)
        else:
            raw[pos] = byte
    return bytes(raw)


cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
tables = st.lists(st.lists(cells, min_size=0, max_size=5), min_size=0, max_size=6)


def as_csv(rows: list[list[str]]) -> bytes:
    import csv
    import io
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8", errors="surrogatepass")


@SETTINGS
@given(st.binary(max_size=300))
def test_parcels_random_bytes(brand, raw):
    invoke(brand, raw, "inserts", "--parcels")


@SETTINGS
@given(st.data())
def test_parcels_mutated(brand, data):
    invoke(brand, mutate(data, PARCELS.encode()), "inserts", "--parcels")


@SETTINGS
@given(tables)
def test_parcels_random_tables(brand, rows):
    invoke(brand, as_csv([["order_id", "member_id"], *rows]), "inserts", "--parcels")


@SETTINGS
@given(st.data(), st.sampled_from([TAOBAO, SHOPIFY]))
def test_import_mutated_exports(brand, data, export):
    invoke(brand, mutate(data, export), "import", "--dry-run")


@SETTINGS
@given(st.binary(max_size=300))
def test_import_random_bytes(brand, raw):
    invoke(brand, raw, "import", "--dry-run")


@SETTINGS
@given(st.sampled_from([TAOBAO, SHOPIFY]), tables)
def test_import_random_rows_under_a_real_header(brand, export, rows):
    header = export.splitlines()[0]
    encoding = "gbk" if export is TAOBAO else "utf-8"
    body = as_csv(rows).decode("utf-8").encode(encoding, errors="replace")
    invoke(brand, header + b"\n" + body, "import", "--dry-run")


def test_the_unmutated_inputs_read_fine(brand):
    """The fuzzers start from inputs that work: the mutations are what fails."""
    assert "3 inserts" in invoke(brand, PARCELS.encode(), "inserts", "--parcels").output
    for export in (TAOBAO, SHOPIFY):
        result = invoke(brand, export, "import", "--dry-run")
        assert result.exit_code == 0 and "dry run: nothing written" in result.output
