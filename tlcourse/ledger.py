"""The headline ledger: every claim a page makes about its own measurements, in one table.

A page records a claim where it measures it::

    from tlcourse import ledger
    ledger.claim("gpt-vs-bigram", chapter=6, claim="the tiny GPT's validation loss is below the "
                 "best bigram's by at least 0.3 nats", ours=3.7, baseline=4.17, ci=None,
                 better="lower", margin=0.3, unit="nats/token", paper=None)

The row is glued into the page's notebook (``ledger:<id>``, no output on the page). When the site is
built, ``tools/course_site.py`` collects the rows of every page into ``book/ledger`` and
``_build/html/ledger.json``, and the build fails when a row the page *asserts* does not hold. A
row with ``asserted=False`` is reported honestly and does not fail the build: the page says, in its
prose, that the effect is not (yet) there.

When does a claim hold? ``d`` is ``ours - baseline`` (``baseline - ours`` when lower is better) and
``ci`` the 95% interval of ``ours - baseline`` (over seeds, or a bootstrap); the claim holds when
``d > margin`` (the size the claim states, e.g. "at least 5 points") and, if there is an interval,
it excludes 0: the effect is not noise. ``better="close"`` claims that ``ours`` is within ``margin`` of
``baseline`` (e.g. a measured proportion against the paper's).
"""
from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

PREFIX = "ledger:"
FIELDS = ("id", "chapter", "claim", "paper", "ours", "baseline", "ci", "unit", "better", "margin",
          "asserted", "holds")


def holds(ours: float, baseline: float, ci: Sequence[float] | None = None, better: str = "higher",
          margin: float = 0.0) -> bool:
    """Whether a claim holds (see the module's docstring). NaN or infinite values never hold."""
    values = [ours, baseline, *(ci or [])]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return False
    if better == "close":
        inside = abs(ours - baseline) <= margin
        return inside and (ci is None or (ci[0] >= -margin and ci[1] <= margin))
    sign = {"higher": 1.0, "lower": -1.0}[better]
    gain = sign * (ours - baseline)
    if ci is not None:
        worst = min(sign * ci[0], sign * ci[1])
        return gain > margin and worst > 0
    return gain > margin


def claim(id: str, *, chapter: int, claim: str, ours: float, baseline: float,
          ci: Sequence[float] | None = None, better: str = "higher", margin: float = 0.0,
          unit: str = "", paper: str | None = None, asserted: bool = True) -> dict:
    """Record a headline claim of the page in the ledger; returns the row (with ``holds``)."""
    from .pages import glue

    if better not in ("higher", "lower", "close"):
        raise ValueError(f"better must be 'higher', 'lower' or 'close', not {better!r}")
    ci = None if ci is None else [float(ci[0]), float(ci[1])]
    row = {"id": id, "chapter": int(chapter), "claim": claim, "paper": paper, "ours": float(ours),
           "baseline": float(baseline), "ci": ci, "unit": unit, "better": better,
           "margin": float(margin), "asserted": bool(asserted)}
    row["holds"] = holds(row["ours"], row["baseline"], ci, better, row["margin"])
    glue(PREFIX + id, json.dumps(row), display=False)
    return row


def bootstrap_diff(a: Sequence[float], b: Sequence[float], n: int = 2000, seed: int = 0,
                   paired: bool = True) -> list[float]:
    """95% bootstrap interval of ``mean(a) - mean(b)``. Paired: ``a[i]`` and ``b[i]`` are the same
    test example (e.g. 1/0 for right/wrong of two models), resampled together."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    if paired:
        idx = rng.integers(0, len(a), size=(n, len(a)))
        diffs = a[idx].mean(1) - b[idx].mean(1)
    else:
        diffs = (a[rng.integers(0, len(a), size=(n, len(a)))].mean(1)
                 - b[rng.integers(0, len(b), size=(n, len(b)))].mean(1))
    return [float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))]


def rows_from_glue(glue_data: dict) -> list[dict]:
    """The ledger rows among a page's glued values (``<page>.glue.json``, written by myst-nb)."""
    import ast

    rows = []
    for key, output in glue_data.items():
        if key.startswith(PREFIX):
            text = output.get("data", {}).get("text/plain", "")
            rows.append(json.loads(ast.literal_eval(text)))
    return rows


def failures(rows: Sequence[dict]) -> list[dict]:
    """Rows a page asserts that do not hold (recomputed, not trusted from the row)."""
    return [r for r in rows if r["asserted"]
            and not holds(r["ours"], r["baseline"], r["ci"], r["better"], r["margin"])]


def seed_interval(diffs: Sequence[float]) -> list[float] | None:
    """95% Student-t interval of the mean of paired differences over seeds (``None`` below two
    seeds). With 3 seeds the t quantile is 4.30: a few seeds give wide intervals, honestly."""
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return None
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return [float(d.mean() - half), float(d.mean() + half)]
