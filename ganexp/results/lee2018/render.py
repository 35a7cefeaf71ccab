"""Tables as CSV (long and paper-shaped), Markdown and LaTeX.

A cell reads ``mean ± std (n)``: n is the number of completed seeds averaged; anything else in
the cell is listed after a semicolon (``12.00 ± 1.41 (2; 1 diverged)``). A cell without a value
lists why (``diverged (3/3)``, ``failed (1/3), missing (2/3)``, ``— (0/3)``, ``unavailable (3/3)``).
Beside every z column: the paper's value, and our difference (ours − paper) only where the runs
follow the full protocol (``protocol``); the caption says what differs otherwise.
Marks: **bold** = best loss of the data set in that z column; underlined = best z of that loss.
"""
from __future__ import annotations

import csv
import io

from ..cells import LATEX, MARKDOWN, PLAIN, Style, cell_text, num  # noqa: F401 (Study A's formats)
from . import paper, protocol
from .aggregate import Cell, Table

TITLES = {"fid": ("3.1", "FID", "lower is better"),
          "is": ("3.2", "Inception Score", "higher is better")}


def paper_text(cell: Cell, style: Style = PLAIN) -> str:
    """The paper's side of a cell: ``4.79 (+7.21)`` when the protocol matches, else ``4.79``;
    dash when the paper has no value."""
    if cell.paper is None:
        return style.dash
    return num(cell.paper) + (f" ({num(cell.diff, signed=True)})" if cell.diff is not None else "")


def title(table: Table) -> str:
    """``Table 3.1: FID (`fid10k`, lower is better)``."""
    number, name, better = TITLES[table.metric]
    key = f"`{table.key}`, " if table.key else ""
    return f"Table {number}: {name} ({key}{better})"


def has_delta(table: Table) -> bool:
    """Whether any cell prints ours − paper (then the paper column reads ``paper (Δ)``)."""
    return any(c.diff is not None for c in table.cells.values())


def paper_header(table: Table, style: Style = PLAIN) -> str:
    """``paper (Δ)`` when some cell has a Δ, else ``paper``."""
    return f"paper ({style.delta})" if has_delta(table) else "paper"


def legend(table: Table) -> list[str]:
    """Lines explaining a table: metric key and samples, std, marks, counts, availability, and
    what the paper column may be compared with (``protocol.caption``)."""
    lines = [f"Mean ± sample std (ddof=1) over seeds; (n) = completed seeds averaged. "
             f"Paper = Lee & Seok 2018. **Bold** = best loss of the data "
             f"set in that d column; underlined = best d of that loss. Expected seeds per cell: "
             f"{table.grid.seeds_per_cell or 'unknown'} (grid from {table.grid.source})."]
    lines += protocol.caption(list(table.cells.values()), table.metric)
    if table.key is None:
        lines.append("No run reported this metric.")
    elif not table.available:
        lines.append(f"{TITLES[table.metric][1]} unavailable: no completed run reported a value "
                     f"for `{table.key}` (no official Inception weights with logits).")
    lines += [f"Samples: {s}" for s in table.info]
    return lines


def to_markdown(table: Table, with_title: bool = True) -> str:
    """A GitHub Markdown table, rows dataset × loss, two columns (ours, paper [Δ]) per z_dim."""
    head = ["Dataset", "Model"]
    for z in table.grid.z_dims:
        head += [f"d={z}", paper_header(table)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d, loss in table.grid.rows():
        row = [paper.dataset_label(d), paper.loss_label(loss)]
        for z in table.grid.z_dims:
            c = table.cell(d, loss, z)
            row += [cell_text(c, table.metric, MARKDOWN), paper_text(c, MARKDOWN)]
        lines.append("| " + " | ".join(row) + " |")
    head = [f"**{title(table)}**", ""] if with_title else []
    return "\n".join([*head, *lines, "", *legend(table)]) + "\n"


def _tex_escape(text: str) -> str:
    return text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%") \
        .replace("&", r"\&").replace("#", r"\#")


def to_latex(table: Table) -> str:
    """A booktabs LaTeX table (needs ``\\usepackage{booktabs}``)."""
    zs = table.grid.z_dims
    out = [r"\begin{table}[t]", r"\centering", r"\scriptsize",
           r"\begin{tabular}{ll" + "rr" * len(zs) + "}", r"\toprule",
           " & & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{$d={z}$}}" for z in zs) + r" \\",
           "Dataset & Model & " + " & ".join([f"ours & {paper_header(table, LATEX)}"] * len(zs))
           + r" \\",
           r"\midrule"]
    for i, (d, loss) in enumerate(table.grid.rows()):
        if i and loss == table.grid.losses[0]:
            out.append(r"\midrule")
        first = _tex_escape(paper.dataset_label(d)) if loss == table.grid.losses[0] else ""
        cells = [f"{cell_text(c, table.metric, LATEX)} & {paper_text(c, LATEX)}"
                 for c in (table.cell(d, loss, z) for z in zs)]
        out.append(" & ".join([first, _tex_escape(paper.loss_label(loss)), *cells]) + r" \\")
    caption = _tex_escape(" ".join([title(table) + ".", *legend(table)]))
    caption = caption.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("−", "$-$")
    caption = caption.replace("**Bold**", r"\textbf{Bold}").replace("`", "")
    out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{caption}}}",
            rf"\label{{tab:{table.metric}}}", r"\end{table}"]
    return "\n".join(out).replace("—", "---") + "\n"


LONG_COLUMNS = ["dataset", "loss", "z_dim", "key", "mean", "std", "n", "seeds", "n_expected",
                "n_diverged", "n_failed", "n_incomplete", "n_novalue", "n_missing", "paper",
                "diff", "protocol_match", "protocol_differences", "best_loss", "best_dataset",
                "text"]


def match_flag(cell: Cell) -> str:
    """``1`` when Δ is printed, ``0`` when the protocol differs, empty without both values."""
    if cell.paper is None or cell.mean is None:
        return ""
    return "1" if cell.comparable else "0"


def differences_text(cell: Cell) -> str:
    """``sample count: fid250 (...) vs fid10k (...); schedule: ...`` (empty when it matches)."""
    return "; ".join(f"{d.aspect}: {d.ours} vs {d.full}" for d in cell.differences)


def long_rows(table: Table) -> list[list]:
    """One row per cell with every count (the columns of ``LONG_COLUMNS``)."""
    rows = []
    for d, loss in table.grid.rows():
        for z in table.grid.z_dims:
            c = table.cell(d, loss, z)
            rows.append([d, loss, z, table.key or "", num(c.mean), num(c.std), c.n,
                         " ".join(str(s) for s in c.seeds), c.n_expected or "", c.n_diverged,
                         c.n_failed, c.n_incomplete, c.n_novalue, c.n_missing, num(c.paper),
                         num(c.diff, signed=True), match_flag(c), differences_text(c),
                         int(c.best_loss), int(c.best_dataset),
                         cell_text(c, table.metric)])
    return rows


def to_csv_long(table: Table) -> str:
    """Tidy CSV: one row per (dataset, loss, z_dim) with mean, std, counts, paper, diff (empty
    unless the protocol matches), protocol_match / protocol_differences, marks."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LONG_COLUMNS)
    writer.writerows(long_rows(table))
    return buf.getvalue()


def to_csv_wide(table: Table) -> str:
    """Our means in the reference CSV's shape (``dataset,model,z1,...``); empty = no value."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "model", *(f"z{z}" for z in table.grid.z_dims)])
    for d, loss in table.grid.rows():
        writer.writerow([d, loss, *(num(table.cell(d, loss, z).mean) for z in table.grid.z_dims)])
    return buf.getvalue()
