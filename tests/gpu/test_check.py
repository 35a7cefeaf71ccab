"""The GPU check before a GPU sees it: its wheel bundle resolves against the GPU machine's package list, and
tests/gpu/check.sh runs every step here on the CPU at tiny sizes (the project's environment, no bundle)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, pool3_weights_or_skip

sys.path.insert(0, str(ROOT / "tests" / "gpu"))
import bundle  # noqa: E402
import table  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """`make gpu-bundle`'s script into a fresh folder (wheels from PyPI; antlr4's built from its sdist)."""
    dest = tmp_path_factory.mktemp("bundle")
    out = subprocess.run([sys.executable, "tests/gpu/bundle.py", "build", str(dest)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return dest


@pytest.mark.long
def test_bundle_holds_what_the_gpu_machine_lacks_and_resolves(built):
    names = sorted(w.name.split("-")[0] for w in built.glob("*.whl"))
    assert names == ["antlr4_python3_runtime", "hydra_core", "omegaconf", "torch_fidelity"]
    assert all(w.name.endswith("-py3-none-any.whl") for w in built.glob("*.whl"))
    assert sum(w.stat().st_size for w in built.glob("*.whl")) < 2 * 2**20  # of the 64 MiB a call may carry
    assert bundle.check(built) == []


@pytest.mark.long
def test_bundle_check_names_each_unmet_need(built, tmp_path):
    for wheel in built.glob("*.whl"):
        if not wheel.name.startswith("omegaconf"):
            (tmp_path / wheel.name).write_bytes(wheel.read_bytes())
    assert bundle.check(tmp_path) == [
        "omegaconf is not in the bundle",
        "hydra-core needs omegaconf<2.4,>=2.2: omegaconf is neither on the machine nor in the bundle",
        "ganexp needs omegaconf>=2.3: omegaconf is neither on the machine nor in the bundle"]


def test_requirements_against_the_machines_versions():
    _, packages = bundle.machine()
    assert packages["torch"] is not None and str(packages["torch"]) == "2.11.0"
    req = bundle.Requirement
    assert bundle.unmet(req("torch>=2.4"), {}, packages) is None
    assert bundle.unmet(req("torch>=2.12"), {}, packages) == "the machine's torch 2.11.0 is not >=2.12"
    assert bundle.unmet(req("wandb>=0.17"), {}, packages) == "wandb is neither on the machine nor in the bundle"
    markers, _ = bundle.machine()
    assert bundle.needed([req('a; python_version < "3.9"'), req('b; python_version >= "3.12"'),
                          req('c; extra == "docs"')], markers) == [req('b; python_version >= "3.12"')]


def test_random_inception_weights_have_the_real_files_tensors(tmp_path):
    """Seeded random weights for the GPU check's FID timing: every name and shape of the pool3 file, fc zero,
    features finite and not constant; the same seed gives the same file."""
    from ganexp.bench.fid import random_inception_weights
    from ganexp.metrics.extractor import InceptionFeatures
    from ganexp.metrics.weights import inspect_weights

    real = torch.load(pool3_weights_or_skip(), weights_only=True)
    a, b = (torch.load(random_inception_weights(tmp_path / f"{n}.pth", 3), weights_only=True) for n in "ab")
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in real.items()}
    assert all(torch.equal(a[k], b[k]) for k in a) and not a["fc.weight"].any()
    weights = inspect_weights(tmp_path / "a.pth", "path")
    assert weights.kind == "pool3-only" and not weights.has_logits
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    feats = InceptionFeatures(weights).from_uint8(images, torch.device("cpu"), 2)["2048"]
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all() and feats.std() > 0


@pytest.mark.long
def test_check_script_runs_every_step_on_the_cpu(tmp_path):
    out = subprocess.run(["bash", "tests/gpu/check.sh", "--device", "cpu", str(tmp_path)], cwd=ROOT, text=True,
                         capture_output=True, timeout=600, env={**os.environ, "PYTHON": sys.executable})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    steps = [line.split("\t") for line in (tmp_path / "steps.tsv").read_text().splitlines()]
    assert [(name, rc) for name, rc, _ in steps] == [("environment", "0"), ("tests", "0"), ("bench-train", "0"),
                                                      ("bench-fid", "0")], out.stdout[-3000:]
    train = json.loads((tmp_path / "bench-train.json").read_text())
    assert list(train["images_per_s"]) == ["gan_ns"]  # --device cpu: one loss (on CUDA: gan_ns, wgan_gp)
    assert list(train["images_per_s"]["gan_ns"]) == ["plain", "eager", "fused2"]
    fid = json.loads((tmp_path / "bench-fid.json").read_text())
    assert fid["random_weights"] and fid["fid"]["torch_fidelity"] is None
    md = (tmp_path / "gpu-check.md").read_text()
    assert md == table.table(tmp_path) and "| train gan_ns b64 plain loop [images/s] |" in md
    assert "| train gan_ns b64 fused S=2 [images/s] |" in md and " | 1.00x |" in md
    assert "| FID 4, real statistics cached [s], ganexp fast |" in md
