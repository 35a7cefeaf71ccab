"""Training systems end to end on tiny CPU runs: stage switches at the right step, Algorithm 1 at the
switch, ProGAN's fade schedule, bit-identical resumes around switches, checkpoints that round-trip
for every system, and the mixture of K generators in grids."""
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganexp import checkpoint
from ganexp.config import compose
from ganexp.runlog import save_grid
from ganexp.systems import build_system, eval_codes
from ganexp.systems.progan import fade_alpha
from ganexp.systems.psgan import milestone_steps, stage_at, stage_resolutions
from ganexp.train import run
from conftest import FAST, train_until_killed

BASE = [o for o in FAST if not o.startswith("logger=")] + ["logger=csv", "model=progressive", "z_dim=4",
                                                          "trainer.ckpt_every_n_steps=5"]
# digits: 1500 training images, batch 16 -> 93 steps per epoch; 0.1 and 0.2 epochs -> steps 9 and 19
# the listing's reading (judge by threshold, D gated), whose branches these tests steer, spelled out
PSGAN = BASE + ["system=psgan", "system.judge=threshold", "system.d_update=gated", "system.num_generators=2",
                "system.stage_epochs=[0.1,0.2]", "system.fade_epochs=0.05",
                 "trainer.max_steps=24"]
PROGAN = BASE + ["system=progan", "loss=hinge", "norm=spectral", "system.stage_epochs=[0.1,0.2]",
                 "system.fade_epochs=0.05", "trainer.max_steps=24"]
FROZEN_AT = 20  # the step the frozen-run test stops at (measured; deterministic on the CPU)
SYSTEMS = {"psgan": PSGAN, "progan": PROGAN, "gan": BASE + ["trainer.max_steps=12"]}
EMA = ["ema.enabled=true", "ema.half_life_kimg=0.05"]  # G_ema on (beta 0.8 at batch 16): grids and checkpoints hold it
SYSTEMS.update({f"{name}_ema": [*overrides, *EMA] for name, overrides in list(SYSTEMS.items())})


def rows(run_dir: Path) -> list[dict]:
    out = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time_s", "images_per_s")} for r in out]


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict:
    """Every system trained without interruption."""
    out = {}
    for name, overrides in SYSTEMS.items():
        out[name] = tmp_path_factory.mktemp(name)
        run(compose(overrides), out[name], "r")
    return out


def test_schedules_in_epochs_become_steps():
    assert stage_resolutions(28, 3) == [7, 14, 28] and stage_resolutions(32, 2) == [16, 32]
    assert milestone_steps([0.1, 0.2], 3, 93) == [9, 19]  # round(9.3), round(18.6)
    assert [stage_at(t, [9, 19]) for t in (0, 8, 9, 18, 19, 23)] == [0, 0, 1, 1, 2, 2]
    assert [fade_alpha(t, [9, 19], 4) for t in (0, 8, 9, 10, 12, 13, 19, 21)] == [1, 1, 0, 0.25, 0.75, 1, 0, 0.5]
    with pytest.raises(ValueError, match="needs 2 epoch"):
        milestone_steps([1], 3, 93)
    with pytest.raises(ValueError, match="must increase"):
        milestone_steps([0.001, 0.2], 3, 93)  # rounds to step 0


def test_max_epochs_sets_max_steps_in_the_resolved_config(tmp_path):
    res = run(compose(BASE + ["trainer.max_epochs=0.05"]), tmp_path, "r")  # ceil(0.05 * 93) = 5
    assert (res["config"]["trainer"]["steps_per_epoch"], res["config"]["trainer"]["max_steps"]) == (93, 5)
    assert res["steps"] == 5 and [r["epoch"] for r in rows(tmp_path)] == [round(s / 93, 4) for s in range(1, 6)]


def test_psgan_switches_stages_at_the_milestone_steps(references):
    got = [(r["step"], r["stage"]) for r in rows(references["psgan"]) if "stage" in r]
    # row "step" n is the n-th step (index n-1): indices 9 and 19 are the first of stages 1 and 2
    assert got == [(n, 0.0 if n <= 9 else 1.0 if n <= 19 else 2.0) for n in range(1, 25)]
    branches = [sum(r[f"branch_{b}"] for b in ("fooled", "only_real", "all_fake", "single")) for r in rows(references["psgan"])
                if "stage" in r]
    assert branches == [1.0] * 24  # one branch per step, counted


def test_psgan_logs_d_updates_per_interval_and_totals_in_the_result(references, tmp_path):
    for r in rows(references["psgan"]):  # K = 2, Algorithm 2 as printed: D steps exactly on "fooled" steps
        assert r["d_updates"] == r["branch_fooled"]
    counts = json.loads((references["psgan"] / "result.json").read_text())["counts"]
    assert counts["d_updates"] == counts["branch_fooled"] == sum(r["branch_fooled"] for r in rows(references["psgan"]))
    assert sum(counts[f"branch_{b}"] for b in ("fooled", "only_real", "all_fake", "single")) == 24
    for d_update in ("gated", "always"):  # intervals of 6 steps: counts summed, not averaged
        run(compose([o for o in PSGAN if not o.startswith("system.d_update")] +
                    ["trainer.log_every_n_steps=6", "trainer.max_steps=12", f"system.d_update={d_update}"]),
            tmp_path / d_update, "r")
        got = rows(tmp_path / d_update)
        assert [r["step"] for r in got] == [6, 12]
        assert all(sum(r[f"branch_{b}"] for b in ("fooled", "only_real", "all_fake")) == 6 for r in got)
        want = [6.0, 6.0] if d_update == "always" else [r["branch_fooled"] for r in got]
        assert [r["d_updates"] for r in got] == want


class Constant:
    """Real batches whose pixels all equal ``value``: (16, 1, 28, 28)."""

    def __init__(self, value: float):
        self.value = value

    def next(self):
        return torch.full((16, 1, 28, 28), self.value)

    def to(self, device):
        return self


def steered_psgan(compose, *extra: str):
    """PS-GAN, K = 2, one stage, D without normalization whose verdict on a constant image is the image's
    sign (every D weight 0.05, biases 0: positive weights, LeakyReLU and average pooling keep the sign),
    and generators whose images are constant (``aim``: toRGB weight 0, bias atanh(value))."""
    cfg = compose(BASE + ["system=psgan", "system.stages=1", "system.stage_epochs=[]", "norm=baseline",
                          "loss=gan_ns", *extra])
    system = build_system(cfg, Constant(0.9))
    system._direct = True
    gens, d = system.nets(0)
    with torch.no_grad():
        for name, p in d.named_parameters():
            p.fill_(0.05 if name.endswith("weight") else 0.0)
    return system, system.build_optimizers(), gens, d


@torch.no_grad()
def aim(g, value: float) -> None:
    g.to_rgb[-1].weight.zero_()
    g.to_rgb[-1].bias.fill_(math.atanh(value))


def frozen(net, opt) -> tuple[list, list]:
    """Parameters and optimizer state (Adam's step count and moments), copied."""
    state = [v for s in opt.state_dict()["state"].values() for v in s.values()]
    return [p.detach().clone() for p in net.parameters()], [v.clone() for v in state]


def unmoved(before: tuple, after: tuple) -> bool:
    """Parameters bit-identical, and the optimizer state too, or fresh (step 0, zero moments: what a skipped
    first step leaves, which Adam treats as no state) where there was none."""
    (p0, s0), (p1, s1) = before, after
    params = all(torch.equal(x, y) for x, y in zip(p0, p1))
    state = len(s0) == len(s1) and all(torch.equal(x, y) for x, y in zip(s0, s1))
    return params and (state or (not s0 and all(not v.any() for v in s1)))


def test_algorithm2_steps_only_the_players_its_branch_names(compose):
    """Four steps, each judged as set up: (G2 fooled D) -> G1 and D step; (G1 fooled D) -> G2 and D step, G1
    bit-identical; (only x real) -> both G step, D bit-identical; (nothing real) -> nothing moves. The listing's
    reading: threshold judge, D gated."""
    system, opts, (g1, g2), d = steered_psgan(compose, "system.judge=threshold", "system.d_update=gated")
    players = [(g1, opts[0]), (g2, opts[1]), (d, opts[2])]
    plan = [(0.9, -0.9, 0.9, "fooled", (True, False, True)),
            (0.9, 0.9, -0.9, "fooled", (False, True, True)),
            (0.9, -0.9, -0.9, "only_real", (True, True, False)),
            (-0.9, -0.9, -0.9, "all_fake", (False, False, False))]
    for real, v1, v2, branch, moves in plan:
        system.batcher.value = real
        aim(g1, v1), aim(g2, v2)
        before = [frozen(net, opt) for net, opt in players]
        logs = system.train_step(opts)
        assert {b: logs[f"branch_{b}"].item() for b in ("fooled", "only_real", "all_fake", "single")} == \
            {"fooled": branch == "fooled", "only_real": branch == "only_real", "all_fake": branch == "all_fake",
             "single": 0.0}
        assert logs["d_updates"].item() == float(moves[2])
        assert [not unmoved(b, frozen(net, opt)) for b, (net, opt) in zip(before, players)] == list(moves)
    # Adam's step counts: G1 stepped at steps 1 and 3, G2 at 2 and 3, D at 1 and 2
    assert [{s["step"].item() for s in opt.state_dict()["state"].values()} for _, opt in players] == [{2}] * 3


@pytest.mark.parametrize("judge", ["threshold", "relative"])
def test_under_always_d_steps_on_every_step(compose, judge):
    """system.d_update=always: the four steps of the test above, D's parameters and Adam state move on each
    (nothing real included); the generators as Algorithm 2 picks them (all of them when none fooled D).
    Under `relative` the last step's three equal scores name x real (x wins a tie): only_real, never all_fake."""
    system, opts, (g1, g2), d = steered_psgan(compose, "system.d_update=always", f"system.judge={judge}")
    for real, v1, v2 in [(0.9, -0.9, 0.9), (0.9, 0.9, -0.9), (0.9, -0.9, -0.9), (-0.9, -0.9, -0.9)]:
        system.batcher.value = real
        aim(g1, v1), aim(g2, v2)
        before = frozen(d, opts[2])
        logs = system.train_step(opts)
        assert logs["d_updates"].item() == 1.0 and not unmoved(before, frozen(d, opts[2]))
        assert logs["branch_all_fake"].item() == float(judge == "threshold" and real < 0)
    assert {s["step"].item() for s in opts[2].state_dict()["state"].values()} == {4}


def test_progan_grows_and_fades_on_schedule(references):
    got = [(r["stage"], r["fade_alpha"]) for r in rows(references["progan"]) if "stage" in r]
    fade = round(0.05 * 93)  # 5 steps
    want = [(float(stage_at(i, [9, 19])), fade_alpha(i, [9, 19], fade)) for i in range(24)]
    assert want[9] == (1.0, 0.0) and want[12] == (1.0, 0.6)
    assert got == [(s, torch.tensor(a).item()) for s, a in want]  # logged as float32


def test_progan_starts_each_growth_with_fresh_optimizer_state(references):
    """Growths at step indices 9 and 19 of 24: the final Adam states count the 5 steps since the last one."""
    state = checkpoint.load(references["progan"] / "last.ckpt")
    for opt in state["optimizers"]:
        assert {s["step"].item() for s in opt["state"].values()} == {5.0}


def make_args(*variables: str) -> dict[str, list[str]]:
    """The overrides `make reproduce-psgan VARIABLES` passes to each of its three training commands (make -n),
    by system, after experiment= and data_root=."""
    import shlex
    import subprocess

    from conftest import ROOT

    out = subprocess.run(["make", "-n", "-s", "reproduce-psgan", *variables], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    commands = [shlex.split(ln) for ln in out.splitlines() if "ganexp.train" in ln]
    args = [[a for a in c[c.index("-m", c.index("ganexp.train")) + 1:] if not a.startswith(("experiment=", "data_root="))]
            for c in commands]
    return {next(a for a in c if a.startswith("system=")).split("=")[1]: c for c in args}


def study_c(*overrides: str) -> list:
    system = build_system(compose(["experiment=psgan", "model.width=4", "model.max_width=8", *overrides]))
    return list(system.players.modules())


def test_study_c_composes_each_model_as_its_paper_describes_it():
    from torch.nn.utils import parametrize

    from ganexp.nets.norms import PixelNorm
    from ganexp.nets.progressive import EqualizedScale

    psgan = study_c("system=psgan")
    assert not any(parametrize.is_parametrized(m) for m in psgan)  # no spectral norm in PS-GAN's D (nor G)
    sngan = [o.replace(",baseline", "") for o in make_args()["gan"]]
    assert any(type(p).__name__ == "_SpectralNorm" for m in study_c(*sngan) for p in
               getattr(getattr(m, "parametrizations", None), "weight", []))
    progan = make_args()["progan"]
    cfg = compose(["experiment=psgan", *progan])
    assert (cfg.loss.name, cfg.loss.n_critic, cfg.loss.drift, cfg.optim.lr_d, list(cfg.optim.betas)) == \
        ("wgan_gp", 1, 0.001, 1e-3, [0.0, 0.99])
    mods = study_c(*progan)
    assert any(isinstance(m, PixelNorm) for m in mods) and any(getattr(m, "mbstd", False) for m in mods)
    convs = [m for m in mods if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert all(isinstance(m.parametrizations.weight[0], EqualizedScale) for m in convs)
    assert (cfg.ema.enabled, cfg.ema.beta, cfg.ema.half_life_kimg, cfg.ema.score) == (True, 0.999, None, "ema")  # as Karras et al.


def test_study_c_medium_profile_is_at_the_scale_gate_with_every_reading():
    """MEDIUM=1: 10 epochs (the scale gate), FID on 5000 samples, the full schedule scaled (switches at 2.5 and 5
    of 10 epochs, fades of 0.83: 15, 30 and 5 of 60), SNGAN with SN, ProGAN, PS-GAN K = 2 under the six readings."""
    from ganexp.results.psgan2025.claims import MIN_EPOCHS
    from ganexp.results.keys import MIN_FID_SAMPLES

    args = make_args("MEDIUM=1")
    assert sorted(args) == ["gan", "progan", "psgan"] and "norm=spectral" in args["gan"]
    assert {"system.num_generators=2", "system.judge=threshold,relative,relative_vote",
            "system.d_update=gated,always", "system.stage_epochs=[2.5,5]", "system.fade_epochs=0.83"} <= set(args["psgan"])
    cfg = compose(["experiment=psgan_medium", *[a for a in args["psgan"] if "," not in a.split("=")[1]
                                                or a.startswith("system.stage")]])
    assert cfg.trainer.max_epochs == MIN_EPOCHS and cfg.metrics.num_samples == MIN_FID_SAMPLES
    assert list(cfg.system.stage_epochs) == [2.5, 5.0] and cfg.system.fade_epochs == pytest.approx(10 * 5 / 60, 0.01)


def test_study_c_full_profile_covers_the_papers_range_with_stages_inside():
    cfg = compose(["experiment=psgan", "system=psgan"])
    assert cfg.trainer.max_epochs >= 50  # the paper's loss figures discuss "after about 50" epochs
    for system in ("psgan", "progan"):
        epochs = compose(["experiment=psgan", f"system={system}"]).system.stage_epochs
        assert 0 < epochs[0] < epochs[1] < cfg.trainer.max_epochs


def test_algorithm1_at_a_switch_mixes_the_old_stage_into_the_new_one():
    system = build_system(compose(PSGAN + ["+trainer.steps_per_epoch=93"]))
    old = {k: v.clone() for k, v in system.players["stage0"].state_dict().items()}
    fresh = {k: v.clone() for k, v in system.players["stage1"].state_dict().items()}
    system.step_count = 9
    system.switch_to(1)
    new = system.players["stage1"].state_dict()
    shared = [k for k in old if k in fresh and old[k].shape == fresh[k].shape]
    assert "G.0.blocks.0.conv.weight" in shared and "D.from_rgb.0.0.weight" in shared
    for k in shared:
        if new[k].is_floating_point():
            torch.testing.assert_close(new[k], 0.9 * old[k] + 0.1 * fresh[k], rtol=0, atol=1e-7)
    unmatched = [k for k in fresh if k not in old]
    assert unmatched and all(new[k].equal(fresh[k]) for k in unmatched)  # the 14x14 block keeps its init


@pytest.mark.parametrize("name,kills,resumed_from", [
    ("psgan", (12,), [10]),          # mid-stage 1: last.ckpt at 10, after the switch at index 9
    ("psgan", (19, 21), [15, 20]),   # before the switch at index 19 (redone), then right after it
    ("progan", (11, 22), [10, 20]),  # mid-fade (alpha 0.2 at 10) and after the second growth
    ("gan", (7,), [5]),
    ("psgan_ema", (19, 21), [15, 20]),  # G_ema across PS-GAN's switch and ProGAN's growths, resumed exactly
    ("progan_ema", (11, 22), [10, 20]),
    ("gan_ema", (7,), [5]),
])
def test_kill_and_resume_around_switches_is_bit_identical(references, tmp_path, monkeypatch, capsys, name, kills,
                                                          resumed_from):
    for step in kills:
        train_until_killed(SYSTEMS[name], tmp_path, monkeypatch, step)
    run(compose(SYSTEMS[name]), tmp_path, "r")
    out = capsys.readouterr().out
    assert [int(ln.split("from step ")[1].split()[0]) for ln in out.splitlines() if ln.startswith("[resume]")] == resumed_from
    assert rows(tmp_path) == rows(references[name])
    ours, theirs = checkpoint.load(tmp_path / "last.ckpt"), checkpoint.load(references[name] / "last.ckpt")
    assert ours["system"].keys() == theirs["system"].keys()
    assert all(ours["system"][k].equal(v) for k, v in theirs["system"].items())
    assert (tmp_path / "samples" / "final.png").read_bytes() == (references[name] / "samples" / "final.png").read_bytes()


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_checkpoint_round_trips_for_every_system(references, tmp_path, name):
    """The loaded system draws the final grid again, pixel for pixel (the mixture of K for PS-GAN)."""
    system, cfg = checkpoint.load_generator(references[name] / "last.ckpt")
    save_grid(system(eval_codes(cfg)), tmp_path / "again.png")
    with Image.open(tmp_path / "again.png") as a, Image.open(references[name] / "samples" / "final.png") as b:
        assert a.size == b.size == (8 * 30 + 2, 2 * 30 + 2) and a.tobytes() == b.tobytes()
    state = checkpoint.load(references[name] / "last.ckpt")
    assert len(state["optimizers"]) == {"psgan": 3 * (2 + 1), "progan": 2, "gan": 2}[name.removesuffix("_ema")]
    assert any(k.startswith("g_ema.") for k in state["system"]) == name.endswith("_ema")


def test_mixture_gives_each_generator_an_equal_share():
    system = build_system(compose(PSGAN + ["system.num_generators=3", "+trainer.steps_per_epoch=93"]))
    system.step_count = 25  # last trained step 24: stage 2 (28x28), its fade (steps 19-24) over
    z = torch.rand(7, 4) * 2 - 1
    got = system(z)
    gens = system.players["stage2"]["G"].eval()
    with torch.no_grad():
        want = torch.cat([gens[0](z[:3]), gens[1](z[3:5]), gens[2](z[5:])])  # tensor_split: 3, 2, 2
    assert got.shape == (7, 1, 28, 28) and got.equal(want)
    system.step_count = 5  # stage 0: 7x7 images, upsampled 4x (nearest) to the dataset's 28
    low = system(z)
    assert low.shape == (7, 1, 28, 28) and low[..., ::4, ::4].repeat_interleave(4, -1).repeat_interleave(4, -2).equal(low)


def test_losses_without_a_real_fake_rule_and_models_without_stages_are_refused(tmp_path):
    from ganexp.config import ConfigError

    with pytest.raises(ConfigError, match="does not classify batches"):
        run(compose(PSGAN + ["loss=began"]), tmp_path / "a", "r")
    with pytest.raises(ConfigError, match="need model=progressive"):
        run(compose([o for o in PSGAN if o != "model=progressive"]), tmp_path / "b", "r")
    with pytest.raises(ConfigError, match="use model=progressive"):
        run(compose([o for o in PROGAN if o != "model=progressive"]), tmp_path / "c", "r")


@pytest.mark.parametrize("loss", ["began", "gan_ns"])
def test_runs_of_earlier_versions_keep_their_config_hash(loss):
    """Study A's finished runs were hashed before `study`, `system`, `trainer.max_epochs`,
    `model.autoencoder` (BEGAN's D was model.discriminator then), `data`, `trainer.sample_at_epochs`,
    `metrics.every_n_epochs` and `metrics.collapse_threshold` existed: they are still skipped."""
    import copy

    from ganexp.config import to_container
    from ganexp.identity import config_hash

    new = to_container(compose([f"loss={loss}"]))
    old = copy.deepcopy(new)
    del old["study"], old["system"], old["trainer"]["max_epochs"], old["data"], old["trainer"]["sample_at_epochs"]
    del old["metrics"]["every_n_epochs"], old["metrics"]["collapse_threshold"]
    autoencoder = old["model"].pop("autoencoder")
    if loss == "began":
        old["model"]["discriminator"] = autoencoder
    assert config_hash(old) == config_hash(new)
    assert config_hash(to_container(compose([f"loss={loss}", "system=psgan", "system.stages=1"]))) != config_hash(new)
    for changed in ("trainer.sample_at_epochs=[1]", "metrics.collapse_threshold=0.2"):
        assert config_hash(to_container(compose([f"loss={loss}", changed]))) != config_hash(new)
    assert config_hash(to_container(compose([f"loss={loss}", "data.placement=streamed"]))) == config_hash(new)


def test_psgan_readings_and_the_fade_are_part_of_a_runs_identity():
    """Runs hashed before system.d_update existed updated D every step, judged each batch by the threshold and
    switched stages without a fade: they hash as always + threshold + fade_epochs=0. `paper` (the old name) and
    `gated` are one run; the other readings and the fade are other runs."""
    from ganexp.config import to_container
    from ganexp.identity import config_hash

    def cfg(*extra):
        return to_container(compose(["system=psgan", "system.judge=threshold", "system.d_update=gated", *extra]))

    assert (cfg()["system"]["d_update"], cfg()["system"]["judge"]) == ("gated", "threshold")
    default = to_container(compose(["system=psgan"]))["system"]
    assert (default["judge"], default["d_update"]) == ("relative", "always")  # section 3.1's prose
    gated = cfg()
    assert config_hash(to_container(compose(["system=psgan", "system.judge=threshold", "system.d_update=paper"]))) == \
        config_hash(gated)
    no_fade = cfg("system.fade_epochs=0")
    made_before_the_fade = {**no_fade, "system": {**{k: v for k, v in no_fade["system"].items()
                                                     if k not in ("judge", "fade_epochs")}, "d_update": "paper"}}
    assert config_hash(made_before_the_fade) == config_hash(no_fade) != config_hash(gated)
    always = cfg("system.d_update=always", "system.fade_epochs=0")
    made_before_the_key = {**always, "system": {k: v for k, v in always["system"].items()
                                                if k not in ("d_update", "judge", "fade_epochs")}}
    assert config_hash(made_before_the_key) == config_hash(always)
    hashes = {config_hash(cfg(f"system.judge={j}", f"system.d_update={d}")) for j in ("threshold", "relative",
              "relative_vote") for d in ("gated", "always")}
    assert len(hashes) == 6


def test_sngan_and_wgan_gp_runs_from_before_karras_pieces_keep_their_hash():
    """Study C's SNGAN runs and WGAN-GP runs were hashed before model.equalized_lr, model.minibatch_stddev
    (also inside model.generator / model.discriminator) and loss.drift existed."""
    import copy

    from ganexp.config import to_container
    from ganexp.identity import config_hash

    sngan = ["experiment=psgan", "system=gan", "loss=hinge", "norm=spectral"]
    for overrides, changed in [(sngan, "model.equalized_lr=true"), (["loss=wgan_gp"], "loss.drift=0.001")]:
        new = to_container(compose(overrides))
        old = copy.deepcopy(new)
        for node, key in [(old["model"], "equalized_lr"), (old["model"], "minibatch_stddev"),
                          (old["model"]["generator"], "equalized_lr"), (old["model"]["discriminator"], "equalized_lr"),
                          (old["model"]["discriminator"], "minibatch_stddev"), (old["loss"], "drift")]:
            node.pop(key, None)
        assert config_hash(old) == config_hash(new)
        assert config_hash(to_container(compose([*overrides, changed]))) != config_hash(new)


class GEveryOther(__import__("ganexp.systems.gan", fromlist=["GANPair"]).GANPair):
    """A system written for this test alone, to show what a new one takes: this class and its keys
    (here on the command line; in the project, ganexp/settings.py). D every step, G every
    ``every``-th step."""

    def __init__(self, ctx, every: int = 2, **_):
        super().__init__(ctx)
        self.every = every

    def train_step(self, opts) -> dict:
        opt_g, opt_d = opts
        self.D.requires_grad_(True)
        logs = self.critic_step(opt_d)
        self.D.requires_grad_(False)
        if self.step_count % self.every == 0:
            logs.update(self.generator_step(opt_g))
        return logs


def test_a_new_system_is_one_class_and_its_keys(tmp_path):
    from ganexp.config import ConfigError
    from ganexp.preflight import check_job

    new = BASE + ["system._target_=test_training_systems.GEveryOther", "system.name=g_every_other",
                  "+system.every=3", "trainer.max_steps=6"]
    res = run(compose(new), tmp_path, "r")
    assert res["status"] == "completed" and res["config"]["system"]["every"] == 3
    assert [("g_loss" in r) for r in rows(tmp_path)] == [True, False, False, True, False, False]
    system, _ = checkpoint.load_generator(tmp_path / "last.ckpt")
    assert type(system).__name__ == "GEveryOther" and system.every == 3
    with pytest.raises(ConfigError, match=r"^system.every=abc is not allowed: system.every must be an integer$"):
        check_job(compose(new[:-2] + ["+system.every=abc"]))
    with pytest.raises(ConfigError, match=r"^unknown key 'system.evry'"):
        check_job(compose(new[:-2] + ["+system.evry=3"]))


@pytest.mark.long
def test_psgan_sigkilled_after_a_switch_resumes_to_the_uninterrupted_run(tmp_path):
    """A real SIGKILL of the process after the first stage switch (at step index 46; killed once the row of
    step 65 is written, so last.ckpt is at 50 or later, in stage 1): the rerun resumes and ends with the
    reference's rows and weights."""
    import os
    import signal
    import subprocess
    import time

    from conftest import ROOT, train_cmd

    args = [o for o in PSGAN if not o.startswith(("trainer.", "system.stage_epochs", "system.fade_epochs"))] + [
            "system.stage_epochs=[0.5,1]", "system.fade_epochs=0.2", "trainer.max_steps=100",
            "trainer.log_every_n_steps=5", "trainer.ckpt_every_n_steps=10"]  # switches at steps 46 (round(46.5))
    # and 93, each fading in over 19 steps: the kill lands in stage 1, during or just after its fade
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the processes below (OMP_NUM_THREADS=1): the same sums, bit for bit
    try:
        run(compose(args), ref, "r")
    finally:
        torch.set_num_threads(threads)
    proc = subprocess.Popen(train_cmd(*args, f"hydra.run.dir={killed}"), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not any(r["step"] >= 65 for r in _rows_or_none(killed)):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    step = checkpoint.load(killed / "last.ckpt")["step"]
    assert 50 <= step < 100 and not (killed / "result.json").exists()
    out = subprocess.run(train_cmd(*args, f"hydra.run.dir={killed}"), cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0 and f"from step {step} of 100" in out.stdout, out.stderr
    assert rows(killed) == rows(ref)
    ours, theirs = checkpoint.load(killed / "last.ckpt"), checkpoint.load(ref / "last.ckpt")
    assert all(ours["system"][k].equal(v) for k, v in theirs["system"].items())


def _rows_or_none(run_dir: Path) -> list[dict]:
    try:
        return [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln.endswith("}")]
    except (OSError, ValueError):
        return []


class Cycling:
    """The digits' training images in order, 16 a batch, in [-1, 1]: (16, 1, 28, 28)."""

    def __init__(self, images: torch.Tensor):
        self.x, self.i = images.float().div(127.5).sub(1), 0

    def next(self) -> torch.Tensor:
        out = self.x[self.i:self.i + 16]
        self.i = (self.i + 16) % (len(self.x) - 16)
        return out

    def to(self, device):
        return self


@pytest.mark.parametrize("fade", [0.25, 0])
def test_a_stage_switch_keeps_d_discriminating(fade):
    """PS-GAN K = 1 trains 60 steps at 7x7 on the digits, then switches to 14x14 (Algorithm 1's mix). D's margin
    (mean output on 64 reals minus on 64 of G's images, the same z) right after the switch, at fade-in alpha 0,
    keeps at least half its margin before the switch (measured: 0.172 -> 0.148). Without the fade
    (fade_epochs=0) the new input layer and block are fresh, and the same D scores G's images above the reals
    (measured: -0.378): the stage starts with a D that has lost what it learned."""
    from hydra.utils import instantiate

    from ganexp.systems.stepwise import fade_reals

    torch.manual_seed(0)
    cfg = compose(BASE + ["system=psgan", "system.num_generators=1", "system.stage_epochs=[0.65,0.9]",
                          f"system.fade_epochs={fade}", "+trainer.steps_per_epoch=93", "model.width=16"])
    data = Cycling(instantiate(cfg.dataset).images("train"))
    system = build_system(cfg, data)
    system._direct = True
    opts = system.build_optimizers()
    for _ in range(60):  # steps 0-59: stage 0 (the switch is at the start of step 60)
        system.train_step(opts)
        system.step_count += 1
    z, reals = system.sample_z(64), data.x[:64]

    def margin(stage: int) -> tuple[float, float]:
        gens, d, alpha = system.faded(stage, system.step_count)
        real = fade_reals(F.avg_pool2d(reals, 28 // system.resolutions[stage]), alpha)
        with torch.no_grad():
            return (d(real).mean() - d(gens[0](z)).mean()).item(), alpha

    before, _ = margin(0)
    system.switch_to(1)
    after, alpha = margin(1)
    assert before == pytest.approx(0.1719, abs=1e-3)
    if fade:
        assert alpha == 0.0 and after >= 0.5 * before
    else:
        assert alpha == 1.0 and after < 0


def test_a_frozen_run_ends_as_such_and_a_rerun_skips_it(tmp_path, capsys):
    """Algorithm 2 as printed (threshold, gated) on fresh networks: D is judged to need no step while no generator
    fools it; with system.freeze_patience=3 the run stops at the log step where D has not stepped for 3
    generator steps: one line, status frozen with its step in result.json; the same command skips it."""
    from ganexp.train import run

    cfg = PSGAN + ["system.stages=1", "system.stage_epochs=[]", "system.freeze_patience=3", "trainer.max_steps=60",
                   "trainer.log_every_n_steps=1"]
    res = run(compose(cfg), tmp_path / "r", "r")
    out = capsys.readouterr().out
    assert res["status"] == "frozen" and res["frozen_at"] == FROZEN_AT and res["steps"] == FROZEN_AT
    line = [ln for ln in out.splitlines() if ln.startswith("[frozen]")]
    assert len(line) == 1 and f"error: D was not updated for 3 consecutive generator steps (steps " \
        f"{FROZEN_AT - 2}-{FROZEN_AT}, branch " in line[0]
    rows_ = rows(tmp_path / "r")
    assert rows_[-1]["step"] == FROZEN_AT and [r["d_updates"] for r in rows_[-3:]] == [0.0, 0.0, 0.0]
    again = run(compose(cfg), tmp_path / "r", "r")
    assert again["status"] == "frozen" and "[skip] r: already frozen" in capsys.readouterr().out


@pytest.mark.parametrize("system", ["psgan", "progan"])
def test_a_fade_longer_than_a_stage_is_one_sentence_with_the_value_to_set(system):
    """Stages switching at steps 9 and 19 of 93 per epoch, the full profile's 5-epoch fade: refused, saying what
    fits (PS-GAN and ProGAN share the rule)."""
    cfg = compose(BASE + [f"system={system}", "system.stage_epochs=[0.1,0.2]", "system.fade_epochs=5",
                          "+trainer.steps_per_epoch=93"] + (["loss=hinge"] if system == "progan" else []))
    with pytest.raises(ValueError) as err:
        build_system(cfg)
    assert str(err.value) == ("system.fade_epochs=5 (465 steps) is longer than the shortest stage (10 steps = 0.108 "
                              "epochs); a fade must end before the next switch: set system.fade_epochs to at most "
                              "0.108")


@pytest.mark.parametrize("opt_reset,adam_steps", [("growth_and_fade_end", {2.0}), ("growth", {5.0, 7.0})])
def test_progan_resets_adam_where_karras_code_does(opt_reset, adam_steps, tmp_path):
    """Karras et al.'s reset_opt_for_new_lod: fresh Adam state when the level of detail's floor or ceiling
    changes, at the growth (step 9) and at the end of its 5-step fade (step 14): after 16 steps Adam has taken 2
    steps since (steps 14, 15). Resetting at growths only, 7 (steps 9-15), and 5 for the old toRGB, which
    gets no gradient once the fade is over (steps 9-13)."""
    from ganexp.train import run

    run(compose(PROGAN[:-1] + ["trainer.max_steps=16", f"system.opt_reset={opt_reset}"]), tmp_path, "r")
    for opt in checkpoint.load(tmp_path / "last.ckpt")["optimizers"]:
        assert {s["step"].item() for s in opt["state"].values()} == adam_steps
