"""One learning rate per member of a fused array (launch.fuse=hparams).

A fused parameter holds S members' tensors as S chunks along dim 0 (ganexp/nets/fused.py), so a scalar
learning rate cannot differ between them. ``MemberAdam`` and ``MemberRMSprop`` are torch's Adam (Kingma &
Ba 2015, Algorithm 1) and RMSprop (Tieleman & Hinton 2012) with the learning rate spread per member over
each parameter's chunks. Their update is torch's single-tensor one (``torch.optim.adam._single_tensor_adam``,
``torch.optim.rmsprop._single_tensor_rmsprop``) op for op: ``param.addcdiv_(u, d, value=-lr)`` computes
param + (-lr * u) / d per element, and so does ``param.add_((-lr_per_member * u) / d)``. So each member
updates exactly as its separate run does. Their state (``step``, moments) and param_groups are torch's, so
checkpoints keep a separate run's format (``member_checkpoint`` writes each member's own ``lr``).

They implement only the settings ``make_optimizer`` builds: torch's defaults but lr and Adam's betas (no
weight decay, AMSGrad, momentum, centering, maximize or capturable state).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.optim.optimizer import _get_scalar_dtype


def spread(lrs: list[float], p: Tensor, scale: float = 1.0) -> Tensor:
    """Per-member values ``lr * scale`` broadcast over p's S chunks along dim 0: (S*k, 1, ...), p's dtype."""
    s = len(lrs)
    values = torch.tensor([lr * scale for lr in lrs], dtype=p.dtype, device=p.device)
    return values.repeat_interleave(p.shape[0] // s).view(-1, *([1] * (p.dim() - 1)))


class PerMemberStep:
    """The loop both optimizers share: each parameter with a gradient, its state made as torch makes it,
    its step count raised, then the optimizer's ``update``."""

    param_groups: list
    state: dict

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(self.initial_state(p))
                state["step"] += 1
                self.update(p, state, group)
        return None


class MemberAdam(PerMemberStep, torch.optim.Adam):
    def __init__(self, params, member_lrs: list[float], betas=(0.9, 0.999)):
        super().__init__(params, lr=member_lrs[0], betas=betas)
        self.member_lrs = [float(x) for x in member_lrs]

    @staticmethod
    def initial_state(p: Tensor) -> dict:  # as torch's Adam._init_group
        return {"step": torch.tensor(0.0, dtype=_get_scalar_dtype()),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}

    def update(self, p: Tensor, state: dict, group: dict) -> None:
        beta1, beta2 = group["betas"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(p.grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        step = state["step"].item()
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        p.add_(spread([-lr / bias_correction1 for lr in self.member_lrs], p) * exp_avg / denom)


class MemberRMSprop(PerMemberStep, torch.optim.RMSprop):
    def __init__(self, params, member_lrs: list[float]):
        super().__init__(params, lr=member_lrs[0])
        self.member_lrs = [float(x) for x in member_lrs]

    @staticmethod
    def initial_state(p: Tensor) -> dict:  # as torch's RMSprop._init_group
        return {"step": torch.tensor(0.0, dtype=_get_scalar_dtype()),
                "square_avg": torch.zeros_like(p, memory_format=torch.preserve_format)}

    def update(self, p: Tensor, state: dict, group: dict) -> None:
        square_avg = state["square_avg"]
        square_avg.mul_(group["alpha"]).addcmul_(p.grad, p.grad, value=1 - group["alpha"])
        avg = square_avg.sqrt().add_(group["eps"])
        p.add_(spread(self.member_lrs, p, -1.0) * p.grad / avg)


def member_lr_optimizer(params, name: str, member_lrs: list[float], betas=None) -> torch.optim.Optimizer:
    """``make_optimizer``'s optimizer with one learning rate per member."""
    if name == "adam":
        return MemberAdam(params, member_lrs, betas=tuple(betas or (0.9, 0.999)))
    return MemberRMSprop(params, member_lrs)
