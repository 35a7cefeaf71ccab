"""Tests of the DINOv2 extractor (FD_DINOv2: fid<N>_dinov2, kid<N>_dinov2, precision<N>_dinov2, ...) against
torch-fidelity 0.4's own pipeline.

torch-fidelity's FeatureExtractorDinoV2 loads Meta's model with torch.hub.load("facebookresearch/dinov2", ...),
which needs GitHub; Meta's ImageNet weights need Meta's server. Neither is reachable here, so its hub loader is
patched to return Meta's own model code as PyPI's `dinov2` 0.0.1.dev2 ships it, built with seeded random weights
(checked once against Meta's repository at b8931f7, what torch.hub fetches today: the same weights give features
within 4.2e-6 absolute, ViT-S and ViT-B on 224x224 inputs; the newer code computes attention another way); ganexp loads the same weights from the file Meta's release
would be (`dinov2_vits14_pretrain.pth`) into timm's ViT. Values with the real weights are not measured here.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_metrics import ASSETS, CIFAR, ArrayDataset, RGBDataset, Sampler, base_cfg, needs_assets

from ganexp.metrics import Evaluator, describe_key, feature_stats, frechet_distance, weights
from ganexp.metrics.dinov2 import VARIANTS, DINOv2Features, meta_pos_embed, preprocess

pytestmark = pytest.mark.usefixtures("one_torch_thread")

META_BUILDERS = {"dinov2s": "vit_small", "dinov2b": "vit_base", "dinov2": "vit_large"}  # Meta's hub: dinov2_vit?14
KID_KW = dict(kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
              verbose=False, rng_seed=2020)


def meta_model(variant: str, seed: int = 0) -> torch.nn.Module:
    """Meta's DINOv2 backbone as torch.hub.load("facebookresearch/dinov2", "dinov2_vits14") builds it (518x518,
    patch 14, layer scale 1.0, MLP blocks; interpolate_offset 0.1, no antialiasing), from Meta's code as PyPI's
    `dinov2` 0.0.1.dev2 ships it (installed without its pinned dependencies by `make setup`), without the download:
    seeded random weights. Layer-scale gammas, norm weights and all biases (constant at initialisation) are drawn
    too, so a tensor loaded into the wrong place changes the features."""
    os.environ.setdefault("XFORMERS_DISABLED", "1")  # as torch-fidelity sets it: Meta's plain attention
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")  # "xFormers is not available", on the first import of its layers
        from dinov2.models import vision_transformer

        torch.manual_seed(seed)
        build = getattr(vision_transformer, META_BUILDERS[variant])
        model = build(img_size=518, patch_size=14, init_values=1.0, ffn_layer="mlp", block_chunks=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "gamma" in name or "norm" in name or name.endswith("bias"):
                    p.copy_(torch.randn_like(p) * 0.1 + (1.0 if name.endswith(("weight", "gamma")) else 0.0))
    return model.eval()


def patch_hub(monkeypatch, model: torch.nn.Module, hub_name: str) -> list:
    """torch.hub.load answers torch-fidelity's call with `model`; returns the calls it saw."""
    calls = []

    def load(repo, name, *args, **kwargs):
        calls.append((repo, name))
        assert (repo, name) == ("facebookresearch/dinov2", hub_name)
        return model

    monkeypatch.setattr(torch.hub, "load", load)
    return calls


def fidelity_features(monkeypatch, model, variant: str, images: torch.Tensor) -> torch.Tensor:
    """torch-fidelity 0.4's dinov2-vit-*-14 features of uint8 RGB images, with `model` as its hub's answer."""
    from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

    v = VARIANTS[variant]
    calls = patch_hub(monkeypatch, model, v.hub)
    extractor = FeatureExtractorDinoV2(v.fidelity, ["dinov2"])
    assert calls == [("facebookresearch/dinov2", v.hub)]
    with torch.no_grad():
        return extractor(images)[0]


@pytest.fixture(scope="module")
def vits14(tmp_path_factory):
    """(Meta's ViT-S/14 with seeded random weights, the file of those weights under Meta's release name)."""
    model = meta_model("dinov2s")
    path = tmp_path_factory.mktemp("dinov2") / VARIANTS["dinov2s"].file_name
    torch.save(model.state_dict(), path)
    return model, path


def images(n: int, size: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, size, size), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


# ---------------------------------------------------------------- features against torch-fidelity's pipeline


def test_vits14_features_equal_torch_fidelitys_pipeline(vits14, monkeypatch):
    """CLS features of 32x32 RGB images (upsampled to 224), 300x300 ones (downsampled) and 28x28 gray ones
    (repeated to RGB first, as torch-fidelity's inputs are): equal to torch-fidelity's dinov2-vit-s-14 on Meta's
    model with the same weights, rtol 1e-5, atol 1e-5 (measured: at most 3.4e-6 absolute on features of mean
    magnitude 0.8; Meta's attention is computed as softmax(q k^T) v, timm's by scaled_dot_product_attention)."""
    model, path = vits14
    ours = DINOv2Features(VARIANTS["dinov2s"], path)
    for batch in (images(3, 32), images(2, 300, seed=1), images(2, 28, channels=1, seed=2)):
        theirs = fidelity_features(monkeypatch, model, "dinov2s", batch.expand(-1, 3, -1, -1).contiguous())
        got = ours.batch(batch)
        assert got.shape == theirs.shape == (batch.shape[0], 384) and got.dtype == torch.float32
        torch.testing.assert_close(got, theirs, rtol=1e-5, atol=1e-5)
        assert theirs.std() > 0.1  # features that differ between images, not a constant


def test_preprocessing_is_torch_fidelitys_step_by_step():
    """Resize: torch-fidelity's TF1-compatible bilinear (align_corners=False, no antialiasing) to 224x224; then
    (x - 255 mean) / (255 std) with ImageNet's mean and std: the same tensor as torch-fidelity's forward makes
    before its model. A constant image stays constant through the resize (no padding, no border effect)."""
    import torchvision
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = images(2, 32)
    resized = interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=(224, 224), align_corners=False)
    expected = torchvision.transforms.functional.normalize(resized, (255 * 0.485, 255 * 0.456, 255 * 0.406),
                                                           (255 * 0.229, 255 * 0.224, 255 * 0.225))
    assert torch.equal(preprocess(x), expected)
    flat = preprocess(torch.full((1, 3, 32, 32), 128, dtype=torch.uint8))
    torch.testing.assert_close(flat[0, :, 0, 0], torch.tensor([(128 - 255 * m) / (255 * s) for m, s in
                                                              [(0.485, 0.229), (0.456, 0.224), (0.406, 0.225)]]))
    assert torch.equal(flat, flat[..., :1, :1].expand_as(flat))


def test_position_embeddings_are_resampled_as_meta_does_at_224():
    """Meta's model resamples its 37x37 grid at every forward pass (interpolate_pos_encoding); ganexp once, at
    load time: the same (1, 257, D) tensor."""
    model = meta_model("dinov2s", seed=3)
    tokens = torch.zeros(1, 1 + 16 * 16, 384)
    with torch.no_grad():
        theirs = model.interpolate_pos_encoding(tokens, 224, 224)
    assert torch.equal(meta_pos_embed(model.pos_embed.detach()), theirs) and theirs.shape == (1, 257, 384)


@pytest.mark.parametrize("variant", ["dinov2b", "dinov2"])
def test_vitb14_and_vitl14_features_equal_torch_fidelitys_pipeline(variant, monkeypatch, tmp_path):
    """ViT-B/14 and ViT-L/14 (FD_DINOv2's network; 304 M parameters, a 1.2 GB file): the same check on two
    32x32 images, rtol 1e-5."""
    model = meta_model(variant, seed=1)
    path = tmp_path / VARIANTS[variant].file_name
    torch.save(model.state_dict(), path)
    batch = images(2, 32, seed=4)
    theirs = fidelity_features(monkeypatch, model, variant, batch)
    del model
    got = DINOv2Features(VARIANTS[variant], path).batch(batch)
    assert got.shape == (2, VARIANTS[variant].dim)
    torch.testing.assert_close(got, theirs, rtol=1e-5, atol=1e-5)


def test_a_file_of_another_variant_is_one_sentence(vits14):
    with pytest.raises(weights.WeightsError) as err:
        DINOv2Features(VARIANTS["dinov2"], vits14[1]).module
    assert str(err.value) == (f"{vits14[1]} is not DINOv2 ViT-L/14's state dict (Meta's dinov2_vitl14_pretrain.pth): "
                              "it lacks pos_embed or block 23; fix metrics.dinov2_weights.")


# ---------------------------------------------------------------- FD, KID, PRC end to end


@pytest.fixture(scope="module")
def cifar16():
    if not CIFAR.is_file():
        pytest.skip(f"CIFAR-10 subset not found under {ASSETS}")
    with np.load(CIFAR) as z:
        return torch.from_numpy(z["x_test"][:12]).permute(0, 3, 1, 2).contiguous()


@needs_assets
def test_fd_kid_prc_on_dinov2_equal_torch_fidelity(vits14, cifar16, monkeypatch, tmp_path):
    """Real: 8 CIFAR-10 test images; generated: 4 others and 4 noise images. One Evaluator computes FID on
    Inception and DINOv2 ViT-S/14, KID and PRC on DINOv2, from one pass per extractor. Against torch-fidelity's
    calculate_metrics(feature_extractor="dinov2-vit-s-14") on Meta's model with the same weights:

    - the real features equal its extractor's (rtol 1e-5), so the formulas see the same inputs;
    - FD (fid8_dinov2s) equals its Fréchet distance to 1e-5 relative end to end (measured 3.0e-7: its statistics
      are float32, and 8 rows in 384 dimensions make a singular covariance whose scipy.linalg.sqrtm is the less
      accurate), and to 1e-6 on the same float64 statistics (measured 2.7e-7);
    - KID equals its kid to 2e-5 (float32 against float64, and Meta's attention against timm's) and to 1e-9 on
      the same features;
    - precision and recall: the same counts;
    - fid8 (Inception) equals an Inception-only evaluation's exactly: adding an extractor leaves it alone."""
    import torch_fidelity
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    from ganexp.metrics.kid import kernel_inception_distance

    model, path = vits14
    real, gen = cifar16[:8], torch.cat([cifar16[8:12], images(4, 32, seed=5)])
    extractors = {"fid": ["inception", "dinov2s"], "kid": ["dinov2s"], "prc": ["dinov2s"]}
    cfg = base_cfg(tmp_path, names=["fid", "kid", "prc"], kid_subset_size=6, kid_subsets=10,
                   extractors=extractors, dinov2_weights=str(path))
    ev = Evaluator(cfg, ArrayDataset(real, name="cifar-slice"))
    scores = ev.evaluate(Sampler(gen), "cpu")
    assert set(scores) == {"fid8", "fid8_dinov2s", "kid8_dinov2s", "kid8_dinov2s_std", "precision8_dinov2s",
                           "recall8_dinov2s", "density8_dinov2s", "coverage8_dinov2s"}
    assert ev.features.images_seen == 16 and ev.features.extra[0].images_seen == 16  # one pass each, real + gen

    calls = patch_hub(monkeypatch, model, "dinov2_vits14")
    ref = torch_fidelity.calculate_metrics(
        input1=RGBDataset(gen), input2=RGBDataset(real), cuda=False, verbose=False, cache=False, batch_size=8,
        save_cpu_ram=True, fid=True, kid=True, prc=True, kid_subset_size=6, kid_subsets=10,
        feature_extractor="dinov2-vit-s-14")
    assert calls  # its features came from the patched hub
    theirs_real = fidelity_features(monkeypatch, model, "dinov2s", real)
    theirs_gen = fidelity_features(monkeypatch, model, "dinov2s", gen)
    torch.testing.assert_close(ev.real_features("dinov2s"), theirs_real, rtol=1e-5, atol=1e-5)

    assert scores["fid8_dinov2s"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-5)
    (m1, s1), (m2, s2) = feature_stats(theirs_real), feature_stats(theirs_gen)
    same = fid_statistics_to_metric({"mu": m1.numpy(), "sigma": s1.numpy()}, {"mu": m2.numpy(), "sigma": s2.numpy()},
                                    False)["frechet_inception_distance"]
    assert frechet_distance(m1, s1, m2, s2, rows2=theirs_gen) == pytest.approx(same, rel=1e-6)
    assert scores["kid8_dinov2s"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=2e-5)
    assert scores["kid8_dinov2s_std"] == pytest.approx(ref["kernel_inception_distance_std"], rel=2e-4)
    same_kid = kid_features_to_metric(theirs_gen.double(), theirs_real.double(), kid_subsets=10, kid_subset_size=6,
                                      **KID_KW)
    ours_same = kernel_inception_distance(theirs_gen.double(), theirs_real.double(), subsets=10, subset_size=6)
    assert ours_same[0] == pytest.approx(same_kid["kernel_inception_distance_mean"], rel=1e-9)
    assert scores["precision8_dinov2s"] == pytest.approx(ref["precision"], rel=1e-6)
    assert scores["recall8_dinov2s"] == pytest.approx(ref["recall"], rel=1e-6)
    assert scores["fid8_dinov2s"] > 0 and scores["kid8_dinov2s"] > scores["kid8_dinov2s_std"] > 0

    info = ev.info
    assert info["metrics"]["fid"]["extractor"] == ["inception", "dinov2s"]
    assert info["metrics"]["kid"]["extractor"] == "dinov2s"
    assert info["extractors"]["dinov2s"]["id"] == "torch-fidelity/dinov2-vit-s-14/lvd142m/cls"
    assert info["extractors"]["dinov2s"]["weights_path"] == str(path)
    files = sorted(p.name for p in (tmp_path / "real_features").glob("*.npz"))
    assert len(files) == 1 and "dinov2-vit-s-14" in files[0], files  # FD's real side: from the cached rows

    inception_only = Evaluator(base_cfg(tmp_path, names=["fid"]), ArrayDataset(real, name="cifar-slice"))
    assert inception_only.evaluate(Sampler(gen), "cpu") == {"fid8": scores["fid8"]}


# ---------------------------------------------------------------- weights, keys, settings


def test_missing_dinov2_weights_are_one_sentence(tmp_path, monkeypatch):
    """Offline with an empty cache: one sentence that says which file to put where or which key to set."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    cfg = base_cfg(tmp_path, names=["fid"], extractors={"fid": ["dinov2"]})
    with pytest.raises(weights.WeightsError) as err:
        Evaluator(cfg, None)
    assert str(err.value) == (
        f"No DINOv2 ViT-L/14 weights in {tmp_path / 'dinov2'} and downloads are disabled; put Meta's "
        "dinov2_vitl14_pretrain.pth there, set metrics.dinov2_weights=PATH, or drop it from metrics.extractors.")
    with pytest.raises(weights.WeightsError) as err:
        Evaluator({**cfg, "dinov2_weights": str(tmp_path / "nothing.pth")}, None)
    assert str(err.value) == (f"DINOv2 weights file {tmp_path / 'nothing.pth'} does not exist; put Meta's "
                              "dinov2_vitl14_pretrain.pth there or fix metrics.dinov2_weights.")


def test_weights_are_found_in_a_folder_the_cache_and_torch_hubs_checkpoints(tmp_path, monkeypatch):
    """Resolution order: metrics.dinov2_weights (a file, or a folder holding Meta's file names), the cache,
    torch hub's checkpoints (where torch-fidelity's download left it). Nothing is loaded until features are."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / "dinov2_vitl14_pretrain.pth").write_bytes(b"L")
    cfg = base_cfg(tmp_path, names=["fid"], extractors={"fid": ["inception", "dinov2"]})
    assert Evaluator(cfg, None)._weights_paths == {"dinov2": hub / "checkpoints" / "dinov2_vitl14_pretrain.pth"}
    (tmp_path / "dinov2").mkdir()
    (tmp_path / "dinov2" / "dinov2_vitl14_pretrain.pth").write_bytes(b"L")
    assert Evaluator(cfg, None)._weights_paths == {"dinov2": tmp_path / "dinov2" / "dinov2_vitl14_pretrain.pth"}
    folder = tmp_path / "mine"
    folder.mkdir()
    for v in ("dinov2_vitl14", "dinov2_vits14"):
        (folder / f"{v}_pretrain.pth").write_bytes(b"x")
    ev = Evaluator({**cfg, "extractors": {"fid": ["dinov2", "dinov2s"]}, "dinov2_weights": str(folder)}, None)
    assert ev._weights_paths == {"dinov2": folder / "dinov2_vitl14_pretrain.pth",
                                 "dinov2s": folder / "dinov2_vits14_pretrain.pth"}


def test_keys_name_the_extractor_in_the_existing_grammar(tmp_path, monkeypatch):
    """fid10k_dinov2 is FD_DINOv2; the extractor sits before the generator and the std (kid1k_dinov2_ema_std);
    Inception's keys are those of a run without DINOv2."""
    def parts(key):
        d = describe_key(key)
        return d.metric, d.samples, d.extractor, d.generator, d.is_std

    assert parts("fid10k_dinov2") == ("fid", 10000, "dinov2", "G", False)
    assert parts("kid1k_dinov2s_ema_std") == ("kid", 1000, "dinov2s", "G_ema", True)
    assert parts("precision250_dinov2b") == ("prc", 250, "dinov2b", "G", False)
    assert describe_key("fid10k_dinov2").label == "FID (Heusel et al. 2017) on DINOv2 ViT-L/14 features"
    assert describe_key("kid10k_dinov2").std_key == "kid10k_dinov2_std"
    (tmp_path / "dinov2").mkdir()
    (tmp_path / "dinov2" / "dinov2_vitl14_pretrain.pth").write_bytes(b"L")
    cfg = base_cfg(tmp_path, names=["fid", "is", "div", "kid"], extractors={"fid": ["inception", "dinov2"],
                                                                            "kid": ["dinov2"]})
    keys = Evaluator(cfg, None).keys
    assert keys["fid"] == {"inception": {"fid": "fid8"}, "dinov2": {"fid": "fid8_dinov2"}}
    assert keys["kid"] == {"dinov2": {"kid": "kid8_dinov2", "kid_std": "kid8_dinov2_std"}}
    assert keys["is"] == {"inception": {"is": "is8", "is_std": "is8_std"}}
    assert keys["div"] == {"inception": {"div": "div8"}}


def test_one_setting_says_which_extractors_each_metric_reads(tmp_path):
    """metrics.extractors replaces metrics.prc_extractor: auto is precision/recall's only; IS (Inception's logits)
    and div take none; a config of an earlier version reads as today's."""
    from ganexp.config import ConfigError
    from ganexp.metrics import config

    assert config.resolve({"prc_extractor": "inception"})["extractors"] == {
        "fid": ["inception"], "kid": ["inception"], "prc": ["inception"]}
    assert config.resolve({"extractors": {"fid": ["dinov2"]}})["extractors"]["kid"] == ["inception"]
    with pytest.raises(ConfigError, match=r"metrics.extractors.fid=\['auto'\] is not allowed: metrics.extractors.fid "
                                          "must be a list of distinct extractors out of inception, vgg16, dinov2,"):
        Evaluator(base_cfg(tmp_path, names=["fid"], extractors={"fid": ["auto"]}), None)
    with pytest.raises(ConfigError, match=r"metrics.extractors.is is not allowed: only metrics defined on any "
                                          r"features take extractors \(fid, kid, prc\); remove the entry"):
        Evaluator(base_cfg(tmp_path, names=["is"], extractors={"is": ["dinov2"]}), None)
    with pytest.raises(ConfigError, match="metrics.extractors.kid must be a list of distinct extractors out of "
                                          "inception, vgg16, dinov2, dinov2s, dinov2b"):
        config.resolve({"extractors": {"kid": ["dinov3"]}})


def test_runs_of_earlier_versions_keep_their_config_hash(compose):
    """Runs hashed with metrics.prc_extractor (before metrics.extractors and metrics.dinov2_weights) keep their
    hash; a run that adds DINOv2 is another run; where the DINOv2 file lies is not part of a run's identity."""
    from ganexp.config import to_container
    from ganexp.identity import config_hash

    new = to_container(compose([]))
    for choice, overrides in (("auto", []), ("vgg16", ["metrics.extractors.prc=[vgg16]"])):
        old = copy.deepcopy(new)
        del old["metrics"]["extractors"], old["metrics"]["dinov2_weights"]
        old["metrics"]["prc_extractor"] = choice
        assert config_hash(old) == config_hash(to_container(compose(overrides)))
    assert config_hash(to_container(compose(["metrics.extractors.prc=[vgg16]"]))) != config_hash(new)
    dino = config_hash(to_container(compose(["metrics.extractors.fid=[inception,dinov2]"])))
    assert dino != config_hash(new)
    assert config_hash(to_container(compose(["metrics.extractors.fid=[inception,dinov2]",
                                             "metrics.dinov2_weights=/w/dinov2_vitl14_pretrain.pth"]))) == dino
