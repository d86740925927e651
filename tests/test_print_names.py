"""The print-name policy: each piece names the member as tiers.yml says (masked, honorific,
full), full only inside the sealed parcel; names never break inside themselves."""
from __future__ import annotations

import re

import pytest
from helpers import (
    PRINT_AS_OF,
    PRINT_SECRET,
    REPO,
    FixtureProject,
    dump,
    member,
    order,
    pdftotext,
    print_project,
    program,
)

from memberportal.errors import ValidationFailed
from memberportal.inputs.project import load
from memberportal.print import cards, contexts, inserts, notebook
from memberportal.render.templates import print_name


def test_print_name_styles():
    assert print_name("王晓梅", "女士", "masked") == "王*梅"
    assert print_name("王晓梅", "女士", "honorific") == "王女士"
    assert print_name("欧阳娜娜", "女士", "honorific") == "欧阳女士"
    assert print_name("Anna Smith", "Ms", "honorific") == "Ms Smith"
    assert print_name("王晓梅", None, "honorific") == "王*梅"     # no title: masked
    assert print_name("王 晓梅", None, "full") == "王晓梅"
    assert print_name("Anna  Smith", None, "full") == "Anna Smith"
    assert print_name(None, "女士", "full") == ""                # greeted neutrally


def _tiers_with(fx: FixtureProject, names: dict) -> None:
    data = program()
    data["brand"]["print_names"] = names
    fx.write("members/tiers.yml", dump(data))


def test_full_name_on_a_card_is_refused_naming_file_line_and_field(tmp_path):
    fx = FixtureProject(tmp_path / "brand")
    _tiers_with(fx, {"insert": "full", "notebook": "full", "card": "full"})
    fx.add(member("M1", title="女士"))
    with pytest.raises(ValidationFailed) as info:
        load(fx.root)
    [e] = info.value.errors
    text = fx.root.joinpath("members/tiers.yml").read_text(encoding="utf-8").splitlines()
    assert e.where.file == "members/tiers.yml"
    assert text[e.where.line - 1].strip().startswith("card:")
    assert "print_names" in str(e) and "card" in str(e) and "outside the parcel" in str(e)


def test_an_unknown_style_and_a_bad_title_are_refused(tmp_path):
    fx = FixtureProject(tmp_path / "brand")
    _tiers_with(fx, {"insert": "first-name"})
    fx.add(member("M1", title="女\u202e士"))
    with pytest.raises(ValidationFailed) as info:
        load(fx.root)
    said = " | ".join(str(e) for e in info.value.errors)
    assert "members/tiers.yml" in said and "insert" in said
    assert "members/M1.yml" in said and "title" in said and "U+202E" in said


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    """One job per policy: every piece printed for the fixture parcels."""
    import os
    os.environ["MEMBERPORTAL_SECRET"] = PRINT_SECRET.decode()
    out = {}
    for policy in ({"insert": "full", "notebook": "full", "card": "honorific"},
                   {"insert": "honorific", "notebook": "honorific", "card": "masked"}):
        root = print_project(tmp_path_factory.mktemp("brand"))
        for mid, name in (("M0001", "王晓梅"), ("M0002", "李娜")):
            f = root / "members" / f"{mid}.yml"
            f.write_text(f.read_text(encoding="utf-8").replace(
                f"name: {name}", f"name: {name}\ntitle: 女士"), encoding="utf-8")
        data = program()
        data["brand"]["print_names"] = policy
        (root / "members" / "tiers.yml").write_text(dump(data), encoding="utf-8")
        project = load(root)
        job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
        parcels = contexts.read_parcels(root / "parcels.csv", project)
        pdf = root / "output" / "print"
        inserts.build_inserts(job, project, parcels, pdf / "inserts.pdf", workers=1)
        cards.build_cards(job, project, pdf / "cards.pdf", workers=1)
        notebook.build_notebook(job, project, pdf / "notebook.pdf", notes=1,
                                member_id="M0001")
        texts = {k: re.sub(r"\s+", "", pdftotext(pdf / f"{k}.pdf"))
                 for k in ("inserts", "cards", "notebook")}
        out[policy["insert"]] = texts
    os.environ.pop("MEMBERPORTAL_SECRET", None)
    return out


def test_each_piece_names_her_as_the_policy_says(pieces):
    full = pieces["full"]
    assert "王晓梅" in full["inserts"] and "王晓梅" in full["notebook"]
    assert "李女士" in full["cards"] and "李娜" not in full["cards"]  # her offer's card
    honorific = pieces["honorific"]
    assert "王女士" in honorific["inserts"] and "王女士" in honorific["notebook"]
    assert "王晓梅" not in honorific["inserts"] and "王晓梅" not in honorific["notebook"]
    assert "李*" in honorific["cards"] and "李娜" not in honorific["cards"]
    assert "李女士" not in honorific["cards"]
    # a member with no title stays masked under honorific
    assert "欧阳**" in honorific["inserts"] and "欧阳娜娜" not in honorific["inserts"]


def test_full_names_never_reach_the_portal_or_the_personal_pages(tmp_path):
    import shutil

    from memberportal.site.build import run
    root = print_project(tmp_path / "brand")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    data = program()
    data["brand"]["print_names"] = {"insert": "full", "notebook": "full"}
    (root / "members" / "tiers.yml").write_text(dump(data), encoding="utf-8")
    assert not run(root, PRINT_AS_OF, show_progress=False).failures
    site = root / "output" / "site"
    every = " ".join(p.read_text(encoding="utf-8", errors="ignore")
                     for p in site.rglob("*") if p.suffix in (".html", ".json", ".js", ".xml"))
    assert "王*梅" in every
    for name in ("王晓梅", "欧阳娜娜"):
        assert name not in every


def test_a_long_name_never_breaks_inside_itself(tmp_path, monkeypatch):
    """A long full name at the end of the greeting line and a child's name in the birthday
    sentence stay whole on the insert, stamped (the default) and laid out whole."""
    from dataclasses import replace
    monkeypatch.setenv("MEMBERPORTAL_SECRET", PRINT_SECRET.decode())
    fx = FixtureProject(tmp_path / "brand")
    data = program()
    data["brand"]["print_names"] = {"insert": "full"}
    fx.write("members/tiers.yml", dump(data))
    names = ["欧阳玛丽安娜塔莎", "司马慧琳雅诗兰黛", "Anna-Maria Konstantinopoulou",
             "王晓梅晓梅晓梅"]
    people = [member(f"L{i}", name=n, birthday="1990-12-06",
                     children=[{"name": "诸葛明月清风", "birthday": "2025-12-10"}],
                     orders=[order(f"O{i}", "2026-11-01", 100)]) for i, n in enumerate(names)]
    for p in people:
        fx.add(p)
    fx.write("parcels.csv", "order_id\n" + "".join(f"O{i}\n" for i in range(len(names))))
    project = load(fx.root)
    job = contexts.make_job(project, PRINT_AS_OF, "zh", PRINT_SECRET)
    parcels = contexts.read_parcels(fx.root / "parcels.csv", project)
    for stamp in (True, False):
        out = tmp_path / f"inserts-{stamp}.pdf"
        inserts.build_inserts(replace(job, stamp=stamp), project, parcels, out, workers=1)
        for i, name in enumerate(names):
            lines = [s.strip() for s in pdftotext(out, i + 1).splitlines() if s.strip()]
            whole = name.replace(" ", "")
            assert any(whole in s.replace(" ", "") for s in lines), (stamp, name, lines)
            joined = "".join(lines).replace(" ", "")
            if "诸葛" in joined:
                assert any("诸葛明月清风" in s.replace(" ", "") for s in lines), (stamp, lines)
