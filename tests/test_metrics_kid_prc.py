"""Tests of the metric registry, KID and precision/recall/density/coverage (issue 24): against torch-fidelity
on the same features and images, closed-form cases, the real-feature cache, a registered metric in a run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_metrics import (ArrayDataset, RGBDataset, Sampler, base_cfg, needs_assets, read_idx_images,
                          tf_metrics, MNIST_TEST)

from ganexp.metrics import Evaluator, cache, config, feature_stats, frechet_distance, weights
from ganexp.metrics.extractor import POOL3
from ganexp.metrics.kid import kernel_inception_distance
from ganexp.metrics.prc import knn_radii, precision_recall_density_coverage
from ganexp.metrics.registry import (Metric, Output, describe_key, register_metric, summary_text,
                                     unregister_metric)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KID_KW = dict(kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
              verbose=False, rng_seed=2020)


def features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """Non-negative float64 rows, as pool3 features are (ReLU then average pooling)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g, dtype=torch.float64) * 2 + shift)


# ---------------------------------------------------------------- on features (no Inception)


@pytest.mark.parametrize("n_gen,n_real,size,subsets", [(40, 30, 10, 7), (12, 12, 12, 3), (25, 60, 20, 5)])
def test_kid_equals_torch_fidelity_on_the_same_features(n_gen, n_real, size, subsets):
    """Same subsets (RandomState(2020), generated first), same kernel and estimator; in float64 the two agree
    to rounding. Subsets smaller than the sets: the drawing order matters and is checked. Subsets that hold
    both whole sets estimate no spread: our std is 0 exactly where torch-fidelity's is rounding."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    gen, real = features(n_gen, 64, 0), features(n_real, 64, 1, shift=0.1)
    ref = kid_features_to_metric(gen, real, kid_subsets=subsets, kid_subset_size=size, **KID_KW)
    mean, std = kernel_inception_distance(gen, real, subsets, size)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-9)
    # abs: the rounding of equal subsets (n = size)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-6, abs=1e-12)
    assert mean > 0.01 and (std == 0.0 if n_gen == n_real == size else std > 1e-4)  # shifted sets


@pytest.mark.parametrize("save_cpu_ram", [False, True])
def test_prc_equals_torch_fidelity_on_the_same_features(save_cpu_ram):
    from torch_fidelity.metric_prc import prc_features_to_metric

    gen, real = features(50, 16, 2), features(70, 16, 3, shift=0.15)
    ref = prc_features_to_metric(gen, real, prc_neighborhood=3, prc_batch_size=20, save_cpu_ram=save_cpu_ram,
                                 verbose=False)
    ours = precision_recall_density_coverage(gen, real, 3)
    # the same counts; torch-fidelity's shares are float32 means of them
    assert (round(ours["precision"] * 50), round(ours["recall"] * 70)) == (round(ref["precision"] * 50),
                                                                           round(ref["recall"] * 70))
    assert ours["precision"] == pytest.approx(ref["precision"], rel=1e-6)
    assert ours["recall"] == pytest.approx(ref["recall"], rel=1e-6)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1  # not a trivial case


def test_precision_recall_density_coverage_closed_form():
    """1-D, k=1. Real 0, 1, 3: radii 1, 1, 2. Generated 0.5, 10: radii 9.5, 9.5.
    precision: 0.5 is in real balls, 10 is not -> 1/2; recall: every real point is within 9.5 of 0.5 -> 1;
    density: 0.5 lies strictly inside two real balls, 10 in none -> 2 / (k M) = 2 / 2 = 1;
    coverage: the balls of 0 and 1 hold a generated point, that of 3 does not (|3 - 0.5| = 2.5 > 2) -> 2/3."""
    real, gen = torch.tensor([[0.0], [1.0], [3.0]]), torch.tensor([[0.5], [10.0]])
    assert knn_radii(real, 1).tolist() == [1.0, 1.0, 2.0]
    assert precision_recall_density_coverage(gen, real, 1) == {"precision": 0.5, "recall": 1.0, "density": 1.0,
                                                              "coverage": pytest.approx(2 / 3)}


def test_kid_is_unbiased_where_fid_is_not():
    """Two samples of one Gaussian N(0, I_64), n = 16 each, 200 independent draws. KID's expectation is 0 at
    any n (an unbiased MMD^2 estimate), so its mean over draws is within 4 standard errors of 0; the Fréchet
    distance of the same samples is ~ tr(S1) + tr(S2) - 2 tr sqrt(S1 S2) > 0, far above 0 at n << d."""
    g = torch.Generator().manual_seed(7)
    kids, fids = [], []
    for _ in range(200):
        x, y = (torch.randn(16, 64, generator=g, dtype=torch.float64) for _ in range(2))
        kids.append(kernel_inception_distance(x, y, subsets=1, subset_size=16)[0])
        fids.append(frechet_distance(*feature_stats(x), *feature_stats(y)))
    kids = np.array(kids)
    assert abs(kids.mean()) < 4 * kids.std() / np.sqrt(len(kids))  # measured: 0.0029, standard error 0.0047
    assert min(fids) > 60  # every draw (measured: 74 to ..., mean 85): the bias alone, the true distance is 0


def test_features_cache_is_keyed_by_extractor(tmp_path):
    key = {"format": 2, "dataset": "d", "split": "train", "content_sha256": "c", "resolution": 28, "channels": 1,
           "preprocessing": "", "extractor": "torch-fidelity/inception-v3-compat/tf-2015-12-05/pool3",
           "weights_sha256": "w", "num_real": 4, "subset_seed": 0, "kind": "features"}
    vgg = {**key, "extractor": "torch-fidelity/vgg16/imagenet1k-v1/fc2_relu", "weights_sha256": "v"}
    paths = cache.features_path(tmp_path, key), cache.features_path(tmp_path, vgg)
    assert paths[0] != paths[1] and "inception-v3-compat" in paths[0].name and "vgg16" in paths[1].name
    rows = np.arange(8, dtype=np.float32).reshape(4, 2)
    got, computed = cache.cached_features(paths[0], key, lambda: rows)
    assert computed and np.array_equal(got, rows)
    assert cache.load_features(paths[0], vgg) is None  # the same file read under the other extractor's key: refused
    assert cache.cached_features(paths[0], key, lambda: 1 / 0) == (pytest.approx(rows), False)


# ---------------------------------------------------------------- registry and keys


def test_describe_key_reads_every_recorded_key():
    fid, kid, kid_std = describe_key("fid10k"), describe_key("kid1k"), describe_key("kid1k_std")
    assert (fid.metric, fid.samples, fid.higher_is_better, fid.std_key) == ("fid", 10000, False, None)
    assert (kid.metric, kid.samples, kid.std_key, kid.is_std) == ("kid", 1000, "kid1k_std", False)
    assert kid_std.is_std and kid_std.samples == 1000 and kid_std.std_key is None
    assert describe_key("is250").std_key == "is250_std" and describe_key("is250").higher_is_better
    prec = describe_key("precision250_vgg16")
    assert (prec.metric, prec.samples, prec.extractor, prec.higher_is_better) == ("prc", 250, "vgg16", True)
    assert describe_key("recall32").extractor == "inception" and describe_key("div32").metric == "div"
    assert [describe_key(k) for k in ("g_loss", "fid10k_std", "kid", "epoch")] == [None] * 4
    assert config.KEY_RE["kid"].match("kid1k").group(1) == "1k" and config.KEY_RE["fid"].match("fid10k")


def test_the_scored_generator_is_its_own_part_of_a_key():
    """<metric><n>[_<extractor>][_ema][_std]: "ema" and "std" are never an extractor's name, so each key parses one
    way; G's keys are the keys of a run without an average."""
    from ganexp.metrics.registry import generator_key

    parts = lambda k: (lambda d: (d.metric, d.samples, d.extractor, d.generator, d.is_std, d.std_key))(describe_key(k))  # noqa: E731
    assert parts("fid10k") == ("fid", 10000, "inception", "G", False, None)
    assert parts("fid10k_ema") == ("fid", 10000, "inception", "G_ema", False, None)
    assert parts("kid1k_ema") == ("kid", 1000, "inception", "G_ema", False, "kid1k_ema_std")
    assert parts("kid1k_ema_std") == ("kid", 1000, "inception", "G_ema", True, None)
    assert parts("precision250_vgg16_ema") == ("prc", 250, "vgg16", "G_ema", False, None)
    assert describe_key("fid10k_ema").label == "FID (Heusel et al. 2017) of G_ema"
    assert [describe_key(k) for k in ("fid10k_ema_std", "precision250_vgg16_ema_std", "fid10k_std_ema")] == [None] * 3
    assert [generator_key(k, "ema") for k in ("fid10k", "kid1k_std", "precision250_vgg16")] == \
        ["fid10k_ema", "kid1k_ema_std", "precision250_vgg16_ema"]
    assert generator_key("fid10k", "") == "fid10k" and not config.KEY_RE["fid"].match("fid10k_ema")
    with pytest.raises(ValueError, match="unknown generator 'avg'; known: ema"):
        generator_key("fid10k", "avg")


def test_summary_text_shows_headline_values_with_their_std():
    metrics = {"fid32": 123.456, "is32": None, "is32_std": None, "div32": 0.5, "kid32": 0.01234, "kid32_std": 0.002,
               "g_loss": 1.0, "precision32": 0.5, "density32": 0.9}
    assert summary_text(metrics) == "fid32=123.46 kid32=0.0123±0.0020 precision32=0.500"
    # one subset held every sample: its std is 0, no spread was estimated, and no ± is printed
    assert summary_text({"fid32": 123.456, "kid32": 0.01234, "kid32_std": 0.0}) == "fid32=123.46 kid32=0.0123"


def test_unknown_metric_name_is_refused_naming_the_known_ones():
    from ganexp.metrickeys import BUILTIN

    with pytest.raises(ValueError, match=r"metrics.names=\['fid','fdi'\] is not allowed: metrics.names must be a list "
                                         rf"of distinct registered metric names \(built in: {', '.join(sorted(BUILTIN))}\)"):
        Evaluator({"names": ["fid", "fdi"]}, dataset=None)  # refused before the dataset is read


class Rows(Metric):
    """A metric of this test: the number of generated pool3 rows it was given (closed form: num_samples)."""

    name = "rows"
    outputs = (Output("rows", "generated feature rows", higher_is_better=True, fmt=".0f"),)

    def compute(self, ctx):
        return {"rows": float(ctx.gen[POOL3].shape[0])}


@pytest.fixture
def rows_metric():
    register_metric(Rows)
    yield
    unregister_metric("rows")


def test_a_registered_metric_reaches_result_json_metrics_jsonl_and_the_summary(rows_metric, tmp_path, capsys):
    """One module-level class and its registration: no other edit, and the run records rows8 = 8."""
    from conftest import FAST, pool3_weights_or_skip

    from ganexp.config import compose
    from ganexp.train import run

    weights = pool3_weights_or_skip()
    overrides = [o for o in FAST if not o.startswith("metrics=")] + [
        "trainer.max_steps=2", "metrics.num_samples=8", "metrics.every_n_steps=0", "metrics.allow_download=false",
        "metrics.names=[fid,rows]", f"metrics.inception_weights={weights}", f"metrics.cache_dir={tmp_path / 'c'}"]
    run(compose(overrides), tmp_path / "run", "r")
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["metrics"]["rows8"] == 8.0 and result["metrics"]["fid8"] > 0
    assert "kid8" not in result["metrics"] and "is8" not in result["metrics"]  # metrics.names picks
    assert result["metric_info"]["metrics"]["rows"] == {"extractor": "inception", "n": 8}
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["rows8"] for r in rows if "rows8" in r] == [8.0]
    assert "rows8=8 " in capsys.readouterr().out
    assert describe_key("rows8").metric == "rows"


# ---------------------------------------------------------------- Evaluator end to end (Inception on CPU)


@pytest.fixture(scope="module")
def mnist16():
    if not MNIST_TEST.is_file():
        pytest.skip("MNIST is absent")
    return read_idx_images(MNIST_TEST, 16)


@needs_assets
def test_kid_and_prc_equal_torch_fidelity_on_the_same_images(mnist16, tmp_path):
    """Real = MNIST test[:8], generated = test[8:16], KID subsets of 6 (they differ, so the std is not 0).

    On the same images torch-fidelity's calculate_metrics computes KID in float32 (numpy on its float32
    features): its value is off the float64 one by ~3e-6 relative here, so the end-to-end check allows 2e-5;
    on the same features (ours, float64) the two protocols agree to 1e-9. Precision and recall: the same
    counts (torch-fidelity's shares are float32)."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    cfg = base_cfg(tmp_path, names=["fid", "kid", "prc"], kid_subset_size=6, kid_subsets=10)
    ev = Evaluator(cfg, ArrayDataset(mnist16[:8]))
    scores = ev.evaluate(Sampler(mnist16[8:16]), "cpu")
    ref = tf_metrics(RGBDataset(mnist16[8:16]), RGBDataset(mnist16[:8]), kid=True, prc=True, batch_size=8,
                     kid_subset_size=6, kid_subsets=10, feature_extractor="inception-v3-compat")
    assert set(scores) == {"fid8", "kid8", "kid8_std", "precision8", "recall8", "density8", "coverage8"}
    assert scores["kid8"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=2e-5)
    assert scores["kid8_std"] == pytest.approx(ref["kernel_inception_distance_std"], rel=2e-4)
    assert scores["precision8"] == pytest.approx(ref["precision"], rel=1e-6)
    assert scores["recall8"] == pytest.approx(ref["recall"], rel=1e-6)
    gen = ev.features.from_uint8(mnist16[8:16], torch.device("cpu"), 8)[POOL3].double()
    real = ev.real_features("inception").double()
    same = kid_features_to_metric(gen, real, kid_subsets=10, kid_subset_size=6, **KID_KW)
    assert scores["kid8"] == pytest.approx(same["kernel_inception_distance_mean"], rel=1e-9)
    assert scores["kid8"] > scores["kid8_std"] > 1e-3  # different digits: clearly non-zero; subsets differ
    info = ev.info["metrics"]
    assert info["kid"] == {"extractor": "inception", "n": 8, "subsets": 10, "subset_size": 6, "seed": 2020,
                           "kernel": "poly(degree=3, gamma=1/d, coef0=1)"}
    assert info["prc"] == {"extractor": "inception", "n": 8, "k": 3}


@needs_assets
def test_prc_on_vgg16_equals_torch_fidelity_with_the_same_weights_file(mnist16, tmp_path):
    """The VGG16 path end to end. The ImageNet file is not on this machine, so the weights are a seeded random
    torchvision VGG16 saved as a state dict: torch-fidelity loads such a file the same way as the real one.
    metrics.vgg16_weights=PATH; the PRC keys carry _vgg16; VGG16 features (fc2_relu, 4096-d) equal
    torch-fidelity's extractor's; precision and recall equal its prc; real features cached once per extractor.
    Generated: 4 real digits and 4 noise images, so precision is neither 0 nor 1."""
    import torchvision
    from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state = torchvision.models.vgg16().state_dict()
    path = tmp_path / "vgg16-random.pth"
    torch.save(state, path)
    del state
    noise = torch.randint(0, 256, (4, 1, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    real, gen = mnist16[:8], torch.cat([mnist16[:4], noise])
    cfg = base_cfg(tmp_path, names=["kid", "prc"], vgg16_weights=str(path))
    ev = Evaluator(cfg, ArrayDataset(real))
    scores = ev.evaluate(Sampler(gen), "cpu")
    assert set(scores) == {"kid8", "kid8_std", "precision8_vgg16", "recall8_vgg16", "density8_vgg16",
                           "coverage8_vgg16"}
    assert ev.info["metrics"]["prc"] == {"extractor": "vgg16", "n": 8, "k": 3}

    reference = FeatureExtractorVGG16("vgg16", ["fc2_relu"], feature_extractor_weights_path=str(path))
    theirs = reference(real.expand(-1, 3, -1, -1).contiguous())[0]
    assert theirs.shape == (8, 4096)
    torch.testing.assert_close(ev.real_features("vgg16"), theirs, rtol=1e-5, atol=1e-6)
    ref = tf_metrics(RGBDataset(gen), RGBDataset(real), weights_path=path, prc=True, batch_size=8,
                     feature_extractor="vgg16")
    assert scores["precision8_vgg16"] == pytest.approx(ref["precision"], rel=1e-6)
    assert scores["recall8_vgg16"] == pytest.approx(ref["recall"], rel=1e-6)
    assert 0 < scores["precision8_vgg16"] < 1
    files = sorted(p.name for p in (tmp_path / "real_features").glob("*.npz"))
    assert len(files) == 2 and any("vgg16" in f for f in files) and any("inception" in f for f in files), files


def test_prc_without_vgg16_weights_uses_inception_and_vgg16_asked_for_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no VGG16 file anywhere
    cfg = base_cfg(tmp_path, names=["prc"])
    # auto: no VGG16 file -> pool3, no suffix
    assert Evaluator(cfg, None).keys["prc"] == {"inception": {"precision": "precision8", "recall": "recall8",
                                                              "density": "density8", "coverage": "coverage8"}}
    with pytest.raises(weights.WeightsError, match=r"No VGG16 weights in .* set metrics.vgg16_weights=PATH or drop "
                                                   r"vgg16 from metrics.extractors \(e.g. metrics.extractors.prc="):
        Evaluator({**cfg, "extractors": {"prc": ["vgg16"]}}, None)
    with pytest.raises(weights.WeightsError, match="VGG16 weights file .*nothing.pth does not exist"):
        # metrics.prc_extractor: a run's config of an earlier version, read as metrics.extractors.prc=[vgg16]
        Evaluator({**cfg, "prc_extractor": "vgg16", "vgg16_weights": str(tmp_path / "nothing.pth")}, None)


def test_cli_two_sets_refuse_metrics_that_need_a_real_split(tmp_path, capsys):
    from ganexp.metrics import cli

    x = np.zeros((2, 4, 4), np.uint8)
    np.savez(tmp_path / "a.npz", images=x)
    assert cli.main(["fid", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "--names", "fid,is"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: two image sets can be scored with fid, kid, prc; --names gave fid,is."
