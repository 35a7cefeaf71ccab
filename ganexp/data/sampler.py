"""Batches for training, in one order whatever the placement of the data.

``EpochOrder`` draws a permutation per epoch with its own seeded generator and walks it in batches
(the last incomplete batch is dropped). ``TensorBatcher`` keeps the whole uint8 set on the training
device and indexes batches there; ``StreamBatcher`` leaves it on the host (a memory-mapped on-disk
cache) and gathers each batch there, copying it to the device asynchronously from pinned memory a few
batches ahead. Both give the same batches for the same seed, and their checkpoint states are the same.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch


class EpochOrder:
    """Shuffled epochs over N items in batches of ``batch_size``; the state is (generator, permutation, position)."""

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        self.n, self.batch_size = int(n), int(batch_size)
        if self.batch_size > self.n:
            raise ValueError(f"batch_size {batch_size} exceeds the dataset's {n} images")
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.perm = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def next(self) -> torch.Tensor:
        """The next batch's indices (B,), on the CPU."""
        if self.pos + self.batch_size > self.perm.numel():
            self.perm = torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.perm = state["perm"].cpu()
        self.pos = int(state["pos"])


def to_float(batch: torch.Tensor) -> torch.Tensor:
    # the default dtype: float32, or float64 under trainer.precision=64-true (Lightning sets it in training steps)
    return batch.to(torch.get_default_dtype()).div_(127.5).sub_(1.0)  # (B, C, H, W) in [-1, 1]


class TensorBatcher:
    """The device-resident path: the uint8 (N, C, H, W) set lives on the device, batches are indexed there."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int = 0):
        self.images, self.batch_size = images, int(batch_size)
        self.order = EpochOrder(images.shape[0], batch_size, seed)
        self._perm_dev = None

    def to(self, device) -> "TensorBatcher":
        self.images = self.images.to(device)
        return self

    def next(self) -> torch.Tensor:
        return to_float(self.images.index_select(0, self.next_indices()))

    def next_indices(self) -> torch.Tensor:
        """The next batch's indices (B,), on the data's device."""
        self.order.next()
        if self._perm_dev is None or self._perm_dev[0] is not self.order.perm:  # one copy per epoch
            self._perm_dev = (self.order.perm, self.order.perm.to(self.images.device))
        end = self.order.pos
        return self._perm_dev[1][end - self.batch_size:end]

    def state_dict(self) -> dict:
        return self.order.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.order.load_state_dict(state)
        self._perm_dev = None

    def close(self) -> None:
        pass


class StreamBatcher:
    """The streamed path: batches gathered on the host from ``images`` (CPU, typically memory-mapped)
    by a background thread, ``prefetch`` batches ahead, and copied to the device from pinned memory on
    a side CUDA stream; the training stream waits on each copy's event, never on the host."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int = 0, prefetch: int = 4):
        self.images, self.batch_size, self.prefetch = images, int(batch_size), max(1, int(prefetch))
        self.order = EpochOrder(images.shape[0], batch_size, seed)
        self.device = torch.device("cpu")
        self._queue: deque = deque()  # (future -> (batch, event), order state after that batch)
        self._consumed = self.order.state_dict()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ganexp-stream")
        self._slots: list = []  # pinned host buffers (B, C, H, W) uint8, reused round robin
        self._events: list = []  # copy-done event per slot: a slot is refilled only after its copy ended
        self._next_slot = 0
        self._copy_stream = None

    def to(self, device) -> "StreamBatcher":
        self._drain()
        self.device = torch.device(device)
        if self.device.type == "cuda":
            shape = (self.batch_size, *self.images.shape[1:])
            self._slots = [torch.empty(shape, dtype=torch.uint8, pin_memory=True) for _ in range(self.prefetch + 1)]
            self._events = [None] * len(self._slots)
            self._copy_stream = torch.cuda.Stream(self.device)
        return self

    def next(self) -> torch.Tensor:
        while len(self._queue) < self.prefetch:
            self._submit()
        future, state = self._queue.popleft()
        batch, event = future.result()
        if event is not None:
            stream = torch.cuda.current_stream(self.device)
            stream.wait_event(event)
            batch.record_stream(stream)  # allocated on the copy stream, used on this one
        self._consumed = state
        return to_float(batch)

    def _submit(self) -> None:
        idx = self.order.next()
        slot = None
        if self._slots:
            slot, self._next_slot = self._next_slot, (self._next_slot + 1) % len(self._slots)
        self._queue.append((self._pool.submit(self._gather, idx, slot), self.order.state_dict()))

    def _gather(self, idx: torch.Tensor, slot: int | None):
        """(the batch on the device, the event its copy records); on the CPU the gathered batch itself."""
        if slot is None:
            return self.images.index_select(0, idx), None
        if self._events[slot] is not None:
            self._events[slot].synchronize()
        host = torch.index_select(self.images, 0, idx, out=self._slots[slot])
        with torch.cuda.stream(self._copy_stream):
            batch = host.to(self.device, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self._copy_stream)
        self._events[slot] = event
        return batch, event

    def _drain(self) -> None:
        """Wait for batches in flight and forget them (they were not consumed)."""
        for future, _ in self._queue:
            future.result()
        self._queue.clear()

    def state_dict(self) -> dict:
        """The order as of the last consumed batch (batches prefetched beyond it are not part of it)."""
        return dict(self._consumed)

    def load_state_dict(self, state: dict) -> None:
        self._drain()
        self.order.load_state_dict(state)
        self._consumed = self.order.state_dict()

    def close(self) -> None:
        self._drain()
        self._pool.shutdown(wait=True)
