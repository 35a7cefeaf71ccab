"""What only a CUDA GPU can show: captured steps replayed as CUDA graphs, and PS-GAN's Algorithm 2 masks computed
on the device. Skipped without CUDA; the GPU check (tests/gpu/check.sh) runs them on a lent GPU, beside
tests/test_captured.py and tests/test_fused.py with GANEXP_TEST_ACCELERATOR=gpu."""
import itertools

import pytest
import torch

from conftest import FAST
from test_fused import rows, separate

pytestmark = [pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="needs a CUDA GPU (tests/gpu/check.sh runs these on one)"),
              pytest.mark.filterwarnings("ignore::UserWarning")]
GPU = [o for o in FAST if not o.startswith("trainer.accelerator")] + ["trainer.accelerator=gpu"]


@pytest.mark.parametrize("loss", ["gan_ns", "wgan_gp", "began"])
def test_cuda_graphs_run_agrees_with_its_eager_run(loss, tmp_path):
    """trainer.compile=graphs (inductor's kernels replayed as CUDA graphs), float32, 6 steps: every logged loss
    within rel 1e-3 / abs 1e-5 of the eager run (BEGAN's k_t and WGAN-GP's penalty included)."""
    overrides = [*GPU, f"loss={loss}", "trainer.max_steps=6", "z_dim=5"]
    ref = separate(overrides, (0,), tmp_path / "eager")
    got = separate([*overrides, "trainer.compile=graphs"], (0,), tmp_path / "graphs")
    for want, have in zip(rows(ref[0]), rows(got[0]), strict=True):
        assert have.keys() == want.keys()
        for k, v in want.items():
            assert have[k] == pytest.approx(v, rel=1e-3, abs=1e-5), (want["step"], k)


@pytest.mark.parametrize("d_update", ["paper", "always"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_algorithm2_masks_on_cuda_equal_the_cpus(k, d_update):
    from ganexp.systems.multi_generator import algorithm2_masks

    for verdicts in itertools.product([False, True], repeat=k + 1):
        scores = torch.tensor([0.3 if v else -0.3 for v in verdicts])
        on_gpu = algorithm2_masks(scores.cuda(), d_update)
        assert all(t.device.type == "cuda" for t in on_gpu)
        for cpu, gpu in zip(algorithm2_masks(scores, d_update), on_gpu, strict=True):
            assert torch.equal(cpu, gpu.cpu()), verdicts
