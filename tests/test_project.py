"""Rules that need the whole project: referrals count only friends who placed a paid order."""
from __future__ import annotations

from datetime import date

from conftest import member, order
from generator.project import load


def test_only_referrals_who_paid_count(fixture_project):
    fixture_project.add(member("A", referrals=["B", "C", "D"],
                               orders=[order("OA", "2026-01-02", 3000)]))
    fixture_project.add(member("B", orders=[order("OB", "2026-01-03", 10)]))
    fixture_project.add(member("C", orders=[order("OC", "2026-01-04", 10, refunded=True)]))
    fixture_project.add(member("D"))
    project = load(fixture_project.root)
    s = project.status(project.member("A"), date(2026, 11, 24))
    assert (s.ambassador.referrals, s.ambassador.eligible) == (1, False)
