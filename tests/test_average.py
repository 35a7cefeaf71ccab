"""The generator's weight average G_ema (ganexp/systems/average.py): its decay in closed form, its values after
N steps against a hand loop, a fused array's averages equal to its separate runs', PS-GAN's switch and ProGAN's
growth, which generator an evaluation scores and how its keys read. Bit-exact resumes with G_ema on are in
tests/test_training_systems.py (SYSTEMS' *_ema entries)."""
import json

import pytest
import torch

from ganexp import checkpoint
from ganexp.config import compose
from ganexp.systems import build_system
from ganexp.systems.average import AverageSettings, GeneratorAverage, decay
from ganexp.train import run
from conftest import FAST, pool3_weights_or_skip

ON = ["ema.enabled=true", "ema.half_life_kimg=0.05"]  # batch 16: beta = 0.5 ** (16 / 50) = 0.8


def test_decay_in_closed_form():
    half_life = AverageSettings(enabled=True, half_life_kimg=10.0)
    assert decay(half_life, 0, 64) == 0.5 ** (64 / 10_000)
    assert decay(AverageSettings(enabled=True, beta=0.999, half_life_kimg=None), 7, 64) == 0.999
    ramp = AverageSettings(enabled=True, half_life_kimg=10.0, ramp=0.05)
    assert decay(ramp, 0, 64) == pytest.approx(0.5 ** 20, rel=1e-12)  # half-life 1 x 64 x 0.05 = 3.2 images
    assert decay(ramp, 4, 64) == pytest.approx(0.5 ** 4, rel=1e-12)  # 5 x 64 x 0.05 = 16 images
    assert decay(ramp, 9999, 64) == 0.5 ** (64 / 10_000)  # 10^4 x 64 x 0.05 = 32,000 > 10,000: the cap is off
    late = AverageSettings(enabled=True, half_life_kimg=10.0, start_step=3)
    assert decay(late, 2, 64) == 0.0 and decay(late, 3, 64) == 0.5 ** (64 / 10_000)


def test_one_decay_is_asked_for_in_one_sentence():
    with pytest.raises(ValueError, match=r"set exactly one of ema.beta .* e.g. ema.beta=0.999 ema.half_life_kimg=null"):
        AverageSettings(enabled=True, beta=0.999)
    with pytest.raises(ValueError, match="with a fixed ema.beta set ema.ramp=null"):
        AverageSettings(enabled=True, beta=0.999, half_life_kimg=None, ramp=0.05)
    AverageSettings(enabled=False, beta=0.999)  # off: nothing to decide


def test_average_after_n_steps_equals_a_hand_loop(tmp_path, monkeypatch):
    """G's weights after each step, averaged by hand with the closed-form decay: half-life 50 images ramped at
    ramp 1 (step t: min(50, 16 (t + 1)) images) from start_step 1 (step 0 copies G)."""
    seen: list[list[torch.Tensor]] = []
    update = GeneratorAverage.update

    def recording(self, generators, which, step):
        seen.append([p.detach().clone() for p in generators[0].parameters()])
        update(self, generators, which, step)

    monkeypatch.setattr(GeneratorAverage, "update", recording)
    cfg = [*FAST, *ON, "ema.ramp=1.0", "ema.start_step=1", "trainer.max_steps=6", "z_dim=3"]
    run(compose(cfg), tmp_path, "r")
    avg = [p.clone() for p in seen[0]]
    for t, weights in enumerate(seen[1:], start=1):
        beta = 0.5 ** (16 / min(50, 16 * (t + 1)))
        avg = [beta * a + (1 - beta) * w for a, w in zip(avg, weights)]
    state = checkpoint.load(tmp_path / "last.ckpt")["system"]
    names = [k for k in state if k.startswith("g_ema.copies.0.")]
    live = dict(build_system(compose(cfg)).players["G"].named_parameters())
    params = [k for k in names if k.removeprefix("g_ema.copies.0.") in live]
    assert len(seen) == 6 and len(params) == len(avg) > 0
    for k, want in zip(params, avg):
        torch.testing.assert_close(state[k], want, rtol=1e-6, atol=1e-7)
    buffers = [k for k in names if k not in params]  # batch norm's running statistics: G's own, copied
    assert buffers and all(state[k].equal(state[k.replace("g_ema.copies.0.", "players.G.")]) for k in buffers)


def test_fused_members_average_as_their_separate_runs(tmp_path):
    """Float64: each member's G_ema (and everything else) bit for bit its separate run's."""
    from test_fused import EXACT, assert_same_run, fused, separate

    overrides = [*EXACT, "loss=gan_ns", *ON]
    ref, got = separate(overrides, (0, 1), tmp_path / "ref"), fused(overrides, (0, 1), tmp_path / "fused")
    for s in (0, 1):
        assert_same_run(got[s], ref[s])
    averaged = [checkpoint.load(got[s] / "last.ckpt")["system"] for s in (0, 1)]
    key = next(k for k in averaged[0] if k.startswith("g_ema.") and k.endswith("weight"))
    assert not averaged[0][key].equal(averaged[1][key])  # two members, two averages


def test_psgan_switch_restarts_the_new_stages_averages_from_the_mixed_weights():
    from test_training_systems import PSGAN

    system = build_system(compose([*PSGAN, *ON, "+trainer.steps_per_epoch=93"]))
    for g in system.averaged_generators():  # every live generator moved away from its average
        for p in g.parameters():
            p.data.add_(1.0)
    before = [c.state_dict() for c in system.g_ema.copies]
    system.switch_to(1)
    k = system.K
    after = [c.state_dict() for c in system.g_ema.copies]
    for i, (copy, live) in enumerate(zip(after, system.averaged_generators())):
        if k <= i < 2 * k:  # stage 1: its mixed weights (Algorithm 1)
            assert all(copy[n].equal(v) for n, v in live.state_dict().items())
        else:  # stages 0 and 2 keep their averages
            assert all(copy[n].equal(v) for n, v in before[i].items())


def test_progan_layers_not_yet_grown_average_to_gs_own_weights(tmp_path):
    """Before its growth a block is not trained, so its average is G's weights exactly: the block starts in G_ema
    as it starts in G. Trained blocks differ."""
    from test_training_systems import PROGAN

    run(compose([*PROGAN, *ON, "trainer.max_steps=8"]), tmp_path, "r")  # growth at step 9: 7 px only
    state = checkpoint.load(tmp_path / "last.ckpt")["system"]
    pairs = {k: k.replace("g_ema.copies.0.", "players.G.") for k in state if k.startswith("g_ema.copies.0.")}
    grown = [k for k in pairs if ".blocks.0." in k or "to_rgb.0." in k]
    later = [k for k in pairs if ".blocks.1." in k or ".blocks.2." in k or "to_rgb.1." in k or "to_rgb.2." in k]
    assert later and all(state[k].equal(state[v]) for k, v in pairs.items() if k in later)
    assert grown and any(not state[k].equal(state[pairs[k]]) for k in grown if state[k].is_floating_point())


def test_an_evaluation_scores_g_ema_and_g_under_their_own_keys(tmp_path):
    """ema.score=both: the same codes through G_ema (keys ..._ema) and G; the checkpoint's G_ema again gives G_ema's
    FID. ema.score=ema: G_ema only."""
    weights = pool3_weights_or_skip()
    metrics = [o for o in FAST if not o.startswith("metrics=")] + [
        "metrics=fid", "metrics.num_samples=6", "metrics.num_real=6", "metrics.every_n_steps=0",
        "metrics.allow_download=false", f"metrics.inception_weights={weights}", f"metrics.cache_dir={tmp_path / 'c'}"]
    cfg = [*metrics, *ON, "trainer.max_steps=4", "z_dim=3"]
    run(compose(cfg), tmp_path / "both", "r")
    got = json.loads((tmp_path / "both" / "result.json").read_text())["metrics"]
    assert {"fid6", "fid6_ema", "kid6", "kid6_ema", "kid6_std", "kid6_ema_std", "div6", "div6_ema"} <= set(got)
    assert got["fid6"] != got["fid6_ema"] and min(got["fid6"], got["fid6_ema"]) > 0
    run(compose([*cfg, "ema.score=ema"]), tmp_path / "ema", "r")
    only = json.loads((tmp_path / "ema" / "result.json").read_text())["metrics"]
    assert "fid6" not in only and only["fid6_ema"] == pytest.approx(got["fid6_ema"], rel=1e-9)
