"""Captured training steps (``trainer.compile``): a step's objectives and optimizer updates through
torch.compile, so that each is a few fused kernels (and, under ``graphs``, one CUDA-graph replay) instead
of hundreds of small launches.

Modes (``checks.CAPTURE_MODES``):

* ``none``: eager PyTorch (the default);
* ``inductor``: TorchInductor kernels, on the CPU (C++/OpenMP) or a GPU (Triton);
* ``graphs``: inductor with ``mode="reduce-overhead"``: every compiled piece replays as a CUDA graph with
  static input buffers (CUDA only);
* ``aot_eager``: the same capture (Dynamo + AOTAutograd) run with eager kernels: it checks that a step
  captures, and gives eager's numbers to rounding, without inductor's code generation.

What a captured step compiles (``GANPair.capture_steps``): the critic objective (G(z) without gradients,
D on the real and fake batch, the loss), the generator objective (G(z), D, the loss), whose backward
passes AOTAutograd compiles with their forwards, each optimizer's ``step`` and the loss's hooks. The
random draws (z, the real batch) stay eager, from the same generators in the same order, so a captured
run draws what an eager run draws and differs from it only by the kernels' float rounding.

Known limit: AOTAutograd cannot differentiate a compiled graph twice, and a gradient penalty
(``torch.autograd.grad(create_graph=True)``, WGAN-GP and DRAGAN) needs that. Such a loss keeps its critic
objective eager (``AdversarialLoss.double_backward``); the run says so once, and its generator objective
and optimizer steps are still captured.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch
from torch.utils._pytree import tree_map_only

# torch.optim's step carries a profiler annotation that Dynamo drops, with a warning, on every first compile
logging.getLogger("torch._dynamo.variables.ctx_manager").addFilter(
    lambda record: "Profiler record function" not in record.getMessage())


class Capture:
    """One run's compiler settings; ``fn`` and ``step`` return what the step should call."""

    def __init__(self, mode: str):
        self.mode = mode
        self._steps: dict[int, Callable] = {}
        self.said: set[str] = set()
        if self.on:
            # Compiled code is cached per code object with guards on the objects it read; a grid that trains
            # run after run in one process would exhaust the recompile limit and fall back to eager silently.
            torch._dynamo.reset()

    @property
    def on(self) -> bool:
        return self.mode != "none"

    def _compile(self, fn: Callable, fullgraph: bool) -> Callable:
        backend = "aot_eager" if self.mode == "aot_eager" else "inductor"
        mode = "reduce-overhead" if self.mode == "graphs" else None
        return torch.compile(fn, backend=backend, mode=mode, fullgraph=fullgraph)

    def fn(self, fn: Callable) -> Callable:
        """``fn`` compiled as one graph (forward and, through AOTAutograd, its backward), or ``fn`` itself
        when off. One graph: a host sync or any other graph break in a step's own code is an error, not a
        silent split. Under CUDA graphs its tensors are returned as copies (the loss's copy still
        differentiates into the graph): the logs outlive the next replay."""
        if not self.on:
            return fn
        compiled = self._compile(fn, fullgraph=True)
        if self.mode != "graphs":
            return compiled

        def copied(*args):
            return tree_map_only(torch.Tensor, torch.clone, compiled(*args))
        return copied

    def hook(self, fn: Callable) -> Callable:
        """A loss hook (WGAN's clipping, BEGAN's k_t): compiled, except under CUDA graphs, whose outputs live in
        the graph's pool until its next replay: a hook's state (BEGAN's k_t) must outlive that."""
        return fn if self.mode == "graphs" else self.fn(fn)

    def step(self, opt) -> Callable:
        """``opt.step`` compiled (Adam/RMSprop over all parameters in a few kernels), or as is."""
        if not self.on or not isinstance(opt, torch.optim.Optimizer):
            return opt.step  # Lightning's wrapper (a grad scaler's unscale and inf check) stays eager
        key = id(opt)
        if key not in self._steps:
            def optimizer_step() -> None:
                opt.step()
            self._steps[key] = self._compile(optimizer_step, fullgraph=False)  # torch.optim breaks at its hooks
        return self._steps[key]

    def eager(self, what: str, why: str) -> None:
        """Say once per run that a piece falls back to eager, and why."""
        if self.on and what not in self.said:
            self.said.add(what)
            print(f"[compile] trainer.compile={self.mode}: {what} runs eager: {why}", flush=True)


def check_device(trainer) -> None:
    """A mode its device cannot run, as one sentence (ConfigError): graphs without CUDA, inductor on a CPU
    without the C++ compiler its kernels are built with."""
    from ..config import ConfigError
    from ..data.placement import training_device

    mode, device = trainer.get("compile"), training_device(trainer.get("accelerator", "auto")).type
    if mode == "graphs" and device != "cuda":
        raise ConfigError("trainer.compile=graphs replays CUDA graphs and needs a CUDA GPU (trainer.accelerator="
                          "gpu); on this device use trainer.compile=inductor or none")
    if mode == "inductor" and device == "cpu":
        from torch._inductor import cpp_builder

        try:
            cpp_builder.get_cpp_compiler()
        except Exception as err:  # inductor's own search (config.cpp.cxx, $CXX, g++, clang++)
            raise ConfigError(f"trainer.compile=inductor on the CPU builds C++ kernels and found no C++ compiler "
                              f"({type(err).__name__}); install g++ or set CXX, or use trainer.compile=none") from None
