import os
from contextlib import contextmanager
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

# Small, fast settings for CPU runs in tests; GANEXP_TEST_ACCELERATOR=gpu runs them on a GPU (a GPU session's
# check of the captured-step tests: GANEXP_TEST_ACCELERATOR=gpu pytest -m slow tests/test_captured.py).
ACCELERATOR = os.environ.get("GANEXP_TEST_ACCELERATOR", "cpu")
FAST = ["dataset=digits", "metrics=none", "logger=none", f"trainer.accelerator={ACCELERATOR}", "model.width=8",
        "batch_size=16", "trainer.log_every_n_steps=1", "trainer.sample_every_n_steps=1000",
        "trainer.ckpt_every_n_steps=1000", "trainer.num_eval_samples=16"]


@pytest.fixture
def compose():
    from ganexp.config import compose as _compose

    return _compose


def assets_or_skip(*parts: str) -> Path:
    path = ASSETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the offline assets live in ../shared/assets)")
    return path


def pool3_weights_or_skip() -> Path:
    """The pool3 Inception weights `python -m ganexp.metrics setup` caches; FID tests need them offline."""
    weights = next((Path.home() / ".cache" / "ganexp" / "inception").glob("*pool3-only*.pth"), None)
    if weights is None:
        pytest.skip("no pool3 weights in ~/.cache/ganexp (run `python -m ganexp.metrics setup`)")
    return weights


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module: on a shared 2-core machine, spinning OpenMP threads made the
    Inception tests 7x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def wait_for(cond, timeout=240) -> bool:
    """Poll ``cond`` every 0.2 s until it holds (True) or ``timeout`` seconds pass (False)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.2)
    return False


def train_cmd(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "ganexp.train", *overrides]


class Killed(BaseException):
    """Stands in for SIGKILL: no handler of ours catches a BaseException, so nothing more is written."""


@contextmanager
def killed_after(step: int):
    """The runs inside stop as a kill would once generator step ``step`` and its hooks (a checkpoint) are done."""
    from ganexp.training import RunHooks

    original = RunHooks.after_step

    def after_step(self, m):
        original(self, m)
        if m.step_count == step:
            raise Killed

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunHooks, "after_step", after_step)
        with pytest.raises(Killed):
            yield


def train_until_killed(overrides: list[str], run_dir: Path, monkeypatch, step: int) -> None:
    """Train ``overrides`` in run_dir until generator step ``step``, then stop as a kill would."""
    from ganexp.config import compose as _compose
    from ganexp.train import run

    with killed_after(step):
        run(_compose(overrides), run_dir, "r")
