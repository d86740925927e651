"""Rules that need the whole project: referrals count only friends who placed a paid order."""
from __future__ import annotations

from datetime import date

from helpers import member, order

from memberportal.inputs.project import load


def test_only_referrals_who_paid_count(fixture_project):
    fixture_project.add(member("A", referrals=["B", "C", "D"],
                               orders=[order("OA", "2026-01-02", 3000)]))
    fixture_project.add(member("B", orders=[order("OB", "2026-01-03", 10)]))
    fixture_project.add(member("C", orders=[order("OC", "2026-01-04", 10, refunded=True)]))
    fixture_project.add(member("D"))
    project = load(fixture_project.root)
    s = project.status(project.member("A"), date(2026, 11, 24))
    assert (s.ambassador.referrals, s.ambassador.eligible) == (1, False)


def test_statuses_are_kept_out_of_the_collectors_walks(fixture_project):
    # Every status of a project is kept by the caller (check, report): made with the collector
    # paused, then frozen, so it is not walked once per generation as it ages (100,000
    # statuses: 12.5 s of a report's 30 s).
    import gc
    for i in range(50):
        fixture_project.add(member(f"M{i:03d}", orders=[order(f"O{i}", "2026-01-02", 100)]))
    project = load(fixture_project.root)
    gc.unfreeze()
    enabled = gc.isenabled()
    try:
        before = gc.get_freeze_count()
        statuses, errors = project.statuses(date(2026, 11, 24))
        assert not errors and len(statuses) == 50
        assert gc.isenabled() == enabled
        tracked = [s for s in statuses if gc.is_tracked(s)]
        assert tracked and gc.get_freeze_count() - before >= 10 * len(statuses)
        young = {id(o) for generation in (0, 1, 2) for o in gc.get_objects(generation)}
        assert not any(id(s) in young for s in statuses)       # frozen, every one
    finally:
        gc.unfreeze()


def test_loaded_members_are_kept_out_of_the_collectors_walks(fixture_project):
    # A loaded project is kept until the command ends: read with the collector paused, then
    # frozen. Left young, the first collection after the load walked all of it (100,000
    # members: 1.9 s) and later ones again (evaluating with the collector on: 7 s more).
    import gc
    for i in range(50):
        fixture_project.add(member(f"M{i:03d}", orders=[order(f"O{i}", "2026-01-02", 100)]))
    gc.unfreeze()
    try:
        project = load(fixture_project.root)
        young = {id(o) for generation in (0, 1, 2) for o in gc.get_objects(generation)}
        kept = [m for m in project.members] + [o for m in project.members for o in m.orders]
        assert len(kept) == 100 and all(gc.is_tracked(o) for o in kept)
        assert not any(id(o) in young for o in kept)
    finally:
        gc.unfreeze()


def test_a_member_file_in_a_linked_folder_is_named_as_the_build_names_it(fixture_project,
                                                                          tmp_path):
    # Errors name a file by its path in the project, as the build does (member_stamps), not
    # by where a symbolic link leads.
    import pytest

    from memberportal.errors import ValidationFailed
    from memberportal.inputs.project import member_stamps
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "bad.yml").write_text("id: M9\nname: 王晓梅\njoined: 2024-13-01\n",
                                       encoding="utf-8")
    fixture_project.add(member("M1"))
    (fixture_project.root / "members" / "shop").symlink_to(elsewhere)
    with pytest.raises(ValidationFailed) as failed:
        load(fixture_project.root)
    assert {e.where.file for e in failed.value.errors} == {"members/shop/bad.yml"}
    assert "members/shop/bad.yml" in dict(member_stamps(fixture_project.root))
