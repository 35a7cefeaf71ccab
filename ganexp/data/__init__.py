"""Datasets: uint8 image tensors from torchvision, arrays, folders, or the embedded digits."""
from .sampler import EpochOrder, StreamBatcher, TensorBatcher
from .sources import ArraySet, DatasetError, Digits, FolderSet, ImageSet, TorchvisionSet


def build_dataset(name: str, root: str | None = None, **overrides):
    """The dataset named by ``conf/dataset/<name>.yaml`` (optionally with another root)."""
    from hydra.utils import instantiate

    from ganexp.config import compose

    ov = [f"dataset={name}"] + ([f"dataset.root={root}"] if root else [])
    ov += [f"dataset.{k}={v}" for k, v in overrides.items()]
    return instantiate(compose(ov).dataset)


__all__ = ["ArraySet", "DatasetError", "Digits", "FolderSet", "ImageSet", "TorchvisionSet",
           "TensorBatcher", "StreamBatcher", "EpochOrder", "build_dataset"]
