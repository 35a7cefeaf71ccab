"""Real MNIST (../shared/assets): a short gan_ns schedule on the CPU must beat its untrained generator
by far, z_dim=1 must score worse than z_dim=10, and the sample grid must show digits (look at it:
the path is printed)."""
import json

import pytest
import torch
from hydra.utils import instantiate

from ganexp.metrics import Evaluator
from ganexp.systems import sample_latent
from ganexp.train import run
from conftest import ASSETS, assets_or_skip

pytestmark = pytest.mark.slow
STEPS, SAMPLES = 1500, 500


def mnist_cfg(compose, z_dim):
    assets_or_skip("datasets", "MNIST", "raw")
    return compose(["dataset=mnist", f"dataset.root={ASSETS / 'datasets'}", "loss=gan_ns", f"z_dim={z_dim}",
                    "logger=none", "trainer.accelerator=cpu", f"trainer.max_steps={STEPS}",
                    "trainer.log_every_n_steps=100", "trainer.sample_every_n_steps=500",
                    f"metrics.num_samples={SAMPLES}", "metrics.every_n_steps=0"])


def test_gan_ns_mnist_fid_falls_and_z1_is_worse(compose, tmp_path):
    key = f"fid{SAMPLES}"
    res10 = run(mnist_cfg(compose, 10), tmp_path / "z10", "z10")
    res1 = run(mnist_cfg(compose, 1), tmp_path / "z1", "z1")
    cfg = mnist_cfg(compose, 10)
    torch.manual_seed(0)
    g0 = instantiate(cfg.model.generator).eval()  # the untrained generator, same init scheme
    ev = Evaluator(cfg.metrics, instantiate(cfg.dataset))
    untrained = ev.evaluate(lambda n: g0(sample_latent(n, 10, "uniform", "cpu")), torch.device("cpu"))[key]
    record = {"steps": STEPS, "samples": SAMPLES, "num_real": ev.info["num_real"], "untrained": untrained,
              "z10": res10["metrics"][key], "z1": res1["metrics"][key],
              "grid_z10": str(tmp_path / "z10" / "samples" / "final.png")}
    print(json.dumps(record))
    assert res10["status"] == res1["status"] == "completed"
    assert record["z10"] < 0.5 * untrained
    assert record["z1"] > record["z10"]
