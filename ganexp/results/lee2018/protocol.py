"""Is ``ours − paper`` meaningful? Only for runs trained and scored under the full protocol.

A run *matches* ``paper.TABLE31`` (the full grid of conf/experiment/table31.yaml) when, read from
its run folder:

- **schedule**: its resolved ``trainer.max_steps`` (generator steps; ``steps`` from result.json if
  the config lacks it) equals the protocol's steps for its data set (MNIST 20000, ...);
- **sample count**: the tabulated key is the protocol's (``fid10k`` / ``is10k``) and its
  ``metric_info`` says ``num_samples`` 10000, ``num_real`` 10000 (when recorded) and the
  ``train`` split;
- **latent prior**: ``latent`` is ``uniform`` (z ~ U(−1, 1)^d).

A cell prints Δ only when the paper has a value and every run averaged in it matches. Lee & Seok
do not publish their FID/IS sample count, so even then Δ compares our fid10k with a number of
unknown sample count; captions say so. Otherwise the paper's value stands beside ours without a
Δ, and the caption lists what differs (ours vs the full grid's), e.g. "sample count: ours fid250
(250 generated vs 250 real images, train split), the full grid's fid10k (...)".
"""
from __future__ import annotations

from dataclasses import dataclass

from . import paper
from ..runs import Run, dotted

ASPECTS = ("sample count", "schedule", "latent prior")


@dataclass(frozen=True, order=True)
class Difference:
    """One way a run departs from the protocol: what ours is and what the full grid's is."""

    aspect: str
    ours: str
    full: str


def _samples_text(key: str | None, n, n_real, split) -> str:
    real = f"{n_real} real" if n_real is not None else "? real"
    return f"{key or '?'} ({n if n is not None else '?'} generated vs {real} images, " \
           f"{split or '?'} split)"


def run_schedule(run: Run) -> int | None:
    """Generator steps the run was configured for (``trainer.max_steps``), else its ``steps``."""
    value = dotted(run.config, "trainer.max_steps")
    if value is None:
        value = run.steps
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def differences(run: Run, metric: str, key: str | None,
                protocol: paper.Protocol = paper.TABLE31) -> tuple[Difference, ...]:
    """How ``run``'s value under ``key`` departs from ``protocol`` (empty: it matches).

    Only defined for the protocol's data sets; other data sets have no published value and
    return no differences.
    """
    steps_full = protocol.generator_steps.get(run.dataset)
    if steps_full is None:
        return ()
    out = []
    info = run.metric_info
    n, n_real, split = info.get("num_samples"), info.get("num_real"), info.get("real_split")
    full_key = protocol.key(metric)
    if (key != full_key or n != protocol.num_samples or split != protocol.real_split
            or (n_real is not None and n_real != protocol.num_real)):
        out.append(Difference("sample count", _samples_text(key, n, n_real, split),
                              _samples_text(full_key, protocol.num_samples, protocol.num_real,
                                            protocol.real_split)))
    steps = run_schedule(run)
    if steps != steps_full:
        where = paper.dataset_label(run.dataset)
        ours = f"{steps} generator steps" if steps is not None else "unknown steps"
        out.append(Difference("schedule", f"{ours} on {where}",
                              f"{steps_full} generator steps on {where}"))
    latent = run.config.get("latent")
    if latent != protocol.latent:
        out.append(Difference("latent prior", str(latent or "not recorded"), protocol.latent))
    return tuple(out)


def rule_text(protocol: paper.Protocol = paper.TABLE31) -> str:
    """One sentence: when a Δ is printed."""
    by_steps: dict[int, list[str]] = {}
    for d, s in protocol.generator_steps.items():
        by_steps.setdefault(s, []).append(paper.dataset_label(d))
    sched = ", ".join(f"{'/'.join(ds)} {s}" for s, ds in by_steps.items())
    return (f"Δ = ours − paper is printed only where every run of the cell follows the full "
            f"{protocol.name} protocol ({sched} generator steps; {protocol.key('fid')}: "
            f"{protocol.num_samples} generated vs {protocol.num_real} {protocol.real_split} "
            f"images; {protocol.latent} latent prior).")


UNPUBLISHED = ("Lee & Seok do not publish the sample count behind their FID/IS (nor their "
               "training length)")


def caption(cells, metric: str, protocol: paper.Protocol = paper.TABLE31) -> list[str]:
    """Caption lines about the paper comparison of a table's ``cells`` (a list of Cell)."""
    with_paper = [c for c in cells if c.paper is not None]
    if not with_paper:
        return ["Paper: Lee & Seok 2018 publish no values for these cells (their data sets are "
                f"{', '.join(paper.dataset_label(d) for d in paper.DATASETS)}); no comparison."]
    scored = [c for c in with_paper if c.n]
    matching = [c for c in scored if not c.differences]
    lines = [rule_text(protocol)]
    if scored and len(matching) == len(scored):
        lines.append(f"Every cell here follows it. {UNPUBLISHED}, so Δ assumes theirs is "
                     f"comparable to our {protocol.key(metric)}.")
        return lines
    if matching:
        lines.append(f"Δ shown in {len(matching)} of {len(scored)} cells; the others differ "
                     f"from the full protocol (below).")
    elif scored:
        lines.append("No cell here follows it, so no Δ: a difference would measure the "
                     "protocol (below) as much as the method. The paper's value is shown for "
                     "orientation only.")
    diffs = sorted({d for c in scored for d in c.differences})
    for aspect in ASPECTS:
        mine = [d for d in diffs if d.aspect == aspect]
        if mine:
            ours = "; ".join(dict.fromkeys(d.ours for d in mine))
            full = "; ".join(dict.fromkeys(d.full for d in mine))
            extra = {"sample count": "; Lee & Seok's is not published",
                     "schedule": " (one generator step follows loss.n_critic critic steps)"
                     }.get(aspect, "")
            lines.append(f"Differs in {aspect}: ours {ours}; the full grid's {full}{extra}.")
    if not any(d.aspect == "sample count" for d in diffs):
        lines.append(f"{UNPUBLISHED}.")
    return lines


def short_note(cells, metric: str, protocol: paper.Protocol = paper.TABLE31) -> str:
    """One sentence for a figure: empty when every scored cell with a paper value matches."""
    scored = [c for c in cells if c.paper is not None and c.n]
    diffs = sorted({d for c in scored for d in c.differences})
    if not diffs:
        return ""
    parts = []
    samples = [d for d in diffs if d.aspect == "sample count"]
    if samples:
        parts.append(", ".join(dict.fromkeys(d.ours.split(" ")[0] for d in samples)))
    sched = [d for d in diffs if d.aspect == "schedule"]
    if sched:
        parts.append(", ".join(dict.fromkeys(d.ours for d in sched)))
    latent = [d.ours for d in diffs if d.aspect == "latent prior"]
    if latent:
        parts.append(", ".join(dict.fromkeys(latent)) + " prior")
    return (f"Ours: {'; '.join(parts)}, not the full {protocol.name} protocol. Paper (dashed): "
            "long training, sample count unpublished. Not comparable: no Δ.")
