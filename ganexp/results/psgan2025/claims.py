"""The claims of Byeon, Park & Yang 2025, tested by one rule on ours and on the paper's numbers.

1. FID PS-GAN (K=2) < ProGAN < SNGAN (Table 2).
2. FID falls as K grows: K=1 > K=2 > K=3 (Table 4).
3. Time grows about linearly in K: t2 − t1 > 0, t3 − t2 > 0 and (t3 − t2)/(t2 − t1) in
   [LINEAR_LO, LINEAR_HI] (Tables 3/4). Partly settled by construction: each extra generator adds one
   forward and one backward pass per step; the measured slope (s per generator) is reported beside it.
4. ProGAN is the slowest baseline: t(ProGAN) > t(SNGAN) and > t(SNGAN without SN) (Table 3).
5. Removing SN saves time: t(SNGAN without SN) < t(SNGAN) (Table 3).
6. IS: PS-GAN (K=2) above SNGAN (Table 2: 12.2 vs 11.6, +5.2%); the margins, ours and the paper's.
7. IS rises with K: K=1 < K=2 < K=3 (Table 4).
8. FID margins: PS-GAN (K=2) below SNGAN by 17.6% and below ProGAN by 5.7% (the paper's text; Table 2):
   our margin's 95% interval over seeds (delta method, t quantile) holds the stated margin; on the
   paper's numbers (no n published) the directions decide.
9. PS-GAN with K=1 trains faster than SNGAN (Table 3: 3784 s vs 3920 s; no spectral norm's power
   iterations).

Claims 4 and 9 compare a staged model with SNGAN, which trains every step at full resolution: where a run
spends more of its steps below it than the paper's schedule (half of 60 epochs), the order follows from our
schedule as much as from the method; their details say what share ours spent there.

The paper's models enter (``Model.variant`` ""; for PS-GAN, the default reading of Algorithm 2), and each
other reading of PS-GAN can stand in for it (``for_reading``): the report runs the claims once per reading
it finds. Other variants have no published number. Verdicts
(``..findings``): "supported", "contradicted", "not testable" (a model missing, a value unavailable, or
for the time claims: runs that shared a machine, ran on different devices or trained for different
lengths), and, for the FID and IS claims, "not testable at this scale" when the runs are far below the
paper's scale (``scale_gate``): the reason then says what our numbers would say. "(within seed noise)" is added when a difference the verdict rests
on is smaller than the pooled sample std of its two sides (both with an sd; the paper's sds of
Table 4 are pooled with equal weights, its n being unpublished).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ..findings import CONTRADICTED, NOT_AT_SCALE, NOT_TESTABLE, SUPPORTED, Finding
from ..keys import KEY_RE, MIN_FID_SAMPLES, sample_count
from .reference import published
from ..runs import dotted
from .runs import Model
from .tables import Stats

MIN_EPOCHS = 10  # the paper trains ~50+ epochs; below this, FID/IS orderings say nothing about its claims
NOISE = " (within seed noise)"
LINEAR_LO, LINEAR_HI = 0.5, 2.0
SNGAN, NO_SN, PROGAN = Model("sngan"), Model("sngan_without_sn"), Model("progan")
PSGAN = {k: Model("psgan", k) for k in (1, 2, 3)}


@dataclass(frozen=True)
class Value:
    """A mean with what the rule needs to know about it."""

    mean: float
    sd: float | None = None
    n: int | None = None
    shared: bool = False
    devices: tuple[str, ...] = ()
    epochs: tuple[float, ...] = ()


Getter = Callable[[str, Model], "Value | None"]


def for_reading(get: Getter, reading: str) -> Getter:
    """``get`` with the PS-GAN models of reading ``reading`` (a ``Model.variant``) in place of the default's.
    K = 1 takes the plain step whatever the judge and D's gate (``runs.model_of`` names neither): it keeps
    only the reading's other parts (the fade)."""
    def model_for(model: Model) -> Model:
        if model.name != "psgan":
            return model
        parts = reading.split("+") if (model.k or 0) > 1 else [p for p in reading.split("+") if p == "no_fade"]
        return model._replace(variant="+".join(p for p in parts if p))
    return lambda metric, model: get(metric, model_for(model))


def low_res_share(stats: Stats, model: Model) -> float | None:
    """Mean share of a staged model's steps below full resolution (its last stage's start over the epochs it
    trained), over its completed runs; None for a model without stages."""
    shares = [float(dotted(r.run.config, "system.stage_epochs")[-1]) / r.epochs for r in stats.of(model)
              if r.epochs and (dotted(r.run.config, "system.stage_epochs") or [])]
    return sum(shares) / len(shares) if shares else None


def ours(stats: Stats) -> Getter:
    """Our values: ``get("fid" | "is" | "time" | "low_res", model)``, None without a completed value."""
    def get(metric: str, model: Model) -> Value | None:
        if metric == "low_res":
            share = low_res_share(stats, model)
            return None if share is None else Value(share)
        c = stats.cell(metric, model)
        if c.mean is None:
            return None
        runs = stats.of(model)
        return Value(c.mean, c.std, c.n, stats.shared(model), tuple(stats.devices(model)),
                     tuple(sorted({round(r.epochs, 3) for r in runs if r.epochs is not None})))
    return get


def paper() -> Getter:
    """The paper's values: FID and IS from Table 4 (with sd) else Table 2, time from Table 3."""
    def get(metric: str, model: Model) -> Value | None:
        name, tables = (metric, (4, 2)) if metric in ("fid", "is") else ("time", (3, 4))
        for t in tables:
            p = published(t).get(model)
            if p is not None and p.get(name) is not None:
                return Value(p.get(name), p.get(f"{name}_sd"))
        return None
    return get


def pooled_sd(a: Value, b: Value) -> float | None:
    """Pooled sample std of two means' seeds (equal weights when an n is unknown)."""
    if a.sd is None or b.sd is None:
        return None
    if a.n and b.n and a.n + b.n > 2:
        return math.sqrt(((a.n - 1) * a.sd ** 2 + (b.n - 1) * b.sd ** 2) / (a.n + b.n - 2))
    return math.sqrt((a.sd ** 2 + b.sd ** 2) / 2)


def noisy(a: Value, b: Value) -> bool:
    """Whether |a − b| is below the pooled sd."""
    s = pooled_sd(a, b)
    return s is not None and abs(a.mean - b.mean) < s


def verdict(checks: list[tuple[bool, bool]]) -> str:
    """From (holds, within noise) per comparison: supported (noise if any comparison is noisy),
    contradicted (noise if every failing comparison is)."""
    if all(ok for ok, _ in checks):
        return SUPPORTED + (NOISE if any(n for _, n in checks) else "")
    failing = [n for ok, n in checks if not ok]
    return CONTRADICTED + (NOISE if all(failing) else "")


def _missing(get: Getter, metric: str, wanted: list[Model]) -> str:
    gone = [m.label for m in wanted if get(metric, m) is None]
    what = {"fid": "FID", "is": "IS"}.get(metric, "training time")
    return f"no {what} for {', '.join(gone)}" if gone else ""


def time_problem(values: dict[Model, Value]) -> str:
    """Why these times are not measured alike ("" when they are)."""
    shared = [m.label for m, v in values.items() if v.shared]
    if shared:
        return f"runs of {', '.join(shared)} shared a machine (overlapping training windows)"
    devices = {d for v in values.values() for d in v.devices}
    if len(devices) > 1 or any(len(v.devices) > 1 for v in values.values()):
        return f"measured on different devices ({'; '.join(sorted(devices))})"
    epochs = {e for v in values.values() for e in v.epochs}
    if len(epochs) > 1:
        return f"trained for different lengths ({', '.join(f'{e:g}' for e in sorted(epochs))} " \
               "epochs)"
    return ""


def _rel(a: Value, b: Value) -> str:
    """``<``, ``>`` or ``=``: how a's mean stands to b's (as printed)."""
    return "<" if a.mean < b.mean else ">" if a.mean > b.mean else "="


def _fmt(v: Value) -> str:
    return f"{v.mean:.2f}"


def _chain(get: Getter, metric: str, models: list[Model], title: str, crit: str,
           n: int) -> Finding:
    """Claim ``n``: the values of ``models`` strictly increase along the list."""
    f = Finding(n, title, "", crit)
    reason = _missing(get, metric, models)
    vals = {m: get(metric, m) for m in models} if not reason else {}
    if not reason and metric == "time":
        reason = time_problem(vals)
    if reason:
        f.verdict, f.reason = NOT_TESTABLE, reason
        return f
    pairs = list(zip(models, models[1:]))
    f.verdict = verdict([(vals[a].mean < vals[b].mean, noisy(vals[a], vals[b])) for a, b in pairs])
    f.reason = f"{models[0].label} {_fmt(vals[models[0]])}" + "".join(
        f" {_rel(vals[a], vals[b])} {b.label} {_fmt(vals[b])}" for a, b in pairs)
    f.details = [f"{a.label} − {b.label}: {vals[a].mean - vals[b].mean:+.2f} (pooled sd "
                 f"{_sd(pooled_sd(vals[a], vals[b]))})" for a, b in pairs]
    return f


def _sd(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def claim1(get: Getter) -> Finding:
    """FID PS-GAN (K=2) < ProGAN < SNGAN (Table 2)."""
    return _chain(get, "fid", [PSGAN[2], PROGAN, SNGAN], "FID: PS-GAN (K=2) < ProGAN < SNGAN",
                  "mean FID strictly increases PS-GAN (K=2) → ProGAN → SNGAN", 1)


def claim2(get: Getter) -> Finding:
    """FID falls as K grows (Table 4)."""
    return _chain(get, "fid", [PSGAN[3], PSGAN[2], PSGAN[1]], "FID falls as K grows",
                  "mean FID K=1 > K=2 > K=3", 2)


def claim3(get: Getter) -> Finding:
    """Training time grows about linearly in K (Tables 3/4)."""
    crit = (f"t2 − t1 > 0, t3 − t2 > 0 and (t3 − t2)/(t2 − t1) in [{LINEAR_LO:g}, "
            f"{LINEAR_HI:g}]")
    f = Finding(3, "Training time grows about linearly in K", "", crit)
    ms = [PSGAN[k] for k in (1, 2, 3)]
    reason = _missing(get, "time", ms)
    t = [get("time", m) for m in ms] if not reason else []
    reason = reason or time_problem(dict(zip(ms, t)))
    if reason:
        f.verdict, f.reason = NOT_TESTABLE, reason
        return f
    d1, d2 = t[1].mean - t[0].mean, t[2].mean - t[1].mean
    ratio = d2 / d1 if d1 else math.inf
    checks = [(d1 > 0, noisy(t[0], t[1])), (d2 > 0, noisy(t[1], t[2])),
              (LINEAR_LO <= ratio <= LINEAR_HI, False)]
    f.verdict = verdict(checks)
    f.reason = (f"t1 {_fmt(t[0])}, t2 {_fmt(t[1])}, t3 {_fmt(t[2])}: increments {d1:+.2f}, "
                f"{d2:+.2f}, ratio {ratio:.2f}")
    f.details = [f"slope (t3 − t1)/2 = {(t[2].mean - t[0].mean) / 2:.2f} s per extra generator, "
                 f"{(t[2].mean - t[0].mean) / 2 / t[0].mean:.1%} of t1",
                 "partly settled by construction: each extra generator adds one forward and one "
                 "backward pass per step; the ratio says whether anything else grows with K"]
    return f


def claim4(get: Getter) -> Finding:
    """ProGAN is the slowest baseline (Table 3)."""
    f = Finding(4, "ProGAN is the slowest baseline", "",
                "t(ProGAN) > t(SNGAN) and t(ProGAN) > t(SNGAN without SN)")
    ms = [PROGAN, SNGAN, NO_SN]
    reason = _missing(get, "time", ms)
    v = {m: get("time", m) for m in ms} if not reason else {}
    reason = reason or time_problem(v)
    if reason:
        f.verdict, f.reason = NOT_TESTABLE, reason
        return f
    f.verdict = verdict([(v[PROGAN].mean > v[m].mean, noisy(v[PROGAN], v[m]))
                         for m in (SNGAN, NO_SN)])
    f.reason = f"{PROGAN.label} {_fmt(v[PROGAN])} " + " and ".join(
        f"{_rel(v[PROGAN], v[m])} {m.label} {_fmt(v[m])}" for m in (SNGAN, NO_SN))
    f.details += by_construction(get, PROGAN)
    return f


PAPER_LOW_RES = 0.5  # the paper's schedule as Study C runs it: stages switch at epochs 15 and 30 of 60


def by_construction(get: Getter, model: Model) -> list[str]:
    """The detail that marks a time comparison with SNGAN decided by our stage schedule, when it is."""
    share = get("low_res", model)
    if share is None or share.mean <= PAPER_LOW_RES + 0.05:
        return []
    return [f"by construction at this schedule: {model.label} trained {share.mean:.0%} of its steps below full "
            f"resolution (7 and 14 px), where a step costs a fraction of a 28 px step (the paper's schedule: "
            f"{PAPER_LOW_RES:.0%}); SNGAN trains every step at 28 px, so the time order follows from the schedule "
            "as much as from the method"]


def claim5(get: Getter) -> Finding:
    """Removing spectral normalization saves time (Table 3)."""
    return _chain(get, "time", [NO_SN, SNGAN], "Removing SN saves training time",
                  "t(SNGAN without SN) < t(SNGAN)", 5)


def _pct(a: Value, b: Value) -> str:
    """``−17.6%``: a relative to b."""
    return f"{(a.mean - b.mean) / b.mean:+.1%}".replace("-", "−")


def claim6(get: Getter) -> Finding:
    """IS of PS-GAN (K=2) above SNGAN's (Table 2)."""
    f = _chain(get, "is", [SNGAN, PSGAN[2]], "IS: PS-GAN (K=2) above SNGAN", "IS(SNGAN) < IS(PS-GAN, K=2)", 6)
    ps, sn = get("is", PSGAN[2]), get("is", SNGAN)
    if ps is not None and sn is not None:
        f.details.append(f"margin: ours {_pct(ps, sn)}, the paper's {_pct(paper()('is', PSGAN[2]), paper()('is', SNGAN))}")
    return f


def claim7(get: Getter) -> Finding:
    """IS rises with K (Table 4)."""
    return _chain(get, "is", [PSGAN[1], PSGAN[2], PSGAN[3]], "IS rises with K", "IS K=1 < K=2 < K=3", 7)


def claim8(get: Getter) -> Finding:
    """FID margins of PS-GAN (K=2) below SNGAN and ProGAN (Table 2)."""
    f = Finding(8, "FID: PS-GAN (K=2) 17.6% below SNGAN and 5.7% below ProGAN", "",
                "FID(PS-GAN, K=2) < FID(SNGAN) and < FID(ProGAN); margins reported beside the paper's")
    ms = [PSGAN[2], SNGAN, PROGAN]
    reason = _missing(get, "fid", ms)
    if reason:
        f.verdict, f.reason = NOT_TESTABLE, reason
        return f
    v, p = {m: get("fid", m) for m in ms}, paper()
    if any(x.n is None for x in v.values()):  # the paper's numbers: no n, no interval; the directions decide
        f.verdict = verdict([(v[PSGAN[2]].mean < v[m].mean, noisy(v[PSGAN[2]], v[m])) for m in (SNGAN, PROGAN)])
        f.reason = "; ".join(f"vs {m.label}: {_pct(v[PSGAN[2]], v[m])} ({_stated(m, p)})" for m in (SNGAN, PROGAN))
        return f
    intervals = {m: margin_interval(v[PSGAN[2]], v[m]) for m in (SNGAN, PROGAN)}
    parts = [f"vs {m.label}: {_pct(v[PSGAN[2]], v[m])} " + (f"[{_p(lo)}, {_p(hi)}]" if lo is not None else
                                                            "(no interval: one seed)") + f" ({_stated(m, p)})"
             for m, (lo, hi) in intervals.items()]
    f.reason = "; ".join(parts)
    if any(lo is None for lo, _ in intervals.values()):
        f.verdict = NOT_TESTABLE
        return f
    f.verdict = SUPPORTED if all(lo <= STATED_FID_MARGIN[m] <= hi for m, (lo, hi) in intervals.items()) \
        else CONTRADICTED
    return f


def margin_interval(a: Value, b: Value) -> tuple[float | None, float | None]:
    """95% interval of a/b − 1 over seeds: the delta method's standard error, a t quantile with
    min(n_a, n_b) − 1 degrees of freedom; (None, None) below two seeds on either side."""
    from scipy.stats import t

    if not a.n or not b.n or a.n < 2 or b.n < 2 or a.sd is None or b.sd is None:
        return None, None
    m = a.mean / b.mean
    se = abs(m) * math.sqrt((a.sd / a.mean) ** 2 / a.n + (b.sd / b.mean) ** 2 / b.n)
    half = t.ppf(0.975, min(a.n, b.n) - 1) * se
    return m - 1 - half, m - 1 + half


def _p(x: float) -> str:
    return f"{x:+.1%}".replace("-", "−")


# The margins as the paper states them (abstract, section 4); Table 2's FIDs give −17.6% and −5.8%.
STATED_FID_MARGIN = {SNGAN: -0.176, PROGAN: -0.057}


def _stated(m, p) -> str:
    """``the paper states −5.7%; its Table 2 gives −5.8%``: the text's margin, and the table's where they differ."""
    stated, table = f"{STATED_FID_MARGIN[m]:+.1%}".replace("-", "−"), _pct(p("fid", PSGAN[2]), p("fid", m))
    return f"the paper states {stated}" + (f"; its Table 2 gives {table}" if table != stated else "")


def claim9(get: Getter) -> Finding:
    """PS-GAN with K = 1 trains faster than SNGAN (Table 3)."""
    f = _chain(get, "time", [PSGAN[1], SNGAN], "PS-GAN (K=1) trains faster than SNGAN",
               "t(PS-GAN, K=1) < t(SNGAN)", 9)
    f.details += by_construction(get, PSGAN[1])
    return f


QUALITY = (1, 2, 6, 7, 8)  # the FID and IS claims, which the scale gate applies to


def scale_gate(stats: Stats) -> str:
    """Why our FID/IS cannot speak to the paper's claims ("" when the runs are at its scale): a run of fewer
    than MIN_EPOCHS epochs (the shortest decides: one long run does not un-gate the short ones), or FID on
    fewer than MIN_FID_SAMPLES samples."""
    epochs = [r.epochs for r in stats.runs if r.run.status == "completed" and r.epochs is not None]
    m = KEY_RE["fid"].match(stats.fid_key or "")
    n = sample_count(m.group(1)) if m else None
    why = []
    if epochs and min(epochs) < MIN_EPOCHS:
        why.append(f"{min(epochs):.2g} epochs trained by the shortest run (the paper: ~50; gate: {MIN_EPOCHS})")
    if n is not None and n < MIN_FID_SAMPLES:
        why.append(f"FID on {n} samples (`{stats.fid_key}`; gate: {MIN_FID_SAMPLES})")
    return "; ".join(why)


def gate(f: Finding, scale: str) -> Finding:
    """A FID/IS verdict made "not testable at this scale", saying what our numbers would say."""
    if scale and f.claim in QUALITY and f.verdict.startswith((SUPPORTED, CONTRADICTED)):
        f.reason = f"{scale}; our numbers would say {f.verdict}: {f.reason}"
        f.verdict = NOT_AT_SCALE
    return f


def all_claims(get: Getter, scale: str = "") -> list[Finding]:
    """Claims 1-9 on the values ``get`` gives; ``scale`` (``scale_gate``) gates the FID/IS claims."""
    claims = (claim1, claim2, claim3, claim4, claim5, claim6, claim7, claim8, claim9)
    return [gate(claim(get), scale) for claim in claims]
