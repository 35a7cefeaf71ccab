"""Device-resident batches: the whole set is one uint8 tensor; batches are indexed on the device."""
from __future__ import annotations

import torch


class TensorBatcher:
    """Shuffled epochs over a uint8 (N, C, H, W) tensor, returning float batches in [-1, 1].

    The permutation is drawn with its own generator (seeded), so the data order is reproducible and
    its state is saved in checkpoints.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int = 0):
        self.images, self.batch_size = images, int(batch_size)
        if self.batch_size > images.shape[0]:
            raise ValueError(f"batch_size {batch_size} exceeds the dataset's {images.shape[0]} images")
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.perm = torch.empty(0, dtype=torch.long, device=images.device)
        self.pos = 0

    def to(self, device) -> "TensorBatcher":
        self.images = self.images.to(device)
        self.perm = self.perm.to(device)
        return self

    def next(self) -> torch.Tensor:
        if self.pos + self.batch_size > self.perm.numel():  # drop the last incomplete batch
            self.perm = torch.randperm(self.images.shape[0], generator=self.gen).to(self.images.device)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.images.index_select(0, idx).float().div_(127.5).sub_(1.0)  # (B, C, H, W) in [-1, 1]

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm.cpu(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.perm = state["perm"].to(self.images.device)
        self.pos = int(state["pos"])
