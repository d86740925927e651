"""The wheel is the whole tool: built from the checkout, installed into a fresh virtual
environment outside it, and used there as a new brand would, from a folder that is not the checkout."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers import REPO

AS_OF = "2026-11-24"
# What the tool needs at run time besides its modules, as the wheel must carry it.
RUNTIME_FILES = (
    "memberportal/staff/mappings/taobao.yml",
    "memberportal/staff/mappings/shopify.yml",
    "memberportal/print/icc/FOGRA39L-coated.icc",
    "memberportal/print/icc/README.md",
    "memberportal/example/mkdocs.yml",
    "memberportal/example/.gitignore",
    "memberportal/example/members/tiers.yml",
    "memberportal/example/members/parcels-example.csv",
    "memberportal/example/content/index.md",
    "memberportal/example/templates/member/page.html",
    "memberportal/example/templates/portal/tiers.md.j2",
    "memberportal/example/templates/print/insert.html",
    "memberportal/example/templates/staff/report.html",
    "memberportal/example/templates/fonts/print-sans-regular.otf",
    "memberportal/example/templates/fonts/OFL.txt",
)


def _run(*args, cwd: Path, env: dict | None = None, timeout: int = 900):
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", out,
         REPO, cwd=out)
    return out


def test_the_wheel_lists_every_module_and_runtime_file(dist):
    [wheel] = dist.glob("memberportal-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {"memberportal/" + p.relative_to(REPO / "generator").as_posix()
               for p in (REPO / "generator").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert set(RUNTIME_FILES) <= names, sorted(set(RUNTIME_FILES) - names)
    templates = {"memberportal/example/" + p.relative_to(REPO).as_posix()
                 for p in (REPO / "templates").rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
    assert templates <= names, sorted(templates - names)
    # state and output never travel: no secret, no build, no caches
    assert not [n for n in names if "/.memberportal/" in n or "/output/" in n
                or n.endswith(".pyc")]


def test_the_sdist_builds_the_same_wheel_contents(dist, tmp_path):
    [sdist] = dist.glob("memberportal-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    [src] = tmp_path.glob("memberportal-*")
    out = tmp_path / "again"
    _run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out, src,
         cwd=tmp_path)
    [first] = dist.glob("memberportal-*.whl")
    [second] = out.glob("memberportal-*.whl")
    listed = [sorted(n for n in zipfile.ZipFile(w).namelist() if ".dist-info/" not in n)
              for w in (first, second)]
    assert listed[0] == listed[1]


def test_installed_wheel_runs_a_new_brand_outside_the_checkout(dist, tmp_path):
    [wheel] = dist.glob("memberportal-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    work = tmp_path / "work"
    work.mkdir()
    where = _run(venv / "bin" / "python", "-c",
                 "import memberportal, memberportal.layout as l; "
                 "print(memberportal.__file__); print(l.EXAMPLE)", cwd=work, env=env)
    module, example = where.stdout.split()
    assert str(venv) in module and str(venv) in example and str(REPO) not in where.stdout

    tool = venv / "bin" / "memberportal"
    _run(tool, "init", "mybrand", "--name", "山谷琴行", "--site-url",
         "https://club.valley-music.example/", "--lang", "zh", cwd=work, env=env)
    brand = work / "mybrand"
    program = brand / "members" / "tiers.yml"
    program.write_text(program.read_text(encoding="utf-8").replace(
        "keys: [phone]", "keys: [customer_id]", 1), encoding="utf-8")
    # the shop's export as many have it: no names, no phones, no SKUs; several orders a buyer
    orders = work / "orders.csv"
    rows = [("order_id", "customer_id", "date", "quantity", "amount")]
    for c in range(1, 9):
        rows += [(f"A{c}{k}", f"C{c:03d}", f"2026-{3 + k * 3:02d}-{c + 10:02d}", 1 + k,
                  f"{120 * c + 35 * k}.00") for k in range(1 + c % 3)]
    with orders.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    _run(tool, "--as-of", AS_OF, "import", orders, "--mapping", "generic", cwd=brand, env=env)
    _run(tool, "--as-of", AS_OF, "check", cwd=brand, env=env)
    _run(tool, "--as-of", AS_OF, "build", "--no-progress", cwd=brand, env=env)
    index = (brand / "output" / "site" / "index.html").read_text(encoding="utf-8")
    assert "山谷琴行" in index and "小禾家" not in index
    assert len(list((brand / "output" / "site" / "m").glob("*/index.html"))) >= 8

    parcels = brand / "parcels.csv"  # a pick list with order ids only: the records know whose
    parcels.write_text("order_id\n" + "".join(f"A{c}0\n" for c in range(1, 9)), encoding="utf-8")
    _run(tool, "--as-of", AS_OF, "inserts", "--parcels", parcels, "--no-progress", cwd=brand,
         env=env)
    assert (brand / "output" / "print" / "inserts-parcels.pdf").stat().st_size > 10_000
    _run(tool, "--as-of", AS_OF, "cards", "--no-progress", cwd=brand, env=env)
    _run(tool, "--as-of", AS_OF, "report", cwd=brand, env=env)
    assert (brand / "output" / "staff" / "report.html").is_file()
