"""A report table, laid out in rows, and its three formats: csv, Markdown and LaTeX (booktabs).

The Markdown and LaTeX tables show the display rows (``header``/``rows``: text as a reader wants it);
the csv holds typed, long-format rows (``csv_header``/``csv_rows``) for plotting and further analysis.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

LATEX_SUBS = [("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
              ("±", r"$\pm$"), ("Δ", r"$\Delta$"), ("−", "$-$"), ("—", "---"), ("`", ""),
              ("≥", r"$\geq$"), ("≤", r"$\leq$"), ("×", r"$\times$")]


def tex(text) -> str:
    """``text`` with LaTeX's special characters escaped and a few symbols in math mode."""
    out = str(text)
    for a, b in LATEX_SUBS:
        out = out.replace(a, b)
    return out.replace("**", "")


@dataclass
class Table:
    """One table: its file stem, title, display rows, csv rows, and the lines under it."""

    stem: str
    title: str
    header: list[str]
    rows: list[list[str]]
    csv_header: list[str]
    csv_rows: list[list]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """A GitHub Markdown table with its notes."""
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in self.rows]
        return "\n".join(lines + [""] + self.notes) + "\n"

    def csv(self) -> str:
        """The csv file: the header, then one row per record."""
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([self.csv_header, *self.csv_rows])
        return buf.getvalue()

    def latex(self) -> str:
        """A booktabs table (``\\usepackage{booktabs}``) with the title and notes as its caption."""
        cols = "l" * len(self.header)
        body = [" & ".join(tex(c) for c in row) + r" \\" for row in self.rows]
        caption = tex(" ".join([self.title + ".", *self.notes]))
        return "\n".join([r"\begin{table}[t]", r"\centering", r"\scriptsize",
                          rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
                          " & ".join(tex(h) for h in self.header) + r" \\", r"\midrule", *body,
                          r"\bottomrule", r"\end{tabular}", rf"\caption{{{caption}}}",
                          rf"\label{{tab:{self.stem}}}", r"\end{table}"]) + "\n"

    def file_names(self) -> list[str]:
        """The files ``write`` makes: ``<stem>.csv``, ``<stem>.md``, ``<stem>.tex``."""
        return [f"{self.stem}.{ext}" for ext in ("csv", "md", "tex")]

    def write(self, out: Path) -> dict[str, Path]:
        """Write ``<stem>.csv``, ``<stem>.md`` (titled) and ``<stem>.tex`` into ``out``; name -> path."""
        texts = [self.csv(), f"**{self.title}**\n\n" + self.markdown(), self.latex()]
        return {name: write_text(out / name, text) for name, text in zip(self.file_names(), texts)}

    def section(self) -> list[str]:
        """The table in report.md: its heading, Markdown and links to its files."""
        links = ", ".join(f"[{self.stem}.{ext}]({self.stem}.{ext})" for ext in ("csv", "md", "tex"))
        return [f"## {self.title}", "", self.markdown(), f"Files: {links}", ""]


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8 and return ``path``."""
    path.write_text(text, encoding="utf-8")
    return path
