"""Entry point: ``python -m ganexp.train [-m] key=value ...`` (Hydra). One run per job:
validate, build (instantiate), resume or skip, fit, evaluate, write result.json."""
from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from . import checkpoint as ckpt
from . import launch  # noqa: F401  (registers the joblib GPU-slot resolver; quiets a Hydra notice)
from .checkpoint import CheckpointError
from .config import ConfigError, check_choices, check_output_dir, config_hash, register_resolvers, to_container, validate
from .data import DatasetError, TensorBatcher
from .module import Diverged, GANModule, chunks, eval_codes, sample_latent
from .runlog import RunLogger, atomic_write_json, save_grid

register_resolvers()
USER_ERRORS = (ConfigError, DatasetError, CheckpointError)


class RunHooks:
    """Per-step side work of a run: logging, sample grids, evaluation, checkpoints."""

    def __init__(self, run: "Run"):
        self.run, self.t = run, run.cfg.trainer
        self.last_ckpt_time = time.monotonic()

    def after_step(self, m: GANModule) -> None:
        step, t = m.step_count, self.t
        if step % t.log_every_n_steps == 0 or step == t.max_steps:
            self.run.log_row(step, m.pop_logs())
        if step % t.sample_every_n_steps == 0 and step != t.max_steps:
            self.run.save_samples(f"step_{step:06d}", step)
        every = self.run.cfg.metrics.every_n_steps
        if self.run.evaluator is not None and every and step % every == 0 and step != t.max_steps:
            self.run.evaluate(step)
        due = time.monotonic() - self.last_ckpt_time > 60 * t.ckpt_every_minutes
        if (step % t.ckpt_every_n_steps == 0 or due) and step != t.max_steps:
            self.run.save_checkpoint()
            self.last_ckpt_time = time.monotonic()
        if step == t.max_steps:
            self.run.finish_training()


class Run:
    """One training run in its folder."""

    def __init__(self, cfg: DictConfig, run_dir: Path, name: str):
        self.cfg, self.dir, self.name = cfg, run_dir, name
        self.cfg_dict = to_container(cfg)
        self.hash = config_hash(self.cfg_dict)
        self.metrics: dict = {}
        self.evaluator = None
        self.elapsed_before = 0.0

    # --- lifecycle -------------------------------------------------------------------------
    def previous_result(self) -> dict | None:
        import json

        path = self.dir / "result.json"
        if not path.is_file():
            return None
        try:
            prev = json.loads(path.read_text())
        except ValueError:
            return None
        return prev if prev.get("config_hash") == self.hash else None

    def build(self) -> None:
        cfg = self.cfg
        self.dataset = instantiate(cfg.dataset)
        images = self.dataset.images("train")
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        generator, discriminator = instantiate(cfg.model.generator), instantiate(cfg.model.discriminator)
        loss = instantiate(cfg.loss)
        batcher = TensorBatcher(images, cfg.batch_size, seed=cfg.seed)
        self.module = GANModule(generator, discriminator, loss, OmegaConf.to_container(cfg.optim), batcher,
                                cfg.z_dim, cfg.latent, cfg.batch_size, RunHooks(self))
        self.eval_z = eval_codes(self.cfg_dict)
        if cfg.metrics.enabled:
            from .metrics import Evaluator

            self.evaluator = Evaluator(cfg.metrics, self.dataset)
            self.evaluator.weights  # resolve the Inception weights now: a problem shows before training

    def fit(self) -> dict:
        resume = self._resume_state()
        self.logger = RunLogger(self.dir, self.cfg_dict["logger"], self.cfg_dict, self.name,
                                resume_id=resume.get("wandb_id") if resume else None,
                                truncate_after=resume["step"] if resume else None)
        self.module.resume_state = resume
        self.t0 = time.monotonic()
        trainer = make_trainer(self.cfg.trainer, self.dir)
        start = resume["step"] if resume else 0
        steps = torch.utils.data.DataLoader(chunks(start, self.cfg.trainer.max_steps), batch_size=None)
        status, extra = "completed", {}
        try:
            if start < self.cfg.trainer.max_steps:  # else: killed after the final checkpoint; it holds the final metrics
                trainer.fit(self.module, train_dataloaders=steps)
        except Diverged as d:
            status, extra = "diverged", {"diverged_at": d.step, "error": str(d)}
        self.logger.finish({k: v for k, v in self.metrics.items() if v is not None})
        return self.result(status, extra)

    def finish_training(self) -> None:
        """Final grid, evaluation and checkpoint, run inside the last training step: still on the
        training device (Lightning moves the module to the CPU when fit() returns)."""
        step = self.module.step_count
        self.save_samples("final", step)
        if self.evaluator is not None:
            self.evaluate(step)
        self.save_checkpoint()

    def _resume_state(self) -> dict | None:
        path = self.dir / "last.ckpt"
        if not path.exists():
            return None
        state = ckpt.load(path)
        if state.get("config_hash") != self.hash:
            print(f"[restart] {self.name}: last.ckpt belongs to another config; training from scratch")
            return None
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.metrics = dict(state.get("metrics", {}))
        return state

    # --- side work ---------------------------------------------------------------------------
    def log_row(self, step: int, logs: dict) -> None:
        row = {"step": step, "images_seen": step * self.cfg.batch_size * self.cfg.loss.n_critic,
               "time_s": round(self.elapsed(), 3), **logs}
        self.metrics.update(logs)
        self.logger.log(row)

    def save_samples(self, tag: str, step: int) -> None:
        path = self.dir / "samples" / f"{tag}.png"
        save_grid(self.module.generate(self.eval_z), path)
        self.logger.image("samples", path, step)

    def evaluate(self, step: int) -> None:
        """FID/IS on codes from a dedicated generator: the same codes at every evaluation, and the
        training RNG untouched (evaluating more or less often never changes the training run)."""
        t, device = time.monotonic(), self.module.device
        gen = torch.Generator(device=device).manual_seed(10_000 + self.cfg.seed)
        scores = self.evaluator.evaluate(lambda n: self.module.generate(
            sample_latent(n, self.cfg.z_dim, self.cfg.latent, device, gen)), device)
        self.metrics.update(scores)
        self.metric_info = dict(self.evaluator.info)
        self.logger.log({"step": step, "time_s": round(self.elapsed(), 3), **scores,
                         "eval_s": round(time.monotonic() - t, 3)})

    def save_checkpoint(self) -> None:
        ckpt.save(self.dir / "last.ckpt", self.module, {
            "config": self.cfg_dict, "config_hash": self.hash, "wandb_id": self.logger.wandb_id,
            "elapsed_s": self.elapsed(), "metrics": self.metrics})

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    def result(self, status: str, extra: dict) -> dict:
        res = {"status": status, "name": self.name, "config_hash": self.hash, "config": self.cfg_dict,
               "metrics": self.metrics, "metric_info": getattr(self, "metric_info", {}),
               "steps": self.module.step_count, "wall_s": round(self.elapsed(), 3), **extra}
        atomic_write_json(self.dir / "result.json", res)
        return res


class ResumeCallback(L.Callback):
    """Restores optimizer/RNG state once Lightning has built the optimizers."""

    def on_train_start(self, trainer, module) -> None:
        if getattr(module, "resume_state", None):
            ckpt.restore(module, module.resume_state)


def make_trainer(t: DictConfig, run_dir: Path) -> L.Trainer:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*`training_step` returned `None`.*")
    return L.Trainer(accelerator=t.accelerator, devices=t.devices, precision=t.precision, max_epochs=1,
                     logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                     default_root_dir=str(run_dir), callbacks=[ResumeCallback()])


def run(cfg: DictConfig, run_dir: Path, name: str) -> dict:
    """Train one configured run in ``run_dir``; returns its result dict."""
    validate(cfg)
    r = Run(cfg, run_dir, name)
    prev = r.previous_result()
    if prev and prev["status"] in ("completed", "diverged"):
        print(f"[skip] {name}: already {prev['status']}", flush=True)
        return prev
    r.build()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(r.cfg_dict))
    try:
        res = r.fit()
    except USER_ERRORS:
        raise
    except Exception as err:  # contained: the sweep goes on, the folder says what happened
        res = r.result("failed", {"error": f"{type(err).__name__}: {err}"})
    print(summary_line(res), flush=True)
    return res


def summary_line(res: dict) -> str:
    fids = {k: v for k, v in res["metrics"].items() if k.startswith(("fid", "is")) and v is not None}
    scores = " ".join(f"{k}={v:.2f}" for k, v in fids.items())
    return f"[{res['status']}] {res['name']}  steps={res['steps']}  {scores}  {res['wall_s']:.1f}s".replace("  ", " ")


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    name = hc.job.override_dirname or "default"
    try:
        run(cfg, Path(hc.runtime.output_dir), name)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)


def cli() -> None:
    try:
        check_choices(sys.argv[1:])
        check_output_dir(sys.argv[1:])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    main()


if __name__ == "__main__":
    cli()
