"""Evaluator.evaluate_members: S generators scored in one pass through Inception equal S separate evaluations
(real Inception on the CPU, the embedded digits set, a few images)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ganexp.data import Digits
from ganexp.metrics import Evaluator

ASSETS = Path(__file__).resolve().parents[1].parent / "shared/assets"
WEIGHTS = ASSETS / "inception/inception-2015-12-05-pool3-fc-zeroed.pth"
pytestmark = [pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"Inception weights not found under {ASSETS}"),
              pytest.mark.usefixtures("one_torch_thread")]

N = 7  # num_samples; with batch_size 6 and 3 members each member gives chunks of 2, 2, 2, 1
BATCH = 6
S = 3


class Member:
    """A deterministic generator: image j of member `seed` is a digit plus seeded noise, in [-1, 1], whatever
    chunk sizes it is asked for; records those chunk sizes."""

    def __init__(self, digits: torch.Tensor, seed: int, nan: bool = False):
        g = torch.Generator().manual_seed(seed)
        pool = digits[seed * N: (seed + 1) * N].float() / 127.5 - 1
        self.pool = (pool + 0.3 * (seed + 1) * torch.randn(pool.shape, generator=g)).clamp(-1, 1)
        self.nan, self.pos, self.calls = nan, 0, []

    def __call__(self, n: int) -> torch.Tensor:
        self.calls.append(n)
        out = self.pool[self.pos: self.pos + n]
        self.pos += n
        return torch.full_like(out, math.nan) if self.nan else out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An Evaluator on digits (6 real test images) and each member's separate `evaluate` scores."""
    dataset = Digits("digits", 28, 1)
    cfg = {"num_samples": N, "num_real": 6, "batch_size": BATCH, "inception_weights": str(WEIGHTS),
           "cache_dir": str(tmp_path_factory.mktemp("ganexp-cache")), "real_split": "test", "allow_download": False}
    ev = Evaluator(cfg, dataset)
    digits = dataset.images("train")
    separate = []
    for seed in range(S):
        member = Member(digits, seed)
        separate.append(ev.evaluate(member, "cpu"))
        assert member.calls == [BATCH, N - BATCH]
    return ev, digits, separate


def run_members(ev, members):
    """evaluate_members, with the batch sizes of Inception's forward passes (a hook on the real network)."""
    sizes = []
    handle = ev.features.module.register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    seen = ev.features.images_seen
    try:
        results = ev.evaluate_members(members, torch.device("cpu"))
    finally:
        handle.remove()
    return results, sizes, ev.features.images_seen - seen


def test_members_equal_separate_evaluations_in_one_pass(setup):
    ev, digits, separate = setup
    members = [Member(digits, seed) for seed in range(S)]
    results, sizes, seen = run_members(ev, members)
    assert len(results) == S
    for got, want in zip(results, separate):
        assert set(got) == set(want) == {"fid7", "is7", "is7_std", "div7", "kid7", "kid7_std"}
        assert got["fid7"] == pytest.approx(want["fid7"], rel=1e-4)
        assert got["kid7"] == pytest.approx(want["kid7"], rel=1e-4)
        assert got["div7"] == pytest.approx(want["div7"], rel=1e-4)
        assert got["is7"] is None and want["is7"] is None  # zero-fc weights: no IS
    fids = sorted(r["fid7"] for r in results)
    assert fids[1] - fids[0] > 1 and fids[2] - fids[1] > 1  # the members really differ: features were split back
    # one pass: S * N images in batches of about one normal batch (member-major chunks of m = 6 // 3 = 2)
    assert seen == S * N and sizes == [6, 6, 6, 3]
    for member in members:
        assert member.calls == [2, 2, 2, 1] and sum(member.calls) == N
    assert ev.last_details["member_batch"] == 2 and len(ev.last_details["members"]) == S
    assert ev._device_type == "cpu"


def test_non_finite_member_is_nan_and_the_others_are_unaffected(setup, caplog):
    ev, digits, separate = setup
    members = [Member(digits, 0), Member(digits, 1, nan=True), Member(digits, 2)]
    with caplog.at_level("WARNING", logger="ganexp.metrics"):
        results, sizes, seen = run_members(ev, members)
    assert math.isnan(results[1]["fid7"]) and math.isnan(results[1]["div7"]) and results[1]["is7"] is None
    for i in (0, 2):
        assert results[i]["fid7"] == pytest.approx(separate[i]["fid7"], rel=1e-4)
        assert results[i]["div7"] == pytest.approx(separate[i]["div7"], rel=1e-4)
    assert sizes == [6, 6, 6, 3] and seen == S * N  # the NaN member's images went through as zeros
    for member in members:
        assert member.calls == [2, 2, 2, 1]
    assert ev.last_details["members"][1] == {"non_finite": True}
    assert sum("Member 1 of 3 produced NaN" in r.getMessage() for r in caplog.records) == 1
