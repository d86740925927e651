"""The analytics extra: BG/NBD (probability alive) and Gamma-Gamma (order value), pymc-marketing."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from memberportal.core.models import Member
from memberportal.errors import MemberPortalError

INSTALL = "pip install 'memberportal[analytics]'"
MIN_REPEAT_BUYERS = 100   # members with a repeat order day before a model is worth fitting


@dataclass(frozen=True)
class History:
    """A member's orders as the models see them: days since her first order day."""

    member_id: str
    frequency: int        # repeat order days (order days less the first)
    recency: int          # first to last order day
    T: int                # first order day to as_of
    monetary: float       # mean spend of a repeat order day (0 without one)


@dataclass(frozen=True)
class Fitted:
    p_alive: dict[str, float]          # members with a repeat order: the model's say
    value: dict[str, float]            # expected spend of her next order (Gamma-Gamma)
    params: dict[str, float]
    members: int                       # histories the model was fitted on


def histories(members: list[Member], as_of: date) -> list[History]:
    out = []
    for m in members:
        by_day: dict[date, Decimal] = {}
        for o in m.orders:
            if not o.refunded and o.date <= as_of:
                by_day[o.date] = by_day.get(o.date, Decimal(0)) + o.total
        if not by_day:
            continue
        days = sorted(by_day)
        repeat = [float(by_day[d]) for d in days[1:]]
        out.append(History(m.id, len(days) - 1, (days[-1] - days[0]).days,
                           (as_of - days[0]).days, sum(repeat) / len(repeat) if repeat else 0.0))
    return out


def require() -> None:
    """Raise a clear error when the extra is not installed."""
    try:
        import pandas  # noqa: F401
        import pymc_marketing.clv  # noqa: F401
    except ImportError as e:
        raise MemberPortalError(f"the churn model needs the analytics extra ({e.name} is not "
                                f"installed): {INSTALL}") from None


def fit(members: list[Member], as_of: date) -> Fitted | None:
    """Fit BG/NBD (and Gamma-Gamma on repeat spend) by MAP; None when too few members have a
    repeat order for the model to say anything (the report then uses the rhythm signals)."""
    require()
    with warnings.catch_warnings():  # pytensor's BLAS advice and pymc's deprecations: noise here
        warnings.simplefilter("ignore")
        return _fit(members, as_of)


def _fit(members: list[Member], as_of: date) -> Fitted | None:
    import pandas as pd
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    rows = histories(members, as_of)
    repeat = [h for h in rows if h.frequency > 0]
    if len(repeat) < MIN_REPEAT_BUYERS:
        return None
    for name in ("pymc", "pytensor", "pymc_marketing"):
        logging.getLogger(name).setLevel(logging.ERROR)
    data = pd.DataFrame({"customer_id": range(len(rows)),
                         "frequency": [h.frequency for h in rows],
                         "recency": [h.recency for h in rows], "T": [h.T for h in rows]})
    bg = BetaGeoModel()
    bg.fit(data, method="map", progressbar=False)
    alive = bg.expected_probability_alive(data=data).values.reshape(-1)
    params = {k: float(bg.fit_summary()[k]) for k in ("r", "alpha", "a", "b")}
    spend = pd.DataFrame({"customer_id": range(len(repeat)),
                          "frequency": [h.frequency for h in repeat],
                          "monetary_value": [h.monetary for h in repeat]})
    gg = GammaGammaModel()
    gg.fit(spend, method="map", progressbar=False)
    values = gg.expected_customer_spend(data=spend).values.reshape(-1)
    return Fitted({h.member_id: float(alive[i]) for i, h in enumerate(rows) if h.frequency},
                  {h.member_id: float(values[i]) for i, h in enumerate(repeat)},
                  params, len(rows))
