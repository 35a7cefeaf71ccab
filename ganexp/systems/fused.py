"""Fused arrays: S runs of the ``gan`` system that differ only in seed (and learning rates), trained as one
model.

The members' networks are fused (ganexp/nets/fused.py, HFTA: Wang et al., MLSys 2021): every kernel
serves all members, batch norm keeps each member's running statistics. Tensors carry the members on
dim 1: real and fake images (B, S, C, H, W), codes (B, S, z_dim), D outputs (B, S), losses (S,).
Each member i is exactly the separate run with its seed, to float tolerance:

* it is built as that run builds it (``seed_everything(seed_i)``, then the system), and every random
  number it draws afterwards (codes, WGAN-GP's and DRAGAN's penalty points) comes from its own
  generator, started from the global RNG state its separate run would have had at that moment, in the
  same order (``MemberRandom``);
* its real batches come from its own ``EpochOrder`` seeded like the separate run's;
* the losses average per member and the backward pass takes the sum over members: the members'
  parameters are disjoint, so each gets its own loss's gradient; Adam/RMSprop are elementwise (with
  per-member learning rates, ``member_lr``'s);
* its checkpoint (``member_checkpoint``) has the format of a separate run's last.ckpt, so either can
  resume the other.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..data.sampler import TensorBatcher, to_float
from ..losses.base import GlobalRandom
from ..nets.fused import MemberLayout, fuse, fused_state, member_state
from .base import GANSystem, sample_latent
from .gan import GANPair
from .member_lr import member_lr_optimizer


class MemberRandom(GlobalRandom):
    """The members' random numbers: member i's from generators[i], stacked on dim 1."""

    lead = 2  # (B, S)

    def __init__(self, generators: list[torch.Generator]):
        self.generators = generators

    def rand(self, x: Tensor, sample_shape: tuple) -> Tensor:
        return torch.stack([torch.rand((x.shape[0], *sample_shape), generator=g, device=x.device, dtype=x.dtype)
                            for g in self.generators], 1)

    def over_batch(self, x: Tensor, fn, keepdim: bool = False) -> Tensor:
        """Each member's own reduction, on its contiguous batch as in its separate run (a reduction over
        dims (0, 2, ...) sums in another order and differs in the last bits); (S,) or (1, S, 1, ...)."""
        out = torch.stack([fn(x[:, i].contiguous()) for i in range(x.shape[1])])
        return out.view(1, -1, *([1] * (x.dim() - 2))) if keepdim else out


class MemberBatcher:
    """The members' real batches (B, S, C, H, W): one uint8 set on the device, one order per member."""

    def __init__(self, images: Tensor, batch_size: int, seeds: list[int]):
        self.members = [TensorBatcher(images, batch_size, seed) for seed in seeds]

    def to(self, device) -> "MemberBatcher":
        images = self.members[0].images.to(device)
        for b in self.members:
            b.images = images  # shared, not copied per member
        return self

    def next(self) -> Tensor:
        """One gather for all members: (S*B,) indices -> (S, B, C, H, W) -> (B, S, C, H, W)."""
        images = self.members[0].images
        batch = to_float(images.index_select(0, torch.cat([b.next_indices() for b in self.members])))
        return batch.view(len(self.members), -1, *images.shape[1:]).transpose(0, 1)

    def state_dict(self) -> list[dict]:
        return [b.state_dict() for b in self.members]

    def load_state_dict(self, states: list[dict]) -> None:
        for b, s in zip(self.members, states, strict=True):
            b.load_state_dict(s)

    def close(self) -> None:
        pass


class FusedGANPair(GANPair):
    """S ``GANPair`` members as one system; ``train_step`` is GANPair's, on member-stacked tensors."""

    def __init__(self, members: list[GANPair], rng_states: list[dict], batcher: MemberBatcher):
        ctx = members[0].ctx
        GANSystem.__init__(self, type(ctx)(**{**vars(ctx), "batcher": batcher}))
        self.s = len(members)
        self.players["G"] = fuse([m.G for m in members])
        self.players["D"] = fuse([m.D for m in members])
        self._layout = {k: MemberLayout(self.players[k], self.s) for k in ("G", "D")}  # not submodules
        self.attach_average()  # G_ema of the fused G: each member's average, elementwise
        self.loss.load_state_dict(stack_states([m.loss.state_dict() for m in members]))
        self.rng_states = rng_states  # per member {"cpu": ByteTensor, "cuda": [ByteTensor, ...]}
        self.generators: list[torch.Generator] = []
        self._saved: tuple[int, dict] | None = None  # (step, checkpoint_state()) shared by the members' saves
        # per optimizer (G's, D's): each member's learning rate (launch.fuse=hparams lets them differ)
        self.member_lrs = [[m.ctx.optim[key] for m in members] for key in ("lr_g", "lr_d")]
        others = [{k: v for k, v in m.ctx.optim.items() if k not in ("lr_g", "lr_d")} for m in members]
        if any(o != others[0] for o in others):
            raise ValueError("fused members may differ in optim.lr_g and optim.lr_d only")

    @property
    def G(self):
        return self._layout["G"]

    @property
    def D(self):
        return self._layout["D"]

    def build_optimizers(self):
        """GANPair's optimizers, or, where members' learning rates differ, ``member_lr``'s per-member ones."""
        if all(len(set(lrs)) == 1 for lrs in self.member_lrs):
            return super().build_optimizers()
        o = self.ctx.optim
        return [member_lr_optimizer(net.parameters(), o["name"], lrs, o.get("betas"))
                for net, lrs in zip((self.G, self.D), self.member_lrs, strict=True)]

    def on_fit_start(self) -> None:
        super().on_fit_start()
        self.generators = [member_generator(state, self.device) for state in self.rng_states]
        self.loss.random = MemberRandom(self.generators)

    def sample_z(self, n: int) -> Tensor:
        """(n, S, z_dim): member i's codes from its own generator."""
        return torch.stack([sample_latent(n, self.z_dim, self.latent, self.device, g) for g in self.generators], 1)

    def update(self, loss: Tensor, opt) -> None:
        super().update(loss.sum(), opt)  # loss: (S,); disjoint parameters, so each gets its own gradient

    def pop_logs(self) -> list[dict]:
        """Each member's means since the last call (one host sync), with the images/s each member trained."""
        keys = list(self._acc)
        sums = torch.stack([self._acc[k].float().expand(self.s) for k in keys]).T.tolist() if keys else [[]] * self.s
        logs = [self._means(keys, row) for row in sums]
        rate = self._pop_rate()
        return [{**row, "images_per_s": rate} for row in logs]

    def generate(self, z: Tensor, average: bool | None = None) -> Tensor:
        """(n, S, C, H, W) for codes (n, z_dim), the same for every member, or per member (n, S, z_dim)."""
        z = z if z.dim() == 3 else z[:, None].expand(-1, self.s, -1)
        return super().generate(z, average)

    # --- checkpoints in a separate run's format ----------------------------------------------------
    def member_checkpoint(self, i: int) -> dict:
        """Member i's training state, as a separate run's ``checkpoint_state``. The array's state is read
        once per step for all members (its partial log sums come to the host then)."""
        if self._saved is None or self._saved[0] != self.step_count:
            self._saved = (self.step_count, self.checkpoint_state())
        state = self._saved[1]
        cuda = [self.generators[i].get_state()] if self.device.type == "cuda" else self.rng_states[i]["cuda"]
        return {**state, "system": member_state(state["system"], i, self.s),
                "optimizers": [member_optimizer(o, i, self.s, lrs[i])
                               for o, lrs in zip(state["optimizers"], self.member_lrs, strict=True)],
                "extra": {"loss": {k: v.expand(self.s, *v.shape[1:])[i].clone() if v.dim() == 0 or v.shape[0] != self.s
                                  else v[i].clone() for k, v in state["extra"]["loss"].items()}},
                "batcher": state["batcher"][i], "acc": {k: v.expand(self.s)[i].clone() for k, v in state["acc"].items()},
                "rng_cpu": self.generators[i].get_state() if self.device.type == "cpu" else self.rng_states[i]["cpu"],
                "rng_cuda": cuda}

    def restore(self, states: list[dict]) -> None:
        """Members' checkpoints (all at one step) back into the array."""
        super().restore({**states[0], "system": fused_state([s["system"] for s in states]),
                         "optimizers": [fused_optimizer([s["optimizers"][j] for s in states])
                                        for j in range(len(states[0]["optimizers"]))],
                         "extra": {"loss": stack_states([s["extra"]["loss"] for s in states])},
                         "batcher": [s["batcher"] for s in states],
                         "acc": stack_states([s["acc"] for s in states])}, rng=False)
        for g, s in zip(self.generators, states, strict=True):
            g.set_state(s["rng_cpu"] if self.device.type == "cpu" else s["rng_cuda"][self.device.index or 0])


def stack_states(states: list[dict]) -> dict:
    """Per-member tensors (BEGAN's k, log sums) stacked on a new dim 0: (S, ...)."""
    return {k: torch.stack([s[k] for s in states]) for k in states[0]}


def member_generator(state: dict, device: torch.device) -> torch.Generator:
    """A member's generator on the training device, in the state its separate run's global RNG has."""
    gen = torch.Generator(device=device)
    gen.set_state(state["cpu"] if device.type == "cpu" else state["cuda"][device.index or 0])
    return gen


def capture_rng() -> dict:
    """The global RNG states now (CPU and every CUDA device), as a separate run's checkpoint holds them."""
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def member_optimizer(state: dict, i: int, s: int, lr: float) -> dict:
    """Member i's part of a fused optimizer's state dict: moments sliced like their parameters, its own lr."""
    return {"state": {p: member_state(st, i, s) for p, st in state["state"].items()},
            "param_groups": [{**g, "lr": lr} for g in state["param_groups"]]}


def fused_optimizer(states: list[dict]) -> dict:
    return {"state": {p: fused_state([s["state"][p] for s in states]) for p in states[0]["state"]},
            "param_groups": states[0]["param_groups"]}
