"""Matching printed pieces to parcels: order codes that decode, sequence n/N, manifests, split."""
from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from click.testing import CliRunner
from helpers import PRINT_AS_OF, PRINT_SECRET, pdftotext, print_project, qr_codes, raster

from memberportal.cli import cli
from memberportal.inputs.project import load
from memberportal.print import cards, contexts


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    return print_project(tmp_path / "brand")


def run(root, *args):
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of",
                                      PRINT_AS_OF.isoformat(), *args, "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


def pick_list(root):
    with open(root / "parcels.csv", encoding="utf-8") as f:
        return [(r["order_id"], r["member_id"]) for r in csv.DictReader(f)]


def manifest(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def pages(pdf):
    from pypdf import PdfReader
    return len(PdfReader(str(pdf)).pages)


def codes_on(pdf, page):
    return {r.text for r in qr_codes(raster(pdf, page))}


def test_every_inserts_order_code_decodes_to_its_order_and_the_manifest_matches(root):
    out = root / "output" / "print" / "job.pdf"
    said = run(root, "inserts", "--parcels", str(root / "parcels.csv"), "-o", str(out))
    assert "manifest job.csv" in said
    parcels = pick_list(root)
    rows = manifest(out.with_suffix(".csv"))
    assert list(rows[0]) == ["sequence", "order_id", "member_id", "file", "page"]
    assert [(r["sequence"], r["order_id"], r["member_id"], r["file"], r["page"]) for r in rows] \
        == [(str(n), o, m, "job.pdf", str(n)) for n, (o, m) in enumerate(parcels, 1)]
    assert pages(out) == len(parcels)
    for row in rows:
        page = int(row["page"])
        assert row["order_id"] in codes_on(out, page)
        text = pdftotext(out, page)
        assert f"订单 {row['order_id']}" in text
        assert f"{row['sequence']}/{len(parcels)}" in text.replace(" ", "")
    # the fixture's orders are not imported yet: the command says so
    assert f"{len(parcels)} parcels' orders are not in the records yet" in said


def test_per_file_splits_at_parcel_boundaries_in_pick_list_order(root):
    out = root / "output" / "print" / "day.pdf"
    run(root, "inserts", "--parcels", str(root / "parcels.csv"), "-o", str(out),
        "--per-file", "2")
    parcels = pick_list(root)
    files = sorted(out.parent.glob("day-*.pdf"))
    assert [f.name for f in files] == ["day-001.pdf", "day-002.pdf", "day-003.pdf"]
    assert not out.exists()
    seen = []
    for f in files:
        rows = manifest(f.with_suffix(".csv"))
        assert pages(f) == len(rows) and {r["file"] for r in rows} == {f.name}
        for r in rows:
            assert r["order_id"] in codes_on(f, int(r["page"]))
            text = pdftotext(f, int(r["page"])).replace(" ", "")
            assert f"{r['sequence']}/{len(parcels)}" in text
        seen += [(r["order_id"], r["member_id"]) for r in rows]
        assert [int(r["page"]) for r in rows] == list(range(1, len(rows) + 1))
    assert seen == parcels


@pytest.mark.parametrize("layout", ["sheet", "single"])
def test_cards_for_parcels_carry_the_order_code_and_a_manifest(root, layout):
    out = root / "output" / "print" / f"cards-{layout}.pdf"
    run(root, "cards", "--parcels", str(root / "parcels.csv"), "-o", str(out),
        "--layout", layout)
    rows = manifest(out.with_suffix(".csv"))
    project = load(root)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    with_offer = {c["id"] for c in cards.card_contexts(job, project)}
    first = {}
    for n, (order, member) in enumerate(pick_list(root), 1):
        first.setdefault(member, (n, order))
    # one card a member with an offer, in her first parcel of the job
    assert [(r["member_id"], r["order_id"], int(r["sequence"])) for r in rows] == sorted(
        ((m, o, n) for m, (n, o) in first.items() if m in with_offer), key=lambda x: x[2])
    total = len(pick_list(root))
    for r in rows:
        back = int(r["page"]) + 1                      # each front page's backs follow it
        assert r["order_id"] in codes_on(out, back)
        text = pdftotext(out, back).replace(" ", "")
        assert r["order_id"] in text and f"{r['sequence']}/{total}" in text
    if layout == "single":
        for r in rows:
            found = codes_on(out, int(r["page"]) + 1)
            others = {x["order_id"] for x in rows} - {r["order_id"]}
            assert not found & others


def test_cards_skip_offers_that_end_within_min_days(root):
    project = load(root)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    everyone = cards.card_contexts(job, project, min_days=0)
    soonest = min(everyone, key=lambda c: c["offer"]["until"])
    day = soonest["offer"]["until"] - timedelta(days=2)      # two days left on `day`
    late = contexts.make_job(project, day, "zh", PRINT_SECRET)
    ids = {c["id"] for c in cards.card_contexts(late, project)}
    assert soonest["id"] not in ids
    assert soonest["id"] in {c["id"] for c in cards.card_contexts(late, project, min_days=2)}
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", day.isoformat(), "cards",
                                      "--no-progress", "--member", soonest["id"]])
    assert result.exit_code == 1
    assert "has no active retention offer with 3 days left" in result.output
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", day.isoformat(), "cards",
                                      "--no-progress", "--member", soonest["id"],
                                      "--min-days", "2", "-o", str(root / "late.pdf")])
    assert result.exit_code == 0, result.output
