"""Tables 2, 3 and 4 of Byeon, Park & Yang 2025, ours beside the paper's, as csv and Markdown.

Ours are mean ± sample std (ddof=1) over seeds of completed runs, ``(n)`` = seeds averaged; a
cell reads like Study A's (``cells.cell_text``). Time is ``train_s`` (training steps only).
A ``†`` marks a time whose runs shared a machine with another run (``runs.overlap``). A run that kept the
generator's weight average (ema.enabled: ProGAN, as Karras et al. evaluate it) is scored on G_ema (``fid5k_ema``).
No Δ is printed: the paper's FID has an unpublished sample count and its IS is no Inception IS
on MNIST can reach (``not comparable: <why>`` instead); its times come from other hardware and
training length, so only ratios are set side by side.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import cells
from ..cells import Cell
from ...metrickeys import generator_key
from ..keys import KEY_RE, sample_count
from ..tables import Table
from .reference import Published, lee2018_mnist_is_max, paper_is_range, published
from .runs import Model, StudyRun, order

SHARED = "†"
TABLE2_MODELS = (Model("sngan"), Model("progan"), Model("psgan", 2))
TABLE3_MODELS = (Model("sngan"), Model("sngan_without_sn"), Model("progan"), Model("psgan", 1),
                 Model("psgan", 2), Model("psgan", 3))
TABLE4_MODELS = (Model("psgan", 1), Model("psgan", 2), Model("psgan", 3))


@dataclass
class Stats:
    """Per (metric, model) cells over seeds; metric is "fid", "is" or "time"."""

    fid_key: str | None
    is_key: str | None
    cells: dict[tuple[str, Model], Cell]
    runs: list[StudyRun]

    def cell(self, metric: str, model: Model) -> Cell:
        """The cell of ``metric`` for ``model`` (empty when the model has no run)."""
        return self.cells.get((metric, model)) or Cell()

    def of(self, model: Model) -> list[StudyRun]:
        """Completed runs of ``model``."""
        return [r for r in self.runs if r.model == model and r.run.status == "completed"]

    def shared(self, model: Model) -> bool:
        """Whether a completed run of ``model`` shared its machine."""
        return any(r.shared for r in self.of(model))

    def devices(self, model: Model) -> list[str]:
        """Distinct devices of the completed runs of ``model``."""
        return sorted({r.device for r in self.of(model) if r.device})

    def ratio(self, model: Model, base: Model) -> float | None:
        """Mean time of ``model`` over mean time of ``base``."""
        a, b = self.cell("time", model).mean, self.cell("time", base).mean
        return a / b if a is not None and b else None


def _value(run: StudyRun, metric: str, stats: Stats) -> float | None:
    """A run's value as its model's paper scores it: G_ema's where the run kept one (ProGAN), else G's."""
    if metric == "time":
        return run.train_s
    key = stats.fid_key if metric == "fid" else stats.is_key
    if not key:
        return None
    averaged = run.run.value(generator_key(key, "ema"))
    return averaged if averaged is not None else run.run.value(key)


def fill(cell: Cell, run: StudyRun, value: float | None) -> None:
    """Count ``run`` into ``cell``: a completed value is averaged, anything else counted."""
    cell.count(run.run, value)


def build_stats(runs: list[StudyRun], fid_key: str | None, is_key: str | None) -> Stats:
    """Cells of every model present for FID (``fid_key``), IS (``is_key``) and time."""
    stats = Stats(fid_key, is_key, {}, runs)
    for r in (r for r in runs if r.model is not None):
        for metric in ("fid", "is", "time"):
            cell = stats.cells.setdefault((metric, r.model), Cell())
            fill(cell, r, _value(r, metric, stats))
    return stats


def models(stats: Stats, fixed: tuple[Model, ...], psgan_only: bool = False) -> list[Model]:
    """The table's fixed rows plus every other model present, in the paper's order."""
    present = {m for _, m in stats.cells if not psgan_only or m.name == "psgan"}
    return sorted(set(fixed) | present, key=order)


def fid_reason(stats: Stats) -> str:
    """Why our FID cannot be set against the paper's as a difference."""
    datasets = sorted({r.run.dataset for r in stats.runs if r.run.dataset} - {"mnist"})
    if datasets:
        return f"not comparable: ours on {', '.join(datasets)}, the paper's on MNIST"
    m = KEY_RE["fid"].match(stats.fid_key or "")
    n = f"{sample_count(m.group(1))} generated images" if m else "no FID"
    return f"not comparable: ours {stats.fid_key} ({n}), the paper's sample count unpublished"


def is_reason() -> str:
    """Why the paper's IS cannot be an Inception Score on MNIST."""
    lo, hi = paper_is_range()
    return (f"not comparable: the paper's {lo:g}–{hi:g} is far above any Inception IS on MNIST "
            f"(max {lee2018_mnist_is_max():.2f} in Lee & Seok 2018, Table 3.2)")


def _ptext(pub: Published | None, name: str, sd: str | None = None) -> str:
    """The paper's value as printed (``6.87 ± 0.02``), ``—`` without one."""
    if pub is None or name not in pub.text:
        return "—"
    return pub.text[name] + (f" ± {pub.text[sd]}" if sd and sd in pub.text else "")


def _ratio_text(x: float | None, shared: bool) -> str:
    return "—" if x is None else f"{x:.3f}" + (f" {SHARED}" if shared else "")


def _time_text(stats: Stats, model: Model) -> str:
    text = cells.cell_text(stats.cell("time", model), "time")
    return text + (f" {SHARED}" if stats.shared(model) else "")


def _num(cell: Cell) -> list:
    return [cells.num(cell.mean), cells.num(cell.std), cell.n]


def legend(stats: Stats, time: bool = False) -> list[str]:
    """Notes shared by the tables."""
    lines = ["Ours: mean ± sample std (ddof=1) over seeds of completed runs; (n) = seeds "
             "averaged. Paper: Byeon, Park & Yang 2025."]
    if time:
        lines.append("Time = `train_s`, seconds in training steps only (no evaluation, grids or "
                     "checkpoints). Absolute times are not comparable with the paper's (other "
                     "hardware and training length); compare the ratios.")
        if any(r.shared for r in stats.runs):
            lines.append(f"{SHARED} at least one run shared its machine with another run "
                         "(overlapping training windows on one host): its time is not "
                         "comparable.")
    return lines


def table2(stats: Stats) -> Table:
    """Table 2: FID and IS per model."""
    pub = published(2)
    rows, csv_rows = [], []
    for m in models(stats, TABLE2_MODELS):
        fid, inc, p = stats.cell("fid", m), stats.cell("is", m), pub.get(m)
        fid_cmp = fid_reason(stats) if p and fid.n and "fid" in p.text else ""
        is_cmp = is_reason() if p and "is" in p.text else ""
        texts = [cells.cell_text(fid, "fid"), cells.cell_text(inc, "is")]
        rows.append([m.label, texts[0], _ptext(p, "fid"), fid_cmp or "—", texts[1],
                     _ptext(p, "is"), is_cmp or "—"])
        csv_rows.append([m.id, m.k or "", stats.fid_key or "", *_num(fid), texts[0],
                         _ptext(p, "fid"), fid_cmp, stats.is_key or "", *_num(inc), texts[1],
                         _ptext(p, "is"), is_cmp, fid.n_diverged, fid.n_failed,
                         fid.n_incomplete])
    header = ["Model", f"FID ours (`{stats.fid_key or 'none'}`)", "FID paper", "FID ours vs paper",
              f"IS ours (`{stats.is_key or 'none'}`)", "IS paper", "IS ours vs paper"]
    csv_header = ["model", "generators", "fid_key", "fid_mean", "fid_sd", "fid_n", "fid_text",
                  "paper_fid", "fid_comparison", "is_key", "is_mean", "is_sd", "is_n", "is_text",
                  "paper_is", "is_comparison", "n_diverged", "n_failed", "n_incomplete"]
    return Table("table2_fid_is", "Table 2: FID and IS per model (FID lower is better)",
                    header, rows, csv_header, csv_rows, legend(stats))


def table3(stats: Stats) -> Table:
    """Table 3: training time and its ratio to SNGAN."""
    pub, base = published(3), Model("sngan")
    rows, csv_rows = [], []
    for m in models(stats, TABLE3_MODELS):
        t, p, shared = stats.cell("time", m), pub.get(m), stats.shared(m)
        ratio_text = _ratio_text(stats.ratio(m, base), shared or stats.shared(base))
        devices = "; ".join(stats.devices(m)) or "—"
        rows.append([m.label, _time_text(stats, m), ratio_text, _ptext(p, "time"),
                     _ptext(p, "ratio"), devices])
        csv_rows.append([m.id, m.k or "", *_num(t), _time_text(stats, m),
                         _ratio_csv(stats, m, base), int(shared), devices, _ptext(p, "time"),
                         _ptext(p, "ratio")])
    header = ["Model", "time ours (s)", "ratio to SNGAN ours", "time paper (s)",
              "ratio to SNGAN paper", "device"]
    csv_header = ["model", "generators", "train_s_mean", "train_s_sd", "n", "time_text",
                  "ratio_to_sngan", "shared_machine", "devices", "paper_train_time_s",
                  "paper_relative_time"]
    return Table("table3_time", "Table 3: training time and ratio to SNGAN", header, rows,
                    csv_header, csv_rows, legend(stats, time=True))


def _ratio_csv(stats: Stats, model: Model, base: Model) -> str:
    r = stats.ratio(model, base)
    return "" if r is None else f"{r:.3f}"


def table4(stats: Stats) -> Table:
    """Table 4: per number of generators K, time, ratio to K = 2, FID and IS."""
    pub, base = published(4), Model("psgan", 2)
    rows, csv_rows = [], []
    for m in models(stats, TABLE4_MODELS, psgan_only=True):
        p = pub.get(m)
        t, fid, inc = (stats.cell(x, m) for x in ("time", "fid", "is"))
        ratio = _ratio_text(stats.ratio(m, base), stats.shared(m) or stats.shared(base))
        fid_cmp = fid_reason(stats) if p and fid.n and "fid" in p.text else "—"
        texts = [_time_text(stats, m), cells.cell_text(fid, "fid"), cells.cell_text(inc, "is")]
        papers = [_ptext(p, "time"), _ptext(p, "ratio"), _ptext(p, "fid", "fid_sd"),
                  _ptext(p, "is", "is_sd")]
        rows.append([str(m.k), texts[0], ratio, texts[1], texts[2], *papers, fid_cmp])
        csv_rows.append([m.k, *_num(t), texts[0], _ratio_csv(stats, m, base),
                         int(stats.shared(m)), stats.fid_key or "", *_num(fid), texts[1],
                         *_num(inc), texts[2], *papers, fid_cmp if p else ""])
    header = ["K", "time ours (s)", "ratio to K=2 ours", f"FID ours (`{stats.fid_key or 'none'}`)",
              f"IS ours (`{stats.is_key or 'none'}`)", "time paper (s)", "ratio to K=2 paper",
              "FID paper", "IS paper", "FID ours vs paper"]
    csv_header = ["generators", "train_s_mean", "train_s_sd", "n", "time_text", "ratio_to_k2",
                  "shared_machine", "fid_key", "fid_mean", "fid_sd", "fid_n", "fid_text",
                  "is_mean", "is_sd", "is_n", "is_text", "paper_train_time_s",
                  "paper_relative_time", "paper_fid", "paper_is", "fid_comparison"]
    notes = legend(stats, time=True) + [f"IS paper: {is_reason()}."]
    return Table("table4_generators", "Table 4: PS-GAN by number of generators K", header,
                    rows, csv_header, csv_rows, notes)


def _shares(runs: list[StudyRun], key: str) -> Cell:
    """Over seeds: the share of generator steps a run spent in ``key`` (``d_updates`` or ``branch_*``)."""
    cell = Cell()
    for r in runs:
        v, steps = r.counts.get(key), r.run.steps
        cell.count(r.run, v / steps if isinstance(v, (int, float)) and steps else None)
    return cell


def table_algorithm2(stats: Stats) -> Table | None:
    """Where D learned: per PS-GAN model, the share of steps with a D update and with each branch of
    Algorithm 2 (fooled: a generator's batch judged real, D and the others learn; only_real: x alone judged
    real, the generators learn; all_fake: nothing judged real, nothing learns; single: K = 1's plain step)."""
    ms = [m for m in models(stats, (), psgan_only=True) if any(r.counts for r in stats.of(m))]
    if not ms:
        return None
    keys = ["d_updates", "branch_fooled", "branch_only_real", "branch_all_fake", "branch_single"]
    rows, csv_rows = [], []
    for m in ms:
        c = [_shares(stats.of(m), k) for k in keys]
        rows.append([m.label, *(cells.cell_text(x, "share") for x in c)])
        csv_rows += [[m.id, m.k, k, *_num(x)] for k, x in zip(keys, c)]
    header = ["Model", "D learned", "fooled", "only x real", "nothing real", "plain step (K=1)"]
    notes = ["Share of generator steps, mean ± sd over completed seeds (n). Algorithm 2 updates D only on "
             "steps where a generator's batch was judged real (\"fooled\"); when x alone is judged real the "
             "generators learn from their averaged loss; when nothing is judged real, nothing learns "
             "(`system.d_update=always`: D learns on every step, the ablation)."]
    return Table("table_algorithm2", "Algorithm 2: on which steps D learned", header, rows,
                 ["model", "generators", "count", "share_mean", "share_sd", "n"], csv_rows, notes)
