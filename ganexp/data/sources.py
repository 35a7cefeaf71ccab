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
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


class DatasetError(RuntimeError):
    """A dataset problem the user can fix; the message says how."""


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
    """A folder of PNG/JPEG images (all used for every split), center-cropped and resized.
    CelebA: ``root``/img_align_celeba, crop 178 (the full 178-pixel width) then resize."""

    def __init__(self, name: str, resolution: int, channels: int, root: str | None = None,
                 folder: str = "", crop: int | None = None, cache_dir: str | None = None, **kw):
        super().__init__(name, resolution, channels, root)
        self.folder = Path(os.path.expanduser(str(folder))) if folder else None
        if self.folder is not None and not self.folder.is_absolute() and self.root is not None:
            self.folder = self.root / self.folder
        self.crop = crop
        self.cache_dir = Path(os.path.expanduser(cache_dir)) if cache_dir else None
        self.preprocessing = f"folder crop{crop} resize{resolution}"

    def _files(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            raise DatasetError(f"dataset '{self.name}': image folder {self.folder} does not exist; put the images "
                               f"there or set dataset.root=PATH (the folder that holds {self.folder.name if self.folder else 'it'})")
        files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not files:
            raise DatasetError(f"dataset '{self.name}': no PNG/JPEG images in {self.folder}")
        return files

    def _cache_key(self, files: list[Path]) -> str:
        """Folder, settings and every file's (name, size, mtime_ns): an image added, removed or rewritten in
        place gives a new key (unless a copy keeps both size and mtime, e.g. `cp -p`). One stat() per file
        and no reading, so checking costs far less than decoding (CelebA: 202,599 stats)."""
        h = hashlib.sha1(f"{self.folder}|{self.preprocessing}|{self.channels}|{len(files)}".encode())
        for p in files:
            st = p.stat()
            h.update(f"\n{p.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]

    def _load(self, split: str) -> torch.Tensor:
        files = self._files()
        cached = self.cache_dir / f"{self.name}-{self._cache_key(files)}.npy" if self.cache_dir else None
        if cached is not None and cached.is_file():
            return torch.from_numpy(np.load(cached))
        x = torch.stack([self._read(p) for p in files])
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".tmp{os.getpid()}.npy")
            np.save(tmp, x.numpy())
            os.replace(tmp, cached)
        return x

    def _read(self, path: Path) -> torch.Tensor:
        from PIL import Image

        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB" if self.channels == 3 else "L"))
        except OSError as err:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            raise DatasetError(f"dataset '{self.name}': {path} is not a readable image ({type(err).__name__}); "
                               f"remove or replace it") from None
        x = to_nchw(arr[None] if arr.ndim == 3 else arr[None, ..., None])
        if self.crop:
            x = center_crop(x, min(self.crop, *x.shape[-2:]))
        else:
            x = center_crop(x, min(x.shape[-2:]))
        return resize_uint8(x, self.resolution)[0]


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
