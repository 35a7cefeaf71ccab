"""The three observations of Kwak & Ko (Study B), each tested by one simple, deterministic rule.

Only completed runs count. Verdicts: "supported", "contradicted" or "not testable at this scale"
(with the reason).

1. Without SN the run mode-collapses, with SN it stays stable. No-SN runs: baseline, adain; SN
   runs: sn, sn_adain; a run collapsed when result.json's ``collapse.epoch`` is set (diversity
   stayed below the threshold from that evaluation on). Supported when at least one no-SN run
   collapsed and no SN run did; contradicted when an SN run collapsed or no no-SN run did. Not
   testable when either side has no completed run, or a run has fewer than ``MIN_EVALS``
   diversity evaluations.
2. AdaIN starts rougher and ends with better detail, judged by FID: for each pair (AdaIN,
   partner) = (adain, baseline) and (sn_adain, sn) with completed runs on both sides, "rougher
   early" = mean FID(AdaIN) > mean FID(partner) at the early evaluation (each run's first
   evaluation at or after the first sample epoch, or its first evaluation when no sample epoch is
   configured), "better late" = mean FID(AdaIN) < mean FID(partner) at each run's last
   evaluation. Supported when both halves hold for every pair; otherwise contradicted (also when
   only one half fails: the reason names the pair and the half that failed). Not testable when no
   pair has both sides, or a run has no evaluation that late or only one evaluation from then on.
3. SN + AdaIN is at least as good as either: final mean FID(sn_adain) <= min(final mean FID(sn),
   final mean FID(adain)); not testable when one of the three has no final FID.

Scale: when any run trained on fewer than ``MIN_IMAGES`` images (the offline 32-image CelebA
sample), every verdict is "not testable at this scale" and the reason says what our numbers
would say.
"""
from __future__ import annotations

import statistics

from ..findings import Finding
from .runs import LABELS, StudyRun, fmt_epoch
from .tables import Stats

SUPPORTED, CONTRADICTED = "supported", "contradicted"
NOT_TESTABLE = "not testable at this scale"
MIN_IMAGES = 10_000
MIN_EVALS = 3
NO_SN, WITH_SN = ("baseline", "adain"), ("sn", "sn_adain")
PAIRS = (("adain", "baseline"), ("sn_adain", "sn"))


def _f(x: float) -> str:
    """Two decimals (FID); four below 1 (KID's values, ~0.01-0.1)."""
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.4f}"


def _not_testable(f: Finding, reason: str) -> Finding:
    f.verdict, f.reason = NOT_TESTABLE, reason
    return f


def _who(runs: list[StudyRun]) -> str:
    return ", ".join(f"{LABELS[r.variant]} seed {r.run.seed} at epoch "
                     f"{fmt_epoch(r.collapse.epoch)}" for r in runs)


def collapse_claim(stats: Stats) -> Finding:
    """Observation 1 (Kwak & Ko): mode collapse without SN, stable training with SN."""
    f = Finding(1, "Without SN the run mode-collapses; with SN it stays stable", "",
                "at least one run without SN (Baseline, AdaIN) collapsed and no run with SN "
                f"(SN, SN + AdaIN) did; needs >= {MIN_EVALS} diversity evaluations per run")
    no_sn = [r for v in NO_SN for r in stats.of(v)]
    sn = [r for v in WITH_SN for r in stats.of(v)]
    if not no_sn or not sn:
        return _not_testable(f, f"no completed run {'without' if not no_sn else 'with'} SN")
    few = [r for r in no_sn + sn if len(r.curve(stats.div_key)) < MIN_EVALS]
    if few:
        return _not_testable(f, f"fewer than {MIN_EVALS} diversity evaluations in " + ", ".join(
            f"{LABELS[r.variant]} seed {r.run.seed} ({len(r.curve(stats.div_key))})"
            for r in few))
    bad_no, bad_sn = ([r for r in rs if r.collapse.collapsed] for rs in (no_sn, sn))
    f.verdict = SUPPORTED if bad_no and not bad_sn else CONTRADICTED
    f.reason = (f"without SN {len(bad_no)}/{len(no_sn)} runs collapsed, with SN "
                f"{len(bad_sn)}/{len(sn)}")
    if bad_no or bad_sn:
        f.reason += f" ({_who(bad_no + bad_sn)})"
    if f.verdict == CONTRADICTED:
        f.reason += "; an SN run collapsed" if bad_sn else "; no run without SN collapsed"
    f.details = [f"{LABELS[v]}: {sum(r.collapse.collapsed for r in stats.of(v))}/"
                 f"{len(stats.of(v))} collapsed" for v in NO_SN + WITH_SN if stats.of(v)]
    return f


def early_late(runs: list[StudyRun], key: str | None, start: float) -> tuple | None:
    """(mean early FID, its epochs, mean last FID, its epochs) over ``runs``; None when a run has
    no evaluation at or after ``start`` or only one."""
    early, late = [], []
    for r in runs:
        after = [(e, v) for e, v in sorted(r.curve(key).items()) if e >= start - 1e-9]
        if len(after) < 2:
            return None
        early.append(after[0])
        late.append(after[-1])
    mean = lambda pts: statistics.fmean(v for _, v in pts)  # noqa: E731
    eps = lambda pts: "/".join(map(fmt_epoch, sorted({e for e, _ in pts})))  # noqa: E731
    return mean(early), eps(early), mean(late), eps(late)


def _pair_text(a: str, b: str, ea: tuple, eb: tuple) -> tuple[bool, bool, str]:
    """(rougher early, better late, text) of AdaIN variant ``a`` against partner ``b``."""
    rough, fine = ea[0] > eb[0], ea[2] < eb[2]
    text = (f"{LABELS[a]} vs {LABELS[b]}: early (epoch {ea[1]}) {_f(ea[0])} vs {_f(eb[0])} "
            f"(rougher early {'holds' if rough else 'fails'}), late (epoch {ea[3]}) "
            f"{_f(ea[2])} vs {_f(eb[2])} (better late {'holds' if fine else 'fails'})")
    return rough, fine, text


def _failed(a: str, b: str, rough: bool, fine: bool) -> str:
    """``AdaIN vs Baseline: rougher early fails``: the halves of a pair that failed."""
    halves = [h for h, ok in (("rougher early", rough), ("better late", fine)) if not ok]
    return f"{LABELS[a]} vs {LABELS[b]}: {' and '.join(halves)} fail" + \
        ("s" if len(halves) == 1 else "")


def adain_claim(stats: Stats) -> Finding:
    """Observation 2 (Kwak & Ko, Figure 1): AdaIN starts rougher, ends with better detail."""
    epochs = stats.sample_epochs
    start = epochs[0] if epochs else 0.0
    M = stats.judge_label
    f = Finding(2, "AdaIN starts rougher and ends with better detail (by FID)", "",
                f"per pair (AdaIN vs Baseline, SN + AdaIN vs SN): mean {M} higher at the first "
                f"evaluation at or after epoch {fmt_epoch(start)} and lower at the last; "
                "supported when both hold for every pair")
    pairs = [(a, b) for a, b in PAIRS if stats.of(a) and stats.of(b)]
    if not pairs:
        return _not_testable(f, "no pair of AdaIN and non-AdaIN variants with completed runs")
    checks = []
    for a, b in pairs:
        ea, eb = (early_late(stats.of(v), stats.judge_key, start) for v in (a, b))
        if ea is None or eb is None:
            return _not_testable(f, f"{LABELS[a]} vs {LABELS[b]}: a run has fewer than 2 {M} "
                                    f"evaluations at or after epoch {fmt_epoch(start)}")
        checks.append((a, b, *_pair_text(a, b, ea, eb)))
    failed = [_failed(a, b, r, g) for a, b, r, g, _ in checks if not (r and g)]
    f.verdict = CONTRADICTED if failed else SUPPORTED
    f.details = [t for *_, t in checks]
    f.reason = "; ".join(f.details) + (f" — {'; '.join(failed)}" if failed else "")
    return f


def combined_claim(stats: Stats) -> Finding:
    """Observation 3 (Kwak & Ko): SN + AdaIN at least as good as either alone (final FID)."""
    M = stats.judge_label
    f = Finding(3, "SN + AdaIN is at least as good as either alone", "",
                f"final mean {M}(SN + AdaIN) <= min(final mean {M}(SN), final mean {M}(AdaIN))")
    vals = {v: stats.mean_final(v, stats.judge_key) for v in ("sn_adain", "sn", "adain")}
    gone = [LABELS[v] for v, x in vals.items() if x is None]
    if gone:
        return _not_testable(f, f"no final {M} for {', '.join(gone)}")
    best = min(vals["sn"], vals["adain"])
    f.verdict = SUPPORTED if vals["sn_adain"] <= best else CONTRADICTED
    f.reason = (f"SN + AdaIN {_f(vals['sn_adain'])} {'<=' if f.verdict == SUPPORTED else '>'} "
                f"min(SN {_f(vals['sn'])}, AdaIN {_f(vals['adain'])}) = {_f(best)}")
    return f


def at_scale(f: Finding, images: int | None) -> Finding:
    """Observation ``f`` made not testable when trained on fewer than MIN_IMAGES images."""
    if images is None or images >= MIN_IMAGES:
        return f
    shown = f"our numbers would say {f.verdict}: {f.reason}" if f.verdict != NOT_TESTABLE \
        else f"our numbers: {f.reason}"
    f.verdict = NOT_TESTABLE
    f.reason = (f"trained on {images:,} images (fewer than {MIN_IMAGES:,}; Kwak & Ko train on "
                f"full CelebA); {shown}")
    return f


def all_claims(stats: Stats) -> list[Finding]:
    """Observations 1-3 on ``stats``, each checked against the training-set size."""
    return [at_scale(claim(stats), stats.dataset_size)
            for claim in (collapse_claim, adain_claim, combined_claim)]
