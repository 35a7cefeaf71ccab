"""Test the four published findings of Lee & Seok 2018 on a sweep's tables.

Each claim is tested per unit (a data set, or a series = data set × loss) with the numeric
criteria below, all on cell means over completed seeds. Verdict (``findings``): "supported" (every
testable unit passes), "partly supported" (some do), "contradicted" (none do), "not testable" (no unit has the
data; the reason says what is missing). The same criteria are applied to the paper's own numbers
on the same cells, so a reader sees whether the criteria are fair.

1. Steep then flat: per data set, over the losses that have FID at d_lo (the smallest d < 10),
   d = 10 and d_hi (the largest d > 10), the median FID satisfies
   FID(10) < STEEP_RATIO · FID(d_lo) and |FID(d_hi) − FID(10)| / FID(10) < FLAT_TOL.
2. GAN-NS and LSGAN best and most stable: per data set with at least MIN_LOSSES losses, ranking
   losses by their mean FID over the d ≥ 10 cells, both rank in the top TOP_K; and (when seeds
   allow) each has a diverged fraction (of ended runs, all d; failed = crashed runs left out) no
   larger than the median other loss's, and a mean coefficient of variation of FID across seeds
   (d ≥ 10 cells with n ≥ 2) at most (1 + CV_TOL) times the median other loss's.
3. WGAN weak on gray, WGAN-GP on color: per data set with at least MIN_LOSSES losses, WGAN (gray)
   or WGAN-GP (color) ranks among the WORST_K worst by mean FID over d ≥ 10.
4. IS misjudges, FID does not: a series "IS-misjudged" has IS(d_lo) ≥ IS_GOOD · max_d IS while
   FID(d_lo) ≥ FID_BAD · min_d FID (so d_lo really is far worse). Holds when some series is
   IS-misjudged and FID rates d_lo worse than every d ≥ 10 in every series ("partly" when FID
   also ranks d_lo above some d ≥ 10 somewhere); not testable without IS.
"""
from __future__ import annotations

import math
import statistics

from ..findings import CONTRADICTED, NOT_TESTABLE, PARTLY, SUPPORTED, Finding, verdict
from . import paper
from .aggregate import Cell, Table

STEEP_RATIO = 0.5
FLAT_TOL = 0.25
MIN_LOSSES = 4
TOP_K = 3
WORST_K = 2
IS_GOOD = 0.8
FID_BAD = 2.0
HIGH_D = 10  # "d >= 10" cells for ranking and stability
CV_TOL = 0.25  # seed-to-seed CV may exceed the median other loss's by this fraction


def _mean(table: Table, d: str, loss: str, z: int) -> float | None:
    c = table.cells.get((d, loss, z))
    return c.mean if c else None


def _fmt(x: float) -> str:
    """Two decimals as the paper's tables; four below 1 (KID's values, ~0.01-0.1)."""
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.4f}"


def claim1(fid: Table) -> Finding:
    """FID falls steeply up to d = 10 and is flat from 10 to 100 (per data set, loss median)."""
    M = fid.label  # FID, or KID where the runs judge on KID (keys.judging_key)
    zs = fid.grid.z_dims
    low, high = [z for z in zs if z < 10], [z for z in zs if z > 10]
    crit = (f"median over losses: {M}(10) < {STEEP_RATIO}·{M}(d_lo) and "
            f"|{M}(d_hi) − {M}(10)|/{M}(10) < {FLAT_TOL}")
    f = Finding(1, "FID falls steeply up to d=10 and is flat from 10 to 100", "", crit)
    if 10 not in zs or not low or not high:
        f.verdict, f.reason = NOT_TESTABLE, f"needs {M} at d=10, at some d<10 and some d>10"
        return f
    lo, hi, passes = min(low), max(high), []
    for d in fid.grid.datasets:
        series = [[_mean(fid, d, loss, z) for z in (lo, 10, hi)] for loss in fid.grid.losses]
        series = [s for s in series if None not in s]
        if not series:
            continue
        a, b, c = (statistics.median(col) for col in zip(*series))
        steep, flat = b < STEEP_RATIO * a, abs(c - b) < FLAT_TOL * b
        passes.append(steep and flat)
        f.details.append(f"{paper.dataset_label(d)} ({len(series)} losses): median {M} d={lo} "
                         f"{_fmt(a)} → d=10 {_fmt(b)} (×{_ratio(b, a):.2f}, steep {_yes(steep)})"
                         f" → d={hi} {_fmt(c)} ({_ratio(c - b, b):+.0%}, flat {_yes(flat)})")
    f.verdict = verdict(passes)
    f.reason = "" if passes else f"no loss has {M} at d={lo}, 10 and {hi} on any data set"
    return f


def _ratio(x: float, y: float) -> float:
    return x / y if y else math.nan


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def high_d_means(fid: Table, d: str) -> dict[str, float]:
    """Per loss: mean of its cell means over the d ≥ 10 columns (losses without any left out)."""
    out = {}
    for loss in fid.grid.losses:
        vals = [m for z in fid.grid.z_dims
                if z >= HIGH_D and (m := _mean(fid, d, loss, z)) is not None]
        if vals:
            out[loss] = statistics.fmean(vals)
    return out


def ranking(means: dict[str, float], higher_is_better: bool = False) -> list[str]:
    """Losses from best to worst."""
    return sorted(means, key=means.get, reverse=higher_is_better)


def instability(fid: Table, d: str, loss: str) -> tuple[float | None, float | None]:
    """(diverged fraction of ended runs over all d, mean CV of FID across seeds at d ≥ 10).

    Failed runs (crashes) are left out: they say nothing about the training dynamics.
    """
    cells = [fid.cells[(d, loss, z)] for z in fid.grid.z_dims]
    ended = sum(c.n + c.n_novalue + c.n_diverged for c in cells)
    cvs = [c.std / c.mean for c in cells if c.z_dim >= HIGH_D and c.std is not None and c.mean]
    return (sum(c.n_diverged for c in cells) / ended if ended else None,
            statistics.fmean(cvs) if cvs else None)


def stability(fid: Table, d: str, subjects: tuple[str, ...], others: list[str]
              ) -> tuple[bool | None, str]:
    """Whether every subject diverges no more often than the median other loss and has a seed CV
    at most ``1 + CV_TOL`` times theirs; None when neither can be measured. Also a detail text."""
    theirs = [instability(fid, d, o) for o in others]
    med = [statistics.median(v) if (v := [t[i] for t in theirs if t[i] is not None]) else None
           for i in (0, 1)]
    checks, parts = [], []
    for s in subjects:
        div, cv = instability(fid, d, s)
        if div is not None and med[0] is not None:
            checks.append(div <= med[0] + 1e-12)
        if cv is not None and med[1] is not None:
            checks.append(cv <= (1 + CV_TOL) * med[1])
        parts.append(f"{paper.loss_label(s)} {_pct(div)} diverged, CV {_num(cv)}")
    parts.append(f"median other {_pct(med[0])} diverged, CV {_num(med[1])}")
    return (all(checks) if checks else None), "; ".join(parts)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def claim2(fid: Table) -> Finding:
    """GAN-NS and LSGAN are best (top ranks at d ≥ 10) and most stable (divergence, seed CV)."""
    M = fid.label  # FID, or KID where the runs judge on KID (keys.judging_key)
    crit = (f"both rank in the top {TOP_K} of ≥{MIN_LOSSES} losses by mean {M} over d≥{HIGH_D}; "
            f"stable: diverged fraction ≤ the median other loss's and mean CV of {M} across seeds "
            f"(d≥{HIGH_D}) ≤ {1 + CV_TOL:g}× the median other loss's")
    f = Finding(2, "GAN-NS and LSGAN are best and most stable", "", crit)
    passes, subjects = [], ("gan_ns", "lsgan")
    for d in fid.grid.datasets:
        means = high_d_means(fid, d)
        if len(means) < MIN_LOSSES or not set(subjects) <= means.keys():
            continue
        order = ranking(means)
        best = all(order.index(s) < TOP_K for s in subjects)
        stable, text = (None, "published means only") if fid.from_paper else \
            stability(fid, d, subjects, [loss for loss in means if loss not in subjects])
        passes.append(best and stable is not False)
        ranks = ", ".join(f"{paper.loss_label(loss)} {_fmt(means[loss])}" for loss in order)
        f.details.append(f"{paper.dataset_label(d)}: best {_yes(best)} (ranking by mean {M} "
                         f"d≥{HIGH_D}: {ranks}); stable "
                         f"{'not testable' if stable is None else _yes(stable)} ({text})")
    f.verdict = verdict(passes)
    if not passes:
        f.reason = f"needs GAN-NS, LSGAN and ≥{MIN_LOSSES} losses with {M} at d≥{HIGH_D}"
    return f


def is_gray(dataset: str, channels: dict[str, int]) -> bool | None:
    """Gray (True) / color (False) from the paper's data sets or the config's channel count."""
    if dataset in paper.GRAY or dataset in paper.COLOR:
        return dataset in paper.GRAY
    return None if dataset not in channels else channels[dataset] == 1


def claim3(fid: Table, channels: dict[str, int] | None = None) -> Finding:
    """WGAN is weak on gray data sets, WGAN-GP on color ones (among the worst ranks at d ≥ 10)."""
    M = fid.label  # FID, or KID where the runs judge on KID (keys.judging_key)
    crit = (f"gray: WGAN, color: WGAN-GP ranks among the {WORST_K} worst of ≥{MIN_LOSSES} losses "
            f"by mean {M} over d≥{HIGH_D}")
    f = Finding(3, "WGAN is weak on the gray data sets, WGAN-GP on color", "", crit)
    passes = []
    for d in fid.grid.datasets:
        gray = is_gray(d, channels or {})
        subject = None if gray is None else ("wgan" if gray else "wgan_gp")
        means = high_d_means(fid, d)
        if subject not in means or len(means) < MIN_LOSSES:
            continue
        order = ranking(means)
        rank = order.index(subject) + 1
        passes.append(rank > len(order) - WORST_K)
        f.details.append(f"{paper.dataset_label(d)} ({'gray' if gray else 'color'}): "
                         f"{paper.loss_label(subject)} ranks {rank}/{len(order)} "
                         f"({M} {_fmt(means[subject])}) — weak {_yes(passes[-1])}")
    f.verdict = verdict(passes)
    if not passes:
        f.reason = (f"needs WGAN (gray) or WGAN-GP (color) among ≥{MIN_LOSSES} losses with {M} at "
                    f"d≥{HIGH_D} on a data set of known channel count")
    return f


def claim4(fid: Table, inception: Table) -> Finding:
    """IS rates d_lo as good where FID rates it far worse; FID ranks d_lo below every d ≥ 10."""
    M = fid.label  # FID, or KID where the runs judge on KID (keys.judging_key)
    crit = (f"IS-misjudged series: IS(d_lo) ≥ {IS_GOOD}·max IS and {M}(d_lo) ≥ {FID_BAD}·min {M}; "
            f"{M} must rate d_lo worse than every d≥{HIGH_D} in every series")
    f = Finding(4, "IS misjudges (rates d=1 as good on some data set), FID does not", "", crit)
    if not inception.available:
        f.verdict = NOT_TESTABLE
        f.reason = "IS unavailable (no official Inception weights)"
        return f
    lo = min(fid.grid.z_dims)
    misjudged, fid_flags = [], []
    for d, loss in fid.grid.rows():
        fids = {z: m for z in fid.grid.z_dims if (m := _mean(fid, d, loss, z)) is not None}
        iss = {z: m for z in fid.grid.z_dims if (m := _mean(inception, d, loss, z)) is not None}
        if lo not in fids or lo not in iss or len(fids) < 2 or len(iss) < 2:
            continue
        high = [m for z, m in fids.items() if z >= HIGH_D] or \
            [m for z, m in fids.items() if z != lo]
        fid_flags.append(fids[lo] > max(high))
        if fids[lo] >= FID_BAD * min(fids.values()) and iss[lo] >= IS_GOOD * max(iss.values()):
            misjudged.append((d, loss))
            f.details.append(f"{paper.dataset_label(d)} {paper.loss_label(loss)}: IS(d={lo}) "
                             f"{_fmt(iss[lo])} vs best {_fmt(max(iss.values()))}, {M}(d={lo}) "
                             f"{_fmt(fids[lo])} vs best {_fmt(min(fids.values()))}")
    f.details.insert(0, f"{len(misjudged)} of {len(fid_flags)} series IS-misjudged at d={lo}; "
                        f"{M} rates d={lo} worse than every d≥{HIGH_D} in {sum(fid_flags)} of "
                        f"{len(fid_flags)}")
    if not fid_flags:
        f.verdict, f.reason = NOT_TESTABLE, f"needs {M} and IS at d={lo} and another d"
        f.details = []
    elif not misjudged:
        f.verdict = CONTRADICTED
    else:
        f.verdict = SUPPORTED if all(fid_flags) else PARTLY
    return f


def all_findings(fid: Table, inception: Table, channels: dict[str, int] | None = None
                 ) -> list[Finding]:
    """The four claims tested on the given FID (or, at small n, KID: keys.judging_key) and IS tables."""
    return [claim1(fid), claim2(fid), claim3(fid, channels), claim4(fid, inception)]


def paper_only(table: Table) -> Table:
    """A copy of ``table`` whose cells hold the paper's value as the single 'run' (calibration)."""
    cells = {k: Cell(c.dataset, c.loss, c.z_dim, values=[c.paper] if c.paper is not None else [],
                     seeds=[None] if c.paper is not None else [], paper=c.paper)
             for k, c in table.cells.items()}
    return Table(table.metric, table.key, table.grid, cells, table.higher_is_better, [],
                 from_paper=True)
