"""DINOv2 ViT features (Oquab et al. 2023, "DINOv2: Learning Robust Visual Features without Supervision"), as
torch-fidelity 0.4's FeatureExtractorDinoV2 computes them for FD_DINOv2 (Stein et al., NeurIPS 2023, "Exposing
flaws of generative model evaluation metrics"; EDM2's fd_dinov2 uses the same network and CLS token).

torch-fidelity loads Meta's model through torch.hub (code from GitHub, weights from Meta's server) and refuses a
weights file. ganexp builds the same ViT with timm (PyPI) and loads Meta's released file itself
(`dinov2_vitl14_pretrain.pth`, the file torch.hub downloads), so a machine without GitHub scores it from a path or
the cache. Meta's model is built for 518x518 (a 37x37 grid of position embeddings) and resamples them at every
forward pass to the input's grid; at torch-fidelity's fixed 224x224 input that is one 16x16 grid, so it is
resampled once at load time, with Meta's own operation (`meta_pos_embed`). The features then equal Meta's model's
(tests/test_dinov2.py runs torch-fidelity's pipeline on Meta's code with the same seeded random weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from ganexp.metrics.extractor import full_fp32, to_rgb
from ganexp.metrics.weights import WeightsError

INPUT_SIZE = 224  # torch-fidelity's FeatureExtractorDinoV2.INPUT_IMAGE_SIZE
PATCH = 14
GRID = INPUT_SIZE // PATCH  # 16 patches a side at 224x224
INTERPOLATE_OFFSET = 0.1  # Meta's hub models (interpolate_offset=0.1, interpolate_antialias=False)
# ImageNet mean and std on the 0-255 scale, as torch-fidelity normalises uint8 values cast to float
MEAN = (255 * 0.485, 255 * 0.456, 255 * 0.406)
STD = (255 * 0.229, 255 * 0.224, 255 * 0.225)


@dataclass(frozen=True)
class Variant:
    """One DINOv2 backbone: its name in keys and metrics.extractors, Meta's hub name, timm's architecture."""

    name: str  # dinov2 (ViT-L/14, FD_DINOv2's), dinov2s, dinov2b
    fidelity: str  # torch-fidelity's name of the same features: dinov2-vit-l-14
    hub: str  # Meta's hub entry point and file stem: dinov2_vitl14 -> dinov2_vitl14_pretrain.pth
    timm: str  # timm's architecture with the same layers
    dim: int  # CLS token width
    depth: int
    label: str

    @property
    def file_name(self) -> str:
        return f"{self.hub}_pretrain.pth"

    @property
    def url(self) -> str:
        """Meta's release URL: where torch.hub (torch-fidelity, EDM2) downloads the same file from."""
        return f"https://dl.fbaipublicfiles.com/dinov2/{self.hub}/{self.file_name}"

    @property
    def extractor_id(self) -> str:
        """The features' definition, for the real-feature cache and metric_info: torch-fidelity's name of
        them, the training set of Meta's weights and the output (CLS token after the final LayerNorm)."""
        return f"torch-fidelity/{self.fidelity}/lvd142m/cls"


# ViT-g/14 (SwiGLU, 1.1 B parameters) is left out: not tested here.
VARIANTS = {v.name: v for v in (
    Variant("dinov2s", "dinov2-vit-s-14", "dinov2_vits14", "vit_small_patch14_dinov2", 384, 12, "DINOv2 ViT-S/14"),
    Variant("dinov2b", "dinov2-vit-b-14", "dinov2_vitb14", "vit_base_patch14_dinov2", 768, 12, "DINOv2 ViT-B/14"),
    Variant("dinov2", "dinov2-vit-l-14", "dinov2_vitl14", "vit_large_patch14_dinov2", 1024, 24, "DINOv2 ViT-L/14"),
)}


def meta_pos_embed(pos_embed: torch.Tensor, grid: int = GRID) -> torch.Tensor:
    """(1, 1 + M*M, D) position embeddings -> (1, 1 + grid*grid, D) as Meta's
    DinoVisionTransformer.interpolate_pos_encoding resamples them: bicubic, scale factor (grid + 0.1) / M, no
    antialiasing (timm's own resampling antialiases, which gives other features)."""
    cls, patch = pos_embed[:, :1], pos_embed[:, 1:].float()
    m, dim = math.isqrt(patch.shape[1]), patch.shape[2]
    if m * m != patch.shape[1]:
        raise ValueError(f"position embeddings of {patch.shape[1]} patches are not a square grid")
    scale = (grid + INTERPOLATE_OFFSET) / m
    out = torch.nn.functional.interpolate(patch.reshape(1, m, m, dim).permute(0, 3, 1, 2), mode="bicubic",
                                          scale_factor=(scale, scale), antialias=False)  # (1, D, grid, grid)
    return torch.cat([cls, out.permute(0, 2, 3, 1).reshape(1, grid * grid, dim).to(pos_embed.dtype)], dim=1)


def timm_state(meta: dict[str, torch.Tensor], variant: Variant, path: Path) -> dict[str, torch.Tensor]:
    """Meta's state dict -> timm's VisionTransformer at 224x224: the same tensor names, without the mask token
    (used in training only), the position embeddings resampled to the 16x16 grid. WeightsError (one sentence)
    when the file is not this variant's."""
    what = f"{path} is not {variant.label}'s state dict (Meta's {variant.file_name})"
    if not isinstance(meta, dict) or "pos_embed" not in meta or f"blocks.{variant.depth - 1}.ls2.gamma" not in meta:
        raise WeightsError(f"{what}: it lacks pos_embed or block {variant.depth - 1}; fix metrics.dinov2_weights.")
    if meta["pos_embed"].shape[-1] != variant.dim or f"blocks.{variant.depth}.norm1.weight" in meta:
        raise WeightsError(f"{what}: its width or depth is another variant's; fix metrics.dinov2_weights.")
    state = {k: v for k, v in meta.items() if k != "mask_token"}
    state["pos_embed"] = meta_pos_embed(meta["pos_embed"])
    return state


def load_model(variant: Variant, path: Path) -> torch.nn.Module:
    """timm's ViT of `variant` at 224x224 without a head (forward -> CLS token after the final norm, (N, D)),
    with the weights of Meta's file at `path`; eval mode, no gradients."""
    try:
        import timm
    except ImportError as e:
        raise WeightsError("DINOv2 features need timm; install it with pip install 'timm>=1.0'.") from e
    try:
        meta = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling/zip error means "not a weights file"
        raise WeightsError(f"{path} is not a readable PyTorch state dict ({type(e).__name__}); "
                           "fix metrics.dinov2_weights or delete the file to fetch it again.") from e
    state = timm_state(meta, variant, path)
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        model = timm.create_model(variant.timm, pretrained=False, img_size=INPUT_SIZE, num_classes=0)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float32 (N, 3, 224, 224), torch-fidelity 0.4's steps: cast, bilinear resize with
    its TF1-compatible interpolation (align_corners=False, no antialiasing; upsamples 32x32 images), then ImageNet
    mean and std on the 0-255 scale."""
    x = interpolate_bilinear_2d_like_tensorflow1x(images.to(torch.float32), size=(INPUT_SIZE, INPUT_SIZE),
                                                  align_corners=False)
    return torchvision.transforms.functional.normalize(x, MEAN, STD, inplace=False)


class DINOv2Features:
    """DINOv2 CLS-token features (N, D) of uint8 images, torch-fidelity 0.4's dinov2-vit-*-14 pipeline on timm's
    ViT with Meta's weights (module docstring); fed the same batches as Inception (InceptionFeatures.extra)."""

    def __init__(self, variant: Variant, weights_path: Path | str, tf32: bool = False):
        self.variant, self.weights_path, self.tf32 = variant, Path(weights_path), tf32
        self.name = f"{variant.name}.cls"  # its key in a features dict
        self._module: torch.nn.Module | None = None
        self.images_seen = 0

    @property
    def module(self) -> torch.nn.Module:
        if self._module is None:
            self._module = load_model(self.variant, self.weights_path)
        return self._module

    def to(self, device: torch.device) -> "DINOv2Features":
        if next(self.module.parameters()).device != device:
            self.module.to(device)
        return self

    @torch.no_grad()
    def batch(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 1|3, H, W) -> (N, D) float32."""
        if images.dtype != torch.uint8:
            raise TypeError(f"expected uint8 images, got {images.dtype}")
        with full_fp32(not self.tf32):
            out = self.module(preprocess(to_rgb(images)))
        self.images_seen += images.shape[0]
        return out.to(torch.float32)

    def from_uint8(self, images: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
        self.to(device)
        return torch.cat([self.batch(b.to(device)) for b in images.split(batch_size)])
