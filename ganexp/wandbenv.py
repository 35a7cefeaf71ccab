"""Where a W&B run goes: a config key where given, else the ``WANDB_*`` variable, else ganexp's default.

``logger.mode`` / ``logger.project`` / ``logger.entity`` default to null in the wandb logger option (ganexp/settings.py WandbLogger), so
``WANDB_MODE=online`` (or ``WANDB_PROJECT``, ``WANDB_ENTITY``) in the environment chooses them; without
either, runs go offline to the project ``ganexp`` (no account needed; ``wandb sync`` later). Training
(runlog) and the results push read this one rule.
"""
from __future__ import annotations

import os

DEFAULTS = {"mode": "offline", "project": "ganexp", "entity": None}
MODES = ("offline", "online", "disabled")


def target(logger_cfg: dict) -> dict:
    """``{"mode", "project", "entity"}`` for ``wandb.init``: config, then ``WANDB_<KEY>``, then DEFAULTS."""
    return {k: logger_cfg.get(k) or os.environ.get(f"WANDB_{k.upper()}") or d for k, d in DEFAULTS.items()}
