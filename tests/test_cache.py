"""The parsed-member cache: unchanged files come from it, any change is seen, errors write none."""
from __future__ import annotations

import os

import pytest
from helpers import dump, member, program

from memberportal.errors import ValidationFailed
from memberportal.inputs.project import load
from memberportal.layout import CACHE_DIR


def test_second_load_reuses_and_sees_every_change(fixture_project):
    path = fixture_project.add(member("M1", region="浙江 杭州"))
    fixture_project.add(member("M2", name="李娜"))
    assert load(fixture_project.root).member("M1").region == "浙江 杭州"
    assert list((fixture_project.root / CACHE_DIR).glob("*.pickle"))
    assert load(fixture_project.root).member("M2").name == "李娜"
    # same size, new modification time
    stamp = path.stat().st_mtime_ns
    fixture_project.add(member("M1", region="浙江 宁波"))
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    assert load(fixture_project.root).member("M1").region == "浙江 宁波"
    (fixture_project.root / "members" / "M2.yml").unlink()
    assert [m.id for m in load(fixture_project.root).members] == ["M1"]


def test_a_program_change_checks_unchanged_members_again(fixture_project):
    fixture_project.add(member(activities=[{"type": "share", "date": "2026-01-02"}]))
    load(fixture_project.root)
    data = program()
    del data["activities"]["share"]
    fixture_project.write("members/tiers.yml", dump(data))
    with pytest.raises(ValidationFailed) as info:
        load(fixture_project.root)
    assert [e.field for e in info.value.errors] == ["activities.0.type"]
