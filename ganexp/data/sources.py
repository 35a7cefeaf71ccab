"""Image sets as uint8 tensors (N, C, H, W) at the training resolution.

Every set has ``name``, ``resolution``, ``channels``, ``preprocessing`` (a string that is part of the
FID statistics cache key) and ``images(split)``. Sets that fit in memory are loaded whole; training
keeps them as one tensor on the device.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..cachefiles import default_cache_dir
from ..errors import DatasetError
from . import decoded


class ImageSet:
    preprocessing = "none"

    def __init__(self, name: str, resolution: int, channels: int, root: str | None = None, **_):
        self.name, self.resolution, self.channels = name, int(resolution), int(channels)
        self.root = Path(os.path.expanduser(str(root))) if root else None
        self._cache: dict[str, torch.Tensor] = {}

    def images(self, split: str = "train") -> torch.Tensor:
        """uint8 (N, C, H, W) for ``split`` ('train' or 'test'), loaded once."""
        if split not in self._cache:
            x = self._load(split)
            if x.dtype != torch.uint8 or x.shape[1:] != (self.channels, self.resolution, self.resolution):
                raise DatasetError(f"{self.name}: loaded images have shape {tuple(x.shape)} {x.dtype}; expected "
                                   f"(N, {self.channels}, {self.resolution}, {self.resolution}) uint8")
            self._cache[split] = x
        return self._cache[split]

    def _load(self, split: str) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def resize_uint8(x: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bilinear resize of uint8 (N, C, H, W) to (N, C, size, size)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    y = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8)


def center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top:top + crop, left:left + crop]


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and x.shape[1] == 3:  # ITU-R 601 luma
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise DatasetError(f"cannot convert {x.shape[1]} channels to {channels}")


class Digits(ImageSet):
    """scikit-learn's embedded handwritten digits (1797 8x8 images, 17 gray levels), upsampled.

    Ships inside scikit-learn, so it needs no download: the default set for demos and tests. There is
    no official split: 'test' is the last 297 images, 'train' the first 1500.
    """

    preprocessing = "sklearn-digits x16 bilinear-antialias"

    def _load(self, split: str) -> torch.Tensor:
        from sklearn.datasets import load_digits

        x = torch.from_numpy(load_digits().images).float()[:, None]  # (1797, 1, 8, 8) in 0..16
        x = (x * (255.0 / 16.0)).round().to(torch.uint8)
        x = x[:1500] if split == "train" else x[1500:]
        return to_channels(resize_uint8(x, self.resolution), self.channels)


class TorchvisionSet(ImageSet):
    """MNIST, FashionMNIST or CIFAR10 through torchvision (its folder layout under ``root``)."""

    def __init__(self, name: str, resolution: int, channels: int, root: str | None = None,
                 tv_class: str = "MNIST", download: bool = True, **kw):
        super().__init__(name, resolution, channels, root)
        self.tv_class, self.download = tv_class, download
        self.preprocessing = f"torchvision-{tv_class} resize{resolution}"

    def _load(self, split: str) -> torch.Tensor:
        import torchvision

        cls = getattr(torchvision.datasets, self.tv_class)
        root = Path(self.root or "data")
        self._verify(root)
        try:
            ds = cls(root=str(root), train=(split == "train"), download=False)
        except RuntimeError:
            ds = self._download(cls, root, split)
        data = ds.data if isinstance(ds.data, torch.Tensor) else torch.from_numpy(np.asarray(ds.data))
        x = data[:, None] if data.dim() == 3 else data.permute(0, 3, 1, 2)  # (N, C, H, W)
        return to_channels(resize_uint8(x.contiguous(), self.resolution), self.channels)

    def _verify(self, root: Path) -> None:
        """md5 of the extracted IDX files (torchvision itself only checks that they exist)."""
        for fname, md5 in RAW_MD5.get(self.tv_class, {}).items():
            path = root / self.tv_class / "raw" / fname
            if path.is_file() and file_md5(path) != md5:
                raise DatasetError(f"dataset '{self.name}': {path} is corrupted (md5 differs); delete it and "
                                   f"copy or download a fresh {self.tv_class} into {root}")

    def _download(self, cls, root: Path, split: str):
        hint = (f"dataset '{self.name}' is not under {root.resolve()} and could not be downloaded; put "
                f"torchvision's {self.tv_class}/ folder there or set dataset.root=PATH to a folder that holds it "
                f"(e.g. dataset.root=../shared/assets/datasets)")
        if not self.download:
            raise DatasetError(hint)
        folder = root / self.tv_class
        existed = folder.exists()
        try:
            return cls(root=str(root), train=(split == "train"), download=True)
        except Exception:  # offline: URLError, HTTPError, md5 mismatch of partial files
            if not existed and folder.exists() and not any(p.is_file() for p in folder.rglob("*")):
                shutil.rmtree(folder)  # leave nothing behind from the failed attempt
            raise DatasetError(hint) from None


# md5 of torchvision's extracted raw files (MNIST: ../shared/assets README; Fashion-MNIST: the official .gz,
# decompressed).
RAW_MD5 = {
    "MNIST": {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
              "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
              "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
              "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
    "FashionMNIST": {"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                     "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                     "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                     "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
}


class ArraySet(ImageSet):
    """Images from an .npz file: keys ``x_train``/``x_test`` (or one array for both splits),
    NHWC or NCHW uint8. Also used for the CIFAR-10 subset in ../shared/assets."""

    def __init__(self, name: str, resolution: int, channels: int, root: str | None = None,
                 path: str | None = None, md5: str | None = None, **kw):
        super().__init__(name, resolution, channels, root)
        self.path = Path(os.path.expanduser(str(path))) if path else None
        self.md5 = md5
        self.preprocessing = f"npz resize{resolution}"

    def _load(self, split: str) -> torch.Tensor:
        path = self.path
        if path is None or not path.is_file():
            raise DatasetError(f"dataset '{self.name}': no file at {path}; set dataset.path=FILE.npz "
                               f"(arrays x_train / x_test of uint8 images)")
        if self.md5 and file_md5(path) != self.md5:
            raise DatasetError(f"dataset '{self.name}': {path} is corrupted (md5 differs from {self.md5}); "
                               f"replace it with a fresh copy")
        arr = self._array(path, split)
        if arr.dtype != np.uint8:
            raise DatasetError(f"dataset '{self.name}': {path} holds {arr.dtype} images; save them as uint8 (0-255)")
        return to_channels(resize_uint8(to_nchw(arr), self.resolution), self.channels)

    def _array(self, path: Path, split: str) -> np.ndarray:
        """``x_<split>``, else the first array shaped like images (N, H, W[, C])."""
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = [f"x_{split}"] if f"x_{split}" in z.files else [k for k in z.files if z[k].ndim in (3, 4)]
                if not keys:
                    raise DatasetError(f"dataset '{self.name}': {path} has no image array (it has "
                                       f"{', '.join(z.files) or 'none'}); store the images as x_train / x_test")
                return z[keys[0]]
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise DatasetError(f"dataset '{self.name}': {path} is not a readable .npz file "
                               f"({type(err).__name__}); replace it with a fresh copy") from None


class FolderSet(ImageSet):
    """A folder (or a zip) of PNG/JPEG images, all used for every split, center-cropped and resized.

    ``folder`` is looked up as given (relative to ``root``), then as ``<folder>.zip``, then by its last
    part directly under ``root`` (folder or zip): CelebA's ``img_align_celeba/`` or the official
    ``img_align_celeba.zip`` (read without unpacking), under ``root/celeba/`` or ``root/``. Decoded once
    into the on-disk cache (``decoded.py``) under ``cache_dir``, using ``decode_workers`` processes (null:
    every core); ``images()`` then maps that file instead of holding a copy. When nothing is found and
    ``download`` is true, torchvision's ``tv_class`` (``CelebA``) fetches the set into ``root`` (connected
    machines)."""

    def __init__(self, name: str, resolution: int, channels: int, root: str | None = None,
                 folder: str = "", crop: int | None = None, cache_dir: str | None = None,
                 decode_workers: int | None = None, download: bool = False, tv_class: str | None = None, **kw):
        super().__init__(name, resolution, channels, root)
        self.folder = Path(os.path.expanduser(str(folder))) if folder else None
        if self.folder is not None and not self.folder.is_absolute() and self.root is not None:
            self.folder = self.root / self.folder
        self.crop = crop
        self.cache_dir = Path(os.path.expanduser(cache_dir)) if cache_dir else None
        self.decode_workers = decode_workers
        self.download, self.tv_class = download and tv_class, tv_class
        self.preprocessing = f"folder crop{crop} resize{resolution}"
        self.content_sha256: str | None = None  # of the decoded array, from the cache's sidecar

    def candidates(self) -> list[Path]:
        """Where the images may be, in lookup order."""
        if self.folder is None:
            return []
        found = [self.folder, self.folder.with_name(self.folder.name + ".zip")]
        if self.root is not None:
            found += [self.root / self.folder.name, self.root / (self.folder.name + ".zip")]
        return list(dict.fromkeys(found))

    def source(self) -> Path:
        for path in self.candidates():
            if path.is_dir() or (path.is_file() and zipfile.is_zipfile(path)):
                return path
        if self.download:
            return self._download()
        raise DatasetError(self._missing())

    def _missing(self) -> str:
        where = " or ".join(str(p) for p in self.candidates()[:2]) or "dataset.folder"
        leaf = self.folder.name if self.folder else "the image folder"
        return (f"dataset '{self.name}': no images at {where}; put the folder {leaf}/ (or {leaf}.zip) there, "
                f"or set dataset.root=PATH to the folder that holds it")

    def _download(self) -> Path:
        """torchvision's download into ``root`` (connected machines); one sentence when it fails."""
        import socket

        import torchvision

        root, old = self.root or Path("data"), socket.getdefaulttimeout()
        socket.setdefaulttimeout(15)
        try:
            getattr(torchvision.datasets, self.tv_class)(root=str(root), split="all", target_type=[], download=True)
        except Exception:  # offline, quota, missing gdown: the user places the files by hand
            raise DatasetError(self._missing() + f" (torchvision's {self.tv_class} download failed)") from None
        finally:
            socket.setdefaulttimeout(old)
        self.download = False  # once: a download that leaves nothing where we look ends in _missing()
        return self.source()

    def members(self) -> "decoded.Members":
        source = self.source()
        try:
            members = decoded.list_members(source)
        except zipfile.BadZipFile:
            raise DatasetError(f"dataset '{self.name}': {source} is not a readable zip file; replace it") from None
        if not len(members):
            raise DatasetError(f"dataset '{self.name}': no PNG/JPEG images in {source}")
        return members

    def cache_key(self, members: "decoded.Members") -> dict:
        """Everything the decoded array depends on: source identity, resolution, channels, preprocessing."""
        return {"source": members.fingerprint(), "n": len(members), "resolution": self.resolution,
                "channels": self.channels, "preprocessing": self.preprocessing}

    def _load(self, split: str) -> torch.Tensor:
        members = self.members()
        decode = Decoder(self.name, self.channels, self.crop, self.resolution)
        cache_dir = self.cache_dir or default_cache_dir() / "data"
        key = self.cache_key(members)  # one stat() per file: once
        npy, meta = decoded.paths_for(cache_dir, self.name, key)
        found = decoded.open_cached(npy, meta, key)
        if found is None:
            workers = self.decode_workers or decoded.default_workers()
            found = decoded.build_cached(members, npy, meta, key,
                                         (self.channels, self.resolution, self.resolution), decode,
                                         min(workers, max(1, len(members) // decoded.CHUNK)), self.name)
        x, self.content_sha256 = found
        return x


@dataclass(frozen=True)
class Decoder:
    """One image file's bytes -> uint8 (C, res, res): decode, center crop (``crop``, else the largest
    centered square), antialiased bilinear resize. Picklable, for the decoding processes."""

    name: str
    channels: int
    crop: int | None
    resolution: int

    def __call__(self, data: bytes, where: str) -> np.ndarray:
        try:
            arr = decoded.read_image(data, "RGB" if self.channels == 3 else "L")
        except OSError as err:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            raise DatasetError(f"dataset '{self.name}': {where} is not a readable image ({type(err).__name__}); "
                               f"remove or replace it") from None
        x = to_nchw(arr[None] if arr.ndim == 3 else arr[None, ..., None])
        x = center_crop(x, min(self.crop, *x.shape[-2:]) if self.crop else min(x.shape[-2:]))
        return resize_uint8(x, self.resolution)[0].numpy()


def to_nchw(arr: np.ndarray) -> torch.Tensor:
    """uint8 array (N, H, W), (N, H, W, C) or (N, C, H, W) -> tensor (N, C, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(arr))
    if x.dtype != torch.uint8:
        raise DatasetError(f"expected uint8 images, got {x.dtype}")
    if x.dim() == 3:
        return x[:, None]
    if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        return x.permute(0, 3, 1, 2).contiguous()
    return x


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
