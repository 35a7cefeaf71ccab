"""Real datasets at scale: the decoded-image cache, the streamed path, epoch milestones, AdaIN and the
mode-collapse signal (Study B, Kwak & Ko)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FAST, ROOT, assets_or_skip
from ganexp.data import EpochOrder, FolderSet, StreamBatcher, TensorBatcher, decoded


def make_faces(folder: Path, n: int, seed: int = 0, size=(178, 218)) -> list[Path]:
    """n random-noise JPEGs of CelebA's size (W, H) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        paths.append(folder / f"{i + 1:06d}.jpg")
        Image.fromarray(arr).save(paths[-1], quality=90)
    return paths


def celeba(root: Path, cache: Path, resolution: int = 16) -> FolderSet:
    return FolderSet("celeba", resolution, 3, root=str(root), folder="celeba/img_align_celeba", crop=178,
                     cache_dir=str(cache))


# ---------------------------------------------------------------- batches


def test_streamed_batches_equal_resident_ones_across_epochs_and_a_resume():
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)  # 6 batches of 8 per epoch
    resident, streamed = TensorBatcher(images, 8, seed=3), StreamBatcher(images, 8, seed=3, prefetch=3)
    streamed.to("cpu")
    for _ in range(20):
        torch.testing.assert_close(streamed.next(), resident.next(), rtol=0, atol=0)
    state = streamed.state_dict()  # as of the 20th batch, though 3 more are prefetched
    assert state["pos"] == resident.state_dict()["pos"] == 16
    other = TensorBatcher(images, 8, seed=99)
    other.load_state_dict(state)
    for _ in range(8):
        torch.testing.assert_close(other.next(), resident.next(), rtol=0, atol=0)
    streamed.close()


def test_the_order_is_torch_randperm_per_epoch():
    order, gen = EpochOrder(10, 4, seed=7), torch.Generator().manual_seed(7)
    first, second = torch.randperm(10, generator=gen), torch.randperm(10, generator=gen)
    got = [order.next() for _ in range(4)]  # 2 full batches per epoch, the last 2 items dropped
    expected = [first[:4], first[4:8], second[:4], second[4:8]]
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


@pytest.mark.parametrize("placement", ["resident", "streamed"])
def test_a_run_trains_the_same_whichever_placement(tmp_path, placement):
    from ganexp.config import compose
    from ganexp.train import run

    res = run(compose(FAST + ["trainer.max_steps=6", f"data.placement={placement}"]), tmp_path / placement, "r")
    ref_dir = tmp_path / "ref"
    if not ref_dir.exists():
        ref = run(compose(FAST + ["trainer.max_steps=6", "data.placement=resident"]), ref_dir, "r")
    else:
        ref = json.loads((ref_dir / "result.json").read_text())
    assert res["metrics"]["d_loss"] == ref["metrics"]["d_loss"]
    assert (tmp_path / placement / "samples/final.png").read_bytes() == (ref_dir / "samples/final.png").read_bytes()


def test_auto_placement_streams_what_exceeds_the_budget(capsys):
    from ganexp.data.placement import make_batcher

    images = torch.zeros(100, 3, 10, 10, dtype=torch.uint8)  # 30,000 bytes
    auto = {"placement": "auto", "resident_fraction": 0.25, "prefetch": 2}
    b, line = make_batcher(images, auto, 10, 0, torch.device("cpu"), 1, "x")
    assert isinstance(b, TensorBatcher) and "resident on cpu" in line
    tiny = {**auto, "resident_fraction": 30_000 * 4 / 8 / b_memory()}  # budget 15,000 bytes with 2 jobs
    b, line = make_batcher(images, tiny, 10, 0, torch.device("cpu"), 2, "x")
    assert isinstance(b, StreamBatcher) and "streamed to cpu from the host, 2 batches ahead" in line
    b.close()


def b_memory() -> float:
    from ganexp.data.placement import device_memory

    return device_memory(torch.device("cpu"))


# ---------------------------------------------------------------- the decoded cache


def test_zip_and_folder_give_identical_tensors(tmp_path):
    paths = make_faces(tmp_path / "folder/celeba/img_align_celeba", 12)
    (tmp_path / "zip/celeba").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "zip/celeba/img_align_celeba.zip", "w") as z:
        for p in reversed(paths):  # member order differs; the set's order is by name
            z.write(p, f"img_align_celeba/{p.name}")
    a = celeba(tmp_path / "folder", tmp_path / "cache").images("train")
    b = celeba(tmp_path / "zip", tmp_path / "cache").images("train")
    assert a.shape == (12, 3, 16, 16) and torch.equal(a, b)
    from ganexp.cachefiles import content_digest

    b_set = celeba(tmp_path / "zip", tmp_path / "cache")
    b_set.images("test")
    assert b_set.content_sha256 == content_digest(a)  # the FID statistics' key, from the cache's sidecar
    one = FolderSet("x", 16, 3, folder=str(paths[0].parent), crop=178, cache_dir=str(tmp_path / "c2"))
    from ganexp.data.sources import Decoder

    assert torch.equal(a[3], torch.from_numpy(Decoder("x", 3, 178, 16)(paths[3].read_bytes(), "")))
    assert torch.equal(one.images("train"), a)


def test_the_offline_celeba_sample_reads_the_same_from_its_folder_and_a_zip(tmp_path):
    sample = assets_or_skip("datasets", "celeba_sample")
    with zipfile.ZipFile(tmp_path / "img_align_celeba.zip", "w") as z:
        for p in sorted((sample / "img_align_celeba").iterdir()):
            z.write(p, f"img_align_celeba/{p.name}")
    a = celeba(sample, tmp_path / "cache", 64).images("train")  # ROOT/img_align_celeba
    b = celeba(tmp_path, tmp_path / "cache", 64).images("train")  # ROOT/img_align_celeba.zip
    assert a.shape == (32, 3, 64, 64) and torch.equal(a, b)


def decode_lines(err: str) -> int:
    return sum("decoded" in ln and "images in" in ln for ln in err.splitlines())


def test_a_corrupt_partial_or_uncommitted_cache_is_rebuilt_never_used(tmp_path, capfd):
    make_faces(tmp_path / "celeba/img_align_celeba", 6)
    good = celeba(tmp_path, tmp_path / "cache").images("train").clone()
    npy = next((tmp_path / "cache").glob("*.npy"))
    meta = npy.with_suffix(".json")
    assert decode_lines(capfd.readouterr().err) == 1
    celeba(tmp_path, tmp_path / "cache").images("train")
    assert decode_lines(capfd.readouterr().err) == 0  # reused

    def damage(how):
        if how == "flip":
            data = bytearray(npy.read_bytes())
            data[-5] ^= 0xFF
            npy.write_bytes(bytes(data))
        elif how == "cut":
            npy.write_bytes(npy.read_bytes()[:-100])
        elif how == "no sidecar":
            meta.unlink()

    for how in ("flip", "cut", "no sidecar"):
        damage(how)
        decoded._VERIFIED.clear()  # a new job
        again = celeba(tmp_path, tmp_path / "cache").images("train")
        assert decode_lines(capfd.readouterr().err) == 1, how
        assert torch.equal(again, good), how


CONCURRENT = """
import sys, time
from ganexp.data import FolderSet
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
x = FolderSet("celeba", 16, 3, root=sys.argv[2], folder="celeba/img_align_celeba", crop=178,
              cache_dir=sys.argv[3]).images("train")
print(int(x.sum()))
"""


def test_two_jobs_starting_together_decode_once(tmp_path):
    make_faces(tmp_path / "celeba/img_align_celeba", 300)
    start = str(time.time() + 8)  # both past their imports, then released together
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, start, str(tmp_path), str(tmp_path / "cache")],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]
    assert sum(decode_lines(err) for _, err in outs) == 1
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


def test_missing_celeba_says_where_to_put_it(tmp_path):
    from ganexp.data import DatasetError

    with pytest.raises(DatasetError) as err:
        FolderSet("celeba", 64, 3, root=str(tmp_path), folder="celeba/img_align_celeba", crop=178,
                  cache_dir=str(tmp_path / "c")).images("train")
    assert str(err.value) == (f"dataset 'celeba': no images at {tmp_path}/celeba/img_align_celeba or "
                              f"{tmp_path}/celeba/img_align_celeba.zip; put the folder img_align_celeba/ (or "
                              f"img_align_celeba.zip) there, or set dataset.root=PATH to the folder that holds it")
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


# ---------------------------------------------------------------- epochs


def test_epoch_milestones_land_on_the_right_steps():
    from ganexp.runfolder import steps_per_epoch
    from ganexp.training import epoch_milestones

    assert steps_per_epoch(202_599, 64, 5) == 633  # CelebA, WGAN-GP: 3165 real batches / 5
    assert steps_per_epoch(60_000, 64, 1) == 937
    assert steps_per_epoch(32, 8, 5) == 0.8  # 4 real batches per epoch, 5 per generator step
    assert epoch_milestones([5, 10, 20], 633, 12_660) == {3165: [5], 6330: [10], 12_660: [20]}
    assert epoch_milestones([5, 10, 20], 0.8, 16) == {4: [5], 8: [10], 16: [20]}
    assert epoch_milestones([0.1, 0.2, 0.3], 93, 28) == {10: [0.1], 19: [0.2], 28: [0.3]}
    assert epoch_milestones([0.1, 30], 10, 200) == {1: [0.1]}  # past the end: none


def test_sample_grids_at_epoch_milestones(tmp_path, monkeypatch):
    from ganexp.config import compose
    from ganexp.training import Training
    from ganexp.train import run

    saved = []
    original = Training.save_samples
    monkeypatch.setattr(Training, "save_samples", lambda self, tag, step: (saved.append((tag, step)),
                                                                            original(self, tag, step)))
    res = run(compose(FAST + ["trainer.max_epochs=0.3", "trainer.sample_at_epochs=[0.1,0.2,0.3]"]), tmp_path, "r")
    assert res["config"]["trainer"]["steps_per_epoch"] == 93 and res["steps"] == 28
    assert saved == [("epoch_0.1", 10), ("epoch_0.2", 19), ("epoch_0.3", 28), ("final", 28)]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "epoch_0.1.png", "epoch_0.2.png", "epoch_0.3.png", "final.png"]


# ---------------------------------------------------------------- AdaIN and the collapse signal


def test_adain_output_has_the_mean_and_std_its_z_derived_bias_and_scale_say():
    from ganexp.nets.norms import AdaIN

    torch.manual_seed(0)
    m = AdaIN(4, 3)
    torch.nn.init.normal_(m.style.weight)
    x, z = torch.randn(5, 4, 6, 6, dtype=torch.float64) * 3 + 2, torch.randn(5, 3, dtype=torch.float64)
    m = m.double()
    scale, bias = m.style(z).chunk(2, dim=1)  # (B, C) each
    out = m(x, z)
    var = x.var(dim=(2, 3), unbiased=False)
    torch.testing.assert_close(out.mean(dim=(2, 3)), bias, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.std(dim=(2, 3), unbiased=False),
                               scale.abs() * (var / (var + m.norm.eps)).sqrt(), rtol=1e-12, atol=1e-12)


def test_adain_replaces_every_generator_norm_but_the_input_layers():
    from ganexp.nets import DCGANGenerator
    from ganexp.nets.norms import AdaIN, IgnoreZ

    g = DCGANGenerator(z_dim=8, resolution=128, channels=3, width=8, norm="adain")
    assert isinstance(g.norms[0], IgnoreZ) and isinstance(g.norms[0].module, torch.nn.BatchNorm2d)
    assert [type(n) for n in g.norms[1:]] == [AdaIN] * 4


def test_collapse_is_the_first_evaluation_of_the_last_run_below_the_threshold():
    from ganexp.runfolder import RunFolder, RunState

    def collapse_of(divs):
        r = SimpleNamespace(cfg=SimpleNamespace(metrics=SimpleNamespace(collapse_threshold=0.3)), state=RunState())
        flags = [RunFolder.note_collapse(r, d, step=10 * (i + 1), epoch=i + 1) for i, d in enumerate(divs)]
        return flags, r.state.collapse

    assert collapse_of([0.1, 0.5, 0.2, 0.1]) == ([True, False, True, True], {"step": 30, "epoch": 3})
    assert collapse_of([0.1, 0.5, 0.8]) == ([True, False, False], None)  # low only at the start
    assert collapse_of([float("nan")]) == ([False], None)


@pytest.fixture(scope="module")
def evaluator_parts():
    from ganexp.metrics import config, resolve_weights

    try:
        weights = resolve_weights(None, config.default_cache_dir(), allow_download=False)
    except Exception as err:  # no weights on this machine: `make setup` (python -m ganexp.metrics setup) puts them
        pytest.skip(f"no Inception weights in the cache ({type(err).__name__}); run python -m ganexp.metrics setup")
    from ganexp.data import Digits

    return Digits("digits", 28, 1), str(weights.path)


def test_diversity_flags_a_one_image_generator_and_not_the_real_data(evaluator_parts, tmp_path):
    from ganexp.metrics import Evaluator

    from ganexp.metrics.config import DEFAULTS

    ds, weights = evaluator_parts
    real = ds.images("test")[:12]
    ds._cache["test"] = real
    ev = Evaluator({"num_samples": 12, "batch_size": 12, "real_split": "test", "cache_dir": str(tmp_path),
                    "inception_weights": weights, "allow_download": False}, ds)
    as_float = real.float() / 127.5 - 1
    same = ev.evaluate(lambda n: as_float[:n], "cpu")
    one = ev.evaluate(lambda n: as_float[:1].expand(n, -1, -1, -1), "cpu")
    assert same["div12"] == pytest.approx(1.0, rel=1e-9) and abs(same["fid12"]) < 1e-6
    assert one["div12"] == 0.0
    assert one["div12"] < DEFAULTS["collapse_threshold"] < same["div12"]


def test_a_streamed_run_killed_and_resumed_on_the_resident_path_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    """The checkpoint holds the order as of the last consumed batch (4 more were prefetched when it was
    written), so a resume, here even on the other path, draws exactly the batches an uninterrupted run draws."""
    from conftest import train_until_killed
    from ganexp.config import compose
    from ganexp.train import run

    cfg = FAST + ["trainer.max_steps=20", "trainer.ckpt_every_n_steps=10"]
    ref = run(compose(cfg + ["data.placement=resident"]), tmp_path / "ref", "r")
    train_until_killed(cfg + ["data.placement=streamed"], tmp_path / "killed", monkeypatch, 13)
    res = run(compose(cfg + ["data.placement=resident"]), tmp_path / "killed", "r")
    assert res["steps"] == 20 and res["metrics"]["d_loss"] == ref["metrics"]["d_loss"]
    assert (tmp_path / "killed/samples/final.png").read_bytes() == (tmp_path / "ref/samples/final.png").read_bytes()
