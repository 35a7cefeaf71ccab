"""A published claim checked on a sweep: the one ``Finding`` shape and verdict vocabulary of every
study's report, and its ``findings.json``.

Verdicts: ``supported`` (every testable unit agrees with the claim), ``partly supported`` (some do),
``contradicted`` (none do), ``not testable`` (the runs lack what the claim needs: the reason says what)
and ``not testable at this scale`` (the runs have it, but at a scale where the paper's effect cannot
show; the reason says what our numbers would say).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

SUPPORTED = "supported"
PARTLY = "partly supported"
CONTRADICTED = "contradicted"
NOT_TESTABLE = "not testable"
NOT_AT_SCALE = "not testable at this scale"
VERDICTS = (SUPPORTED, PARTLY, CONTRADICTED, NOT_TESTABLE, NOT_AT_SCALE)


@dataclass
class Finding:
    """The verdict on one published claim and why."""

    claim: int
    title: str
    verdict: str
    criterion: str
    details: list[str] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return dict(self.__dict__)


def verdict(passes: list[bool]) -> str:
    """``supported`` / ``partly supported`` / ``contradicted`` from per-unit results (``not testable``
    when no unit could be tested)."""
    if not passes:
        return NOT_TESTABLE
    return SUPPORTED if all(passes) else PARTLY if any(passes) else CONTRADICTED


def findings_json(ours: list[Finding], paper: list[Finding]) -> str:
    """``findings.json``: ``{"ours": [...], "paper": [...]}``, the same claims judged on our runs and on the
    paper's own numbers."""
    return json.dumps({"ours": [f.as_dict() for f in ours], "paper": [f.as_dict() for f in paper]},
                      indent=2, ensure_ascii=False)
