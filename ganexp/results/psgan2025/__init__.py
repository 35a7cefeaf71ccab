"""Study C results plug-in: PS-GAN vs SNGAN vs ProGAN (Byeon, Park & Yang 2025, Tables 2-4).

Found as ``psgan2025`` by ``ganexp.results.studies``; see ``report.py`` for what it writes.
"""
from ..report import push_study
from ..studies import Plugin
from .report import TITLE, Report, build, summary_lines, write
from .runs import Model, StudyRun, model_of

PLUGIN = Plugin(name="psgan2025", title=TITLE, build=build,
                has_runs=lambda report: bool(report.runs), write=write,
                summary_lines=summary_lines, push=lambda report, out: push_study(report, report.tables, out))

__all__ = ["PLUGIN", "Report", "build", "write", "summary_lines", "Model", "StudyRun",
           "model_of"]
