"""Rendering on a Dask cluster gives the same bytes as rendering on this machine."""
from __future__ import annotations

import shutil

import pytest
from helpers import DAY, PRINT_SECRET, page_texts, portal_project, print_project, snapshot

from memberportal.errors import BuildError
from memberportal.inputs.project import load
from memberportal.print import contexts, inserts
from memberportal.runtime.executor import make_executor
from memberportal.site.build import run

distributed = pytest.importorskip("distributed")
SECRET = "dask-tests-secret-0123456789abcdef0123456789"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=40) as c:
        yield c.scheduler_address.replace("tcp://", "dask://")


def worker_envs(address: str) -> dict:
    """How many page environments each worker made: proof that it rendered pages."""
    from distributed import Client

    def count():
        from memberportal.site import pages
        return len(pages._envs)

    with Client(address.replace("dask://", "tcp://")) as client:
        return client.run(count)


def test_pages_on_dask_are_byte_identical_to_a_local_build(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    here = portal_project(tmp_path / "local")
    there = tmp_path / "dask"
    shutil.copytree(here, there)
    local = run(here, DAY, show_progress=False, workers=2, chunk=2)
    remote = run(there, DAY, show_progress=False, executor=cluster, chunk=2)
    assert not local.failures and not remote.failures
    assert remote.rendered == local.rendered == 5
    pages_here = snapshot(here / "output" / "site" / "m")
    assert pages_here == snapshot(there / "output" / "site" / "m")
    assert len(pages_here) == 6  # five members and the neutral index
    # the cluster rendered (batches arrive as this machine reads files: which worker takes
    # them is the scheduler's business)
    assert max(worker_envs(cluster).values()) == 1


def test_a_page_that_fails_on_a_worker_names_the_member(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMBERPORTAL_SECRET", SECRET)
    root = portal_project(tmp_path / "brand")
    (root / "templates" / "member").mkdir(parents=True)
    from memberportal.layout import BUILTIN_TEMPLATES
    original = (BUILTIN_TEMPLATES / "member" / "page.html").read_text(encoding="utf-8")
    (root / "templates" / "member" / "page.html").write_text(
        "{% if s.member_id == 'A002' %}{{ missing_thing }}{% endif %}" + original,
        encoding="utf-8")
    b = run(root, DAY, show_progress=False, executor=cluster, chunk=2)
    assert [e.member for e in b.failures] == ["A002"]
    assert "missing_thing" in str(b.failures[0]) and "personal page" in str(b.failures[0])
    assert b.rendered == 4


def insert_run(tmp_path, monkeypatch):
    """The print tests' fixture brand, its print job and its parcels."""
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    root = print_project(tmp_path / "brand")
    project = load(root)
    job = contexts.make_job(project, DAY, "zh", PRINT_SECRET)
    return root, project, job, contexts.read_parcels(root / "parcels.csv", project)


def test_insert_batches_on_dask_match_a_local_run(cluster, tmp_path, monkeypatch):

    root, project, job, parcels = insert_run(tmp_path, monkeypatch)
    here, there = root / "local.pdf", root / "dask.pdf"
    inserts.build_inserts(job, project, parcels, here, workers=2, chunk=2)
    inserts.build_inserts(job, project, parcels, there, chunk=2, executor=cluster)
    assert here.read_bytes() == there.read_bytes()
    assert len(page_texts(there)) == len(parcels)


def test_executor_spec_errors(monkeypatch):
    monkeypatch.setattr("memberportal.runtime.executor.CONNECT_TIMEOUT", "1s")
    with pytest.raises(BuildError, match="unknown executor"):
        make_executor("ssh://somewhere")
    with pytest.raises(BuildError, match="HOST:PORT"):
        make_executor("dask://")
    with pytest.raises(BuildError, match="cannot reach"):
        make_executor("dask://127.0.0.1:1")




def test_inserts_keep_packing_order_whatever_order_chunks_finish_in(tmp_path, monkeypatch):
    """A cluster returns chunks as they finish; the PDF must still follow the parcels file."""
    class Backwards:
        def map(self, fn, shared, chunks):
            done = [(i, fn(shared, c)) for i, c in enumerate(chunks)]
            yield from reversed(done)

        def close(self):
            pass

    root, project, job, parcels = insert_run(tmp_path, monkeypatch)
    here, there = root / "local.pdf", root / "backwards.pdf"
    inserts.build_inserts(job, project, parcels, here, workers=1, chunk=1)
    monkeypatch.setattr(inserts, "make_executor", lambda spec, workers: Backwards())
    inserts.build_inserts(job, project, parcels, there, chunk=1, executor="dask://fake:1")
    assert len(parcels) > 2 and here.read_bytes() == there.read_bytes()
