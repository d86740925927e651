"""Reproducible output: the same input gives the same bytes (HTML and PDF), whatever the clock says
and however the member files are named, ordered or moved."""
from __future__ import annotations

import gzip
import os
import re
import shutil
import time
from datetime import date
from pathlib import Path

from helpers import PRINT_SECRET, manifest_of, portal_project, print_project

from memberportal.inputs.project import load
from memberportal.print import cards, contexts, inserts, notebook
from memberportal.site.build import run

DAY = date(2026, 11, 20)     # not the day the tests run: the build date must follow the data
SECRET = "reproducible-secret-0123456789abcdef0123456789"


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def reshuffle_members(root: Path) -> None:
    """Rename every member file and move some into sub-folders, reversing their order."""
    files = sorted((root / "members").glob("A*.yml"))
    for i, path in enumerate(files):
        folder = root / "members" / ("archive/2026" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        path.rename(folder / f"{len(files) - i:02d}-{path.stem.lower()}.yaml")


def test_two_builds_give_the_same_bytes_whatever_the_clock_and_the_file_names(tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = portal_project(tmp_path / "one")
    run(first, DAY, show_progress=False)
    time.sleep(1.1)                                   # a different second on the clock
    second = tmp_path / "elsewhere" / "two"
    shutil.copytree(first / "content", second / "content")
    shutil.copytree(first / "members", second / "members")
    shutil.copy(first / "mkdocs.yml", second / "mkdocs.yml")
    reshuffle_members(second)
    assert sorted(p.name for p in (second / "members").rglob("*.yaml"))[0] == "01-a005.yaml"
    run(second, DAY, show_progress=False)
    a, b = tree(first / "output" / "site"), tree(second / "output" / "site")
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert manifest_of(first / "output") == manifest_of(second / "output")
    # the build date is the as-of day, not the day it ran
    dates = set(re.findall(r"<lastmod>([^<]+)</lastmod>", a["sitemap.xml"].decode()))
    assert dates == {"2026-11-20"}
    assert gzip.decompress(a["sitemap.xml.gz"]) == a["sitemap.xml"]


def test_source_date_epoch_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1798761600")   # 2027-01-01
    root = portal_project(tmp_path / "brand")
    run(root, DAY, show_progress=False)
    assert "<lastmod>2027-01-01</lastmod>" in (root / "output" / "site" / "sitemap.xml"
                                               ).read_text()
    assert os.environ["SOURCE_DATE_EPOCH"] == "1798761600"


def _pdfs(root: Path, folder: Path) -> dict[str, bytes]:
    project = load(root)
    job = contexts.make_job(project, DAY, "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(root / "parcels.csv", project)
    inserts.build_inserts(job, project, parcels, folder / "inserts.pdf", workers=2, chunk=2)
    cards.build_cards(job, project, folder / "cards.pdf")
    notebook.build_notebook(job, project, folder / "notebook.pdf", notes=2, member_id="M0001")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_pdfs_are_byte_identical_across_runs_and_member_file_names(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = print_project(tmp_path / "one")
    a = _pdfs(first, tmp_path / "a")
    time.sleep(1.1)
    second = print_project(tmp_path / "two")
    for i, path in enumerate(sorted((second / "members").glob("M*.yml"), reverse=True)):
        (second / "members" / "old").mkdir(exist_ok=True)
        path.rename(second / "members" / "old" / f"z{i}-{path.name}")
    b = _pdfs(second, tmp_path / "b")
    assert a.keys() == b.keys() == {"inserts.pdf", "inserts.csv", "cards.pdf", "notebook.pdf"}
    assert [k for k in a if a[k] != b[k]] == []
    for data in a.values():
        assert b"/CreationDate" not in data and b"/ModDate" not in data
        assert str(tmp_path).encode() not in data          # no absolute path of the project


def test_an_incremental_build_on_a_later_day_gives_the_bytes_of_a_clean_one(tmp_path,
                                                                               monkeypatch):
    # The reused portal kept the first day's sitemap dates; a clean build has the new day's.
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    later = date(2026, 11, 27)
    root = portal_project(tmp_path / "one")
    run(root, DAY, show_progress=False)
    b = run(root, later, show_progress=False)
    clean = portal_project(tmp_path / "two")
    run(clean, later, show_progress=False)
    a, c = tree(root / "output" / "site"), tree(clean / "output" / "site")
    assert a.keys() == c.keys()
    assert [k for k in a if a[k] != c[k]] == []
    assert "<lastmod>2026-11-27</lastmod>" in a["sitemap.xml"].decode()
    # and a build on the same day still reuses the portal
    assert b.portal_reused is False
    assert run(root, later, show_progress=False).portal_reused
