"""The analytics extra: BG/NBD fitted on members generated with known rates, and the fallback
to each member's rhythm when the history is too thin."""
from __future__ import annotations

import json
import random
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import program, staff_project

from memberportal.cli import cli
from memberportal.core.models import Member, Program
from memberportal.core.rhythm import rhythm
from memberportal.errors import MemberPortalError
from memberportal.inputs.project import Project
from memberportal.staff import analytics
from memberportal.staff.report import gather

AS_OF = date(2026, 11, 24)
TRUE = {"r": 2.0, "alpha": 60.0, "a": 1.0, "b": 4.0}   # purchase rate ~ Gamma(r, alpha) /day


def simulated(n: int, seed: int = 3) -> tuple[list[Member], dict[str, bool]]:
    """Members from the BG/NBD story itself: each buys at her own Poisson rate and, after each
    repeat purchase, leaves with her own probability. Returns them and who is truly still there."""
    rng = random.Random(seed)
    members, alive = [], {}
    for i in range(n):
        rate = rng.gammavariate(TRUE["r"], 1 / TRUE["alpha"])
        leave = rng.betavariate(TRUE["a"], TRUE["b"])
        first = AS_OF - timedelta(days=rng.randint(400, 730))
        days, t, here = [first], 0.0, True
        while True:
            t += rng.expovariate(rate)
            day = first + timedelta(days=int(t))
            if day > AS_OF:
                break
            if day != days[-1]:
                days.append(day)
            if rng.random() < leave:      # BG/NBD: she may leave after each repeat order
                here = False
                break
        mid = f"S{i:05d}"
        orders = [{"id": f"{mid}-{k}", "date": d.isoformat(),
                   "items": [{"sku": "BOTTLE-240", "price": 50 + rng.randint(0, 100)}]}
                  for k, d in enumerate(days)]
        members.append(Member.model_validate({"id": mid, "name": "会员", "phone": "13800000000",
                                              "joined": first.isoformat(), "orders": orders}))
        alive[mid] = here
    return members, alive


def test_bgnbd_recovers_known_rates_and_tells_the_gone_from_the_staying():
    members, alive = simulated(1500)
    fitted = analytics.fit(members, AS_OF)
    assert fitted is not None and fitted.members == 1500
    for k in ("r", "a", "b"):
        assert fitted.params[k] == pytest.approx(TRUE[k], rel=0.35), fitted.params
    # the mean purchase rate r / alpha, which the data pins down best
    assert fitted.params["r"] / fitted.params["alpha"] == pytest.approx(
        TRUE["r"] / TRUE["alpha"], rel=0.2)
    here = [p for mid, p in fitted.p_alive.items() if alive[mid]]
    gone = [p for mid, p in fitted.p_alive.items() if not alive[mid]]
    assert sum(here) / len(here) > sum(gone) / len(gone) + 0.25
    assert set(fitted.value) == set(fitted.p_alive) and all(v > 0 for v in fitted.value.values())


def test_thin_history_falls_back_to_the_members_rhythm(tmp_path):
    members, _ = simulated(60)
    assert analytics.fit(members, AS_OF) is None           # too few repeat buyers
    root = staff_project(tmp_path / "brand")
    result = CliRunner().invoke(cli, ["--lang", "en", "-C", str(root), "--as-of", AS_OF.isoformat(), "report",
                                      "--churn-model", "bgnbd", "--format", "json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "too thin for BG/NBD" in result.output
    figures = json.loads((root / "output" / "staff" / "report.json").read_text("utf-8"))
    assert [(a["member_id"], a["signal"]) for a in figures["at_risk"]] == [
        ("M0002", "product"), ("M0003", "product")]


def test_the_model_flags_the_members_it_covers_and_rhythm_the_rest():
    members, alive = simulated(400, seed=9)
    covered = {m.id: (0.2 if not alive[m.id] else 0.9) for m in members
               if len({o.date for o in m.orders}) > 1}
    project = Project(Path("."), Program.model_validate(program()), members)
    data = gather(project, AS_OF, None, model=analytics.Fitted(covered, {}, {}, len(members)))
    flagged = {a.member.id: a.signal for a in data["at_risk"]}
    lost = {m.id for m, s in zip(members, project.statuses(AS_OF)[0])
            if s.churn.level == "lost"}
    assert {mid for mid, p in covered.items() if p < 0.5} - lost == \
        {mid for mid, signal in flagged.items() if signal == "model"}
    assert {mid for mid in flagged if mid not in covered} == {
        m.id for m in members if m.id not in covered and m.id not in lost
        and rhythm(m, project.program, AS_OF).flagged}


def test_without_the_extra_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymc_marketing", None)
    monkeypatch.setitem(sys.modules, "pymc_marketing.clv", None)
    with pytest.raises(MemberPortalError, match=r"memberportal\[analytics\]"):
        analytics.fit([], AS_OF)
