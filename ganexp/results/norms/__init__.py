"""Study B results plug-in: spectral norm and AdaIN for face generation (Kwak & Ko, Figure 1).

Registered as ``kwak_ko`` in ``ganexp.results.studies``; see ``report.py`` for what it writes,
``runs.py`` for the variants, ``claims.py`` for the rules behind the three observations.
"""
from ..studies import Plugin
from .report import TITLE, Report, build, summary_lines, write
from .runs import LABELS, ORDER, StudyRun, variant_of

PLUGIN = Plugin(name="kwak_ko", title=TITLE, build=build,
                has_runs=lambda report: bool(report.runs or report.other), write=write,
                summary_lines=summary_lines)

__all__ = ["PLUGIN", "Report", "build", "write", "summary_lines", "StudyRun", "variant_of",
           "LABELS", "ORDER"]
