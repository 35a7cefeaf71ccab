"""Image sets for the command line: a folder of PNG/JPEG files or an .npz holding a uint8 image array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
NPZ_KEYS = ("images", "x_train", "arr_0", "x", "x_test", "data", "samples")


class ImageSourceError(ValueError):
    """The image set cannot be read; the message is one sentence for users."""


def is_image_source(path: Path) -> bool:
    """True for an .npz file or a folder that directly contains image files."""
    if path.is_file():
        return path.suffix.lower() == ".npz"
    return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())


def load_images(path: Path | str, key: str | None = None) -> torch.Tensor:
    """uint8 (N, C, H, W) tensor from a folder of images (as RGB) or an .npz array (NHWC, NCHW or NHW)."""
    path = Path(path)
    if not path.exists():
        raise ImageSourceError(f"{path} does not exist.")
    if path.is_dir():
        return _load_folder(path)
    if path.suffix.lower() == ".npz":
        return _load_npz(path, key)
    raise ImageSourceError(f"{path} is neither a folder of PNG/JPEG images nor an .npz file.")


def _load_folder(path: Path) -> torch.Tensor:
    from PIL import Image

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageSourceError(f"{path} contains no PNG/JPEG images.")
    arrays = []
    for f in files:
        try:
            with Image.open(f) as im:
                arrays.append(np.asarray(im.convert("RGB")))  # gray -> 3 equal channels, like torch-fidelity
        except OSError as e:
            raise ImageSourceError(f"{f} is not a readable image ({e}).") from e
        if arrays[-1].shape != arrays[0].shape:
            raise ImageSourceError(f"images in {path} differ in size ({files[0].name} is {arrays[0].shape[:2]}, "
                                   f"{f.name} is {arrays[-1].shape[:2]}).")
    return to_nchw(np.stack(arrays), str(path))


def _pick_npz_array(z, path: Path, key: str | None) -> np.ndarray:
    if key is not None:
        if key not in z.files:
            raise ImageSourceError(f"{path} has no array '{key}' (it has: {', '.join(z.files)}).")
        return z[key]
    image_like = [k for k in z.files if z[k].ndim in (3, 4)]
    for k in (*NPZ_KEYS, *image_like):
        if k in z.files and z[k].ndim in (3, 4):
            return z[k]
    raise ImageSourceError(f"{path} has no image array (keys: {', '.join(z.files) or 'none'}).")


def _load_npz(path: Path, key: str | None) -> torch.Tensor:
    try:
        with np.load(path, allow_pickle=False) as z:
            arr = _pick_npz_array(z, path, key)
    except (OSError, ValueError) as e:
        if isinstance(e, ImageSourceError):
            raise
        raise ImageSourceError(f"{path} is not a readable .npz file ({e}).") from e
    return to_nchw(arr, str(path))


def to_nchw(arr: np.ndarray, name: str = "array") -> torch.Tensor:
    """uint8 NHW / NHWC / NCHW array -> uint8 (N, C, H, W) tensor (C = 1 or 3)."""
    if arr.dtype != np.uint8:
        raise ImageSourceError(f"{name} holds {arr.dtype} values; uint8 images (0-255) are expected.")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim != 4:
        raise ImageSourceError(f"{name} has shape {arr.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W).")
    elif arr.shape[1] not in (1, 3) and arr.shape[3] in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.shape[1] not in (1, 3):
        raise ImageSourceError(f"{name} has shape {arr.shape}; images need 1 or 3 channels.")
    if arr.shape[0] < 2:
        raise ImageSourceError(f"{name} holds {arr.shape[0]} image(s); FID needs at least 2.")
    return torch.from_numpy(np.ascontiguousarray(arr))
