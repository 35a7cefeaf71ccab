"""Study B results plug-in: spectral norm and AdaIN for face generation (Kwak & Ko, Figure 1).

Found as ``kwak_ko`` by ``ganexp.results.studies``; see ``report.py`` for what it writes,
``runs.py`` for the variants, ``claims.py`` for the rules behind the three observations.
"""
from ..report import push_study
from ..studies import Plugin
from .report import TITLE, Report, build, summary_lines, write
from .runs import LABELS, ORDER, StudyRun, variant_of

PLUGIN = Plugin(name="kwak_ko", title=TITLE, build=build,
                has_runs=lambda report: bool(report.runs or report.other), write=write,
                summary_lines=summary_lines, push=lambda report, out: push_study(report, [report.table], out))

__all__ = ["PLUGIN", "Report", "build", "write", "summary_lines", "StudyRun", "variant_of",
           "LABELS", "ORDER"]
