"""Captured steps (trainer.compile, ganexp/systems/captured.py) against eager runs of the same config.

``aot_eager`` captures a step exactly as ``inductor`` does (Dynamo graphs, AOTAutograd's joint forward and
backward, the compiled optimizer step) but runs aten kernels, so in float64 a captured run equals its eager
run to float64 rounding (rel 1e-9; AOTAutograd decomposes batch norm and Adam into primitive ops, whose last
bits differ by ~1e-16): any draw moved, reordered or lost, any state not written back (batch-norm
statistics, Adam's moments, BEGAN's k_t, WGAN's clipping) shows far above that. Inductor's generated
kernels are float32 here and round differently: rel 1e-3 (the slow tests: ~35 s of C++ compilation each
with a cold inductor cache).
"""
import subprocess
import sys

import pytest
import torch
from torch._dynamo.utils import counters

from conftest import FAST, killed_after, train_cmd
from test_fused import EXACT, LOSSES, LR_MEMBERS, assert_same_run, fused, rows, run_members, separate

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
ROUNDING = 1e-9


def compiled(overrides: list[str], mode: str = "aot_eager") -> list[str]:
    return [*overrides, f"trainer.compile={mode}"]


def eager_and_captured(overrides: list[str], tmp_path, capsys) -> list[str]:
    """Seed 0 of ``overrides`` eager, then captured (aot_eager, Dynamo's counters cleared first); the two runs
    agree to float64 rounding. Returns the captured run's ``[compile]`` lines."""
    ref = separate(overrides, (0,), tmp_path / "eager")
    capsys.readouterr()
    counters.clear()
    got = separate(compiled(overrides), (0,), tmp_path / "captured")
    assert_same_run(got[0], ref[0], ROUNDING, same_config=False)
    return [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[compile]")]


@pytest.mark.parametrize("loss", LOSSES)
def test_captured_run_equals_its_eager_run(loss, tmp_path, capsys):
    """Every loss, float64, 3 steps with a grid and a checkpoint; a gradient penalty's critic objective
    stays eager and the run says so once."""
    from hydra.utils import get_class

    from ganexp.config import compose

    penalty = get_class(compose([f"loss={loss}"]).loss._target_).double_backward  # WGAN-GP, DRAGAN, R3GAN
    said = eager_and_captured([*EXACT, f"loss={loss}"], tmp_path, capsys)
    # compiled, not silently eager: both objectives (the critic's unless it has a penalty), both optimizer steps
    assert counters["stats"]["unique_graphs"] >= (3 if penalty else 4)
    if penalty:
        assert said == [f"[compile] trainer.compile=aot_eager: loss={loss}'s critic objective runs eager: its "
                        "gradient penalty differentiates D's gradient, and torch.compile (AOTAutograd) cannot "
                        "differentiate twice"]
    else:
        assert said == []


@pytest.mark.parametrize("norm", ["layer", "instance", "adain", "spectral", "adain_spectral"])
def test_every_norm_captures(norm, tmp_path):
    overrides = [*EXACT, "loss=hinge", f"norm={norm}"]
    ref = separate(overrides, (1,), tmp_path / "eager")
    got = separate(compiled(overrides), (1,), tmp_path / "captured")
    assert_same_run(got[1], ref[1], ROUNDING, same_config=False)


@pytest.mark.long
@pytest.mark.parametrize("variant", [["loss=began"], ["loss=hinge", "norm=spectral"]])
def test_fused_array_captures(variant, tmp_path):
    """A fused array's step captured: each member still equals its separate eager run (BEGAN: per-member
    L1 means and k_t inside the captured objectives; spectral norm: the fused, batched power iteration)."""
    overrides = [*EXACT, *variant]
    ref = separate(overrides, (0, 1), tmp_path / "eager")
    got = fused(compiled(overrides), (0, 1), tmp_path / "captured")
    for s in (0, 1):
        assert_same_run(got[s], ref[s], ROUNDING, same_config=False)


def test_fused_array_with_member_learning_rates_captures(tmp_path):
    """Per-member Adam (member_lr.MemberAdam) under a compiled optimizer step: each member still equals its
    separate eager run."""
    overrides = [*EXACT, "loss=gan_ns"]
    ref = run_members(overrides, LR_MEMBERS, tmp_path / "eager", fuse=False)
    got = run_members(compiled(overrides), LR_MEMBERS, tmp_path / "captured", fuse=True)
    for r, g in zip(ref, got):
        assert_same_run(g, r, ROUNDING, same_config=False)


def test_an_eager_checkpoint_resumes_captured(tmp_path):
    """trainer.compile is outside the config hash: a run stopped eager at its step-2 checkpoint goes on
    captured to the uninterrupted run's end."""
    overrides = [*EXACT, "loss=lsgan", "trainer.max_steps=4"]
    ref = separate(overrides, (0,), tmp_path / "ref")
    with killed_after(2):
        separate(overrides, (0,), tmp_path / "resumed")
    got = separate(compiled(overrides), (0,), tmp_path / "resumed")
    assert_same_run(got[0], ref[0], ROUNDING, same_config=False)


def test_systems_without_capture_say_so_once_and_train_eager(tmp_path, capsys):
    said = eager_and_captured([*EXACT, "system=progan", "model=progressive", "loss=wgan"], tmp_path, capsys)
    assert counters["stats"]["unique_graphs"] == 0  # nothing compiled
    assert said == ["[compile] trainer.compile=aot_eager: ProGAN's training step runs eager: its networks change "
                    "depth and fade-in alpha as it grows, and every change would recompile"]


NO_CUDA = ("trainer.compile=graphs replays CUDA graphs and needs a CUDA GPU (trainer.accelerator=gpu); on "
           "this device use trainer.compile=inductor or none")


@pytest.mark.parametrize("args", [
    ["trainer.accelerator=cpu"],  # refused before any job (preflight)
    ["trainer.accelerator=auto"],  # refused where the run finds its device, before it writes
    ["-m", "trainer.accelerator=auto", "launch.fuse=seed", "seed=0,1"]])  # a fused array: the same
def test_cuda_graphs_without_cuda_are_one_sentence_exit_2(args, tmp_path):
    if "trainer.accelerator=auto" in args and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: auto picks it and graphs can run")
    fast = [a for a in FAST if not a.startswith("trainer.accelerator")]
    out = subprocess.run(train_cmd(*args, *fast, "trainer.compile=graphs", f"hydra.run.dir={tmp_path / 'run'}",
                                   f"hydra.sweep.dir={tmp_path / 'sweep'}"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip().splitlines()[-1]  # a grid's job is named: "error: NAME (+ members): ..."
    assert line.startswith("error: ") and line.endswith(NO_CUDA) and "Traceback" not in out.stderr, out.stderr
    assert not list(tmp_path.rglob("result.json")) and not list(tmp_path.rglob("metrics.jsonl"))


def test_inductor_on_a_cpu_without_a_compiler_is_one_sentence(monkeypatch):
    from omegaconf import OmegaConf
    from torch._inductor import cpp_builder

    from ganexp.config import ConfigError
    from ganexp.systems.captured import check_device

    def no_compiler():
        raise RuntimeError("no working C++ compiler found")

    trainer = OmegaConf.create({"compile": "inductor", "accelerator": "cpu"})
    check_device(trainer)  # this machine has one
    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    with pytest.raises(ConfigError) as err:
        check_device(trainer)
    assert str(err.value) == ("trainer.compile=inductor on the CPU builds C++ kernels and found no C++ compiler "
                              "(RuntimeError); install g++ or set CXX, or use trainer.compile=none")
    check_device(OmegaConf.create({"compile": "aot_eager", "accelerator": "cpu"}))  # needs none


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["gan_ns", "wgan_gp"])
def test_inductor_run_agrees_with_eager_to_float_tolerance(loss, tmp_path):
    """TorchInductor's CPU kernels (C++/OpenMP), float32, 4 steps: every logged loss within rel 1e-3 / abs 1e-5
    (d_fake, a mean near 0, loses relative digits to cancellation). Parameters are not compared: Adam moves a
    weight by about lr whatever its gradient's size, so a gradient near 0 whose sign rounding flips moves
    it 2 lr apart, float32 rounding or not."""
    overrides = [*FAST, f"loss={loss}", "trainer.max_steps=4", "z_dim=5"]
    ref = separate(overrides, (0,), tmp_path / "eager")
    got = separate(compiled(overrides, "inductor"), (0,), tmp_path / "captured")
    for want, have in zip(rows(ref[0]), rows(got[0]), strict=True):
        assert have.keys() == want.keys()
        for k, v in want.items():
            assert have[k] == pytest.approx(v, rel=1e-3, abs=1e-5), (want["step"], k)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["began", "wgan"])
def test_the_graphs_path_on_the_cpu_agrees_with_eager(loss, tmp_path, monkeypatch):
    """``graphs`` with its device checks lifted, on the CPU, where inductor skips the CUDA graphs themselves:
    what remains is ours (outputs copied out, loss hooks eager: BEGAN's k_t, WGAN's clipping), and it must
    give the eager run's losses to float32 tolerance. The CUDA graphs are for a GPU session to check."""
    import ganexp.preflight
    import ganexp.run

    monkeypatch.setattr(ganexp.preflight, "check_capturable", lambda cfg: None)
    monkeypatch.setattr(ganexp.run, "check_device", lambda trainer: None)
    overrides = [*FAST, f"loss={loss}", "trainer.max_steps=4", "z_dim=5"]
    ref = separate(overrides, (0,), tmp_path / "eager")
    got = separate(compiled(overrides, "graphs"), (0,), tmp_path / "captured")
    for want, have in zip(rows(ref[0]), rows(got[0]), strict=True):
        for k, v in want.items():
            assert have[k] == pytest.approx(v, rel=1e-3, abs=1e-5), (want["step"], k)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
