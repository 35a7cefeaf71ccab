"""Fused arrays at the level of runs (``launch.fuse=seed|hparams``; the model: ganexp/systems/fused.py).

The grid sweeper hands one job the runs of a grid that differ only in seed (launch.fuse=seed), or in seed and
learning rates (launch.fuse=hparams): ``launch.array_members``, each member's own overrides.
Each member keeps everything a separate run has: its folder, lock, config.yaml, result.json, metrics.jsonl,
sample grids, last.ckpt (in a separate run's format) and W&B run, and goes through a separate run's lifecycle
(``run.train_runs``); this module adds what is fused: how the array is built (``FusedBuild``) and what each
member's part of it is (``FusedTraining``). Per member:

* a finished run is skipped (or kept) as by ``train.run``; a busy folder is left to its holder;
* resume: members resume from their own last.ckpt; members at different steps (a kill between their
  checkpoints) train as separate arrays, one per step, in order;
* divergence ends only that member (its result says ``diverged``, as a separate run's would); the
  others train on. Its networks stay in the array (disjoint, so they change nothing for the others)
  until the array ends;
* evaluation scores all members in one pass through Inception (``Evaluator.evaluate_members``), each on
  the codes its separate run would draw.
"""
from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from .config import building
from .preflight import job_spec
from .systems import build_system, sample_latent
from .systems.fused import FusedGANPair, MemberBatcher, capture_rng
from .run import SYSTEM_KEYS, build_evaluator, load_dataset, make_trainer, train_runs
from .runfolder import RunFolder
from .training import Training


class FusedTraining(Training):
    """A fused array and its members' folders: each member's log means, images, scores and checkpoint state
    are its part of the array's (member i: the array's i-th; ``folders[i]``)."""

    def member_logs(self) -> list[dict]:
        logs = self.system.pop_logs()
        return [logs[self.folders.index(r)] for r in self.active]

    def member_images(self, z: torch.Tensor) -> list[torch.Tensor]:
        images = self.system.generate(z)  # (n, S, C, H, W): the same codes for every member
        return [images[:, self.folders.index(r)] for r in self.active]

    def member_scores(self, average: bool) -> list[dict]:
        """All members (their G_ema with ``average``) in one pass through the evaluator's network
        (``Evaluator.evaluate_members``)."""
        return self.evaluator.evaluate_members(self.samplers(self.system.device, average), self.system.device)

    def samplers(self, device, average: bool) -> list:
        """Per active member: n -> its next n images, on the codes its separate run would draw (drawn up
        front in that run's chunks, since a chunk's size can change the numbers on CUDA); every call
        round generates all members at once."""
        cfg, n, chunk = self.cfg, self.evaluator.cfg["num_samples"], self.evaluator.batch_size(device)
        gens = {self.folders.index(r): r.eval_generator(device) for r in self.active}
        codes = {i: torch.cat([sample_latent(min(chunk, n - a), cfg.z_dim, cfg.latent, device, g)
                               for a in range(0, n, chunk)]) for i, g in gens.items()}
        pos, ready = [0], {}

        def sample(i: int, m: int):
            if i not in ready:
                z = torch.zeros(m, self.system.s, cfg.z_dim, device=device)
                for j, c in codes.items():
                    z[:, j] = c[pos[0]:pos[0] + m]
                images = self.system.generate(z, average)
                ready.update({j: images[:, j] for j in codes})
                pos[0] += m
            return ready.pop(i)

        return [lambda m, i=self.folders.index(r): sample(i, m) for r in self.active]

    def member_state(self, r: RunFolder) -> dict:
        return self.system.member_checkpoint(self.folders.index(r))


class FusedBuild:
    """A fused array's members (run.Builder): one dataset for all; each member's system built as its separate
    run builds it, with the RNG as that run's first step finds it; then, per group of members that start at
    one step, one FusedGANPair of their systems."""

    def build(self, folders: list[RunFolder]) -> None:
        dataset = None
        for r in folders:
            dataset, self.images = load_dataset(r, dataset)
        self.systems, self.rng = {}, {}
        for r in folders:
            L.seed_everything(r.cfg.seed, workers=True, verbose=False)
            with building("system", SYSTEM_KEYS):
                self.systems[r.name] = build_system(r.cfg)
            self.rng[r.name] = capture_rng()  # the RNG as the run's first step finds it
        self.evaluator = build_evaluator(folders[0].cfg, dataset)
        print(f"[data] {dataset.name}: {self.images.shape[0]:,} images, one copy on the training device for "
              f"{len(folders)} fused members", flush=True)

    def training(self, folders: list[RunFolder], resumes: list[dict | None]) -> Training:
        cfg = folders[0].cfg
        batcher = MemberBatcher(self.images, cfg.batch_size, [r.cfg.seed for r in folders])
        with building("fused array", "launch.fuse, model.*, norm.*"):
            system = FusedGANPair([self.systems[r.name] for r in folders], [self.rng[r.name] for r in folders],
                                  batcher)
        with building("trainer", "trainer.*"):
            trainer = make_trainer(cfg.trainer, folders[0].dir)
        return FusedTraining(folders, system, batcher, self.evaluator, trainer,
                             resumes if resumes[0] is not None else None,  # None: the members start from scratch
                             name=f"fused array of seeds {','.join(str(r.cfg.seed) for r in folders)}")


def member_configs(cfg: DictConfig) -> list[DictConfig]:
    """A fused job's config -> one config per member of ``launch.array_members`` (each member's own overrides,
    e.g. 'seed=1;optim.lr_g=1e-4'), each as its separate run's."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out = []
    for own in cfg.launch.array_members:
        c = copy.deepcopy(cfg)
        with open_dict(c):
            for o in OverridesParser.create().parse_overrides(own.split(";")):
                OmegaConf.update(c, o.key_or_group, o.value(), merge=False)
            c.launch.array_members = None
        out.append(c)
    return out


def run_array(cfgs: list[DictConfig], dirs: list[Path], names: list[str]) -> list[dict]:
    """Train the runs (configs that differ only in seed and learning rates) that are not finished or busy as
    fused arrays; returns each run's result (status busy / skip / kept as ``train.run`` reports them)."""
    specs = [job_spec(cfg) for cfg in cfgs]
    return train_runs([RunFolder(*run) for run in zip(specs, dirs, names, strict=True)], FusedBuild())
