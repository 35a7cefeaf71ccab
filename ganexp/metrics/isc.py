"""Inception Score (Salimans et al. 2016, Sec. 4) of the generated images' Inception logits."""

from __future__ import annotations

from typing import Any

from ganexp.metrics.extractor import LOGITS
from ganexp.metrics.metric import Context, Metric, Scorer, register_metric
from ganexp.metrickeys import BUILTIN



@register_metric
class InceptionScore(Metric):
    """is<N> and is<N>_std over metrics.is_splits splits; None without the official weights' fc layer."""

    name = "is"
    outputs = BUILTIN["is"]
    needs = frozenset({"logits"})

    def info(self, cfg: dict[str, Any]) -> dict[str, Any]:
        return {**super().info(cfg), "splits": int(cfg["is_splits"])}

    def compute(self, ctx: Context) -> dict[str, float | None]:
        mean, std = ctx.ev.inception_score_or_none(ctx.gen.get(LOGITS))
        return {"is": mean, "is_std": std}

    def non_finite(self, ev: "Scorer") -> dict[str, float | None]:
        value = float("nan") if ev.weights.has_logits else None
        return {"is": value, "is_std": value}
