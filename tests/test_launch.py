"""Launching grids: GPU slots and round-robin pinning (ganexp.launch), the joblib launcher pinning real
sweep jobs, the submitit_local launcher running a sweep, and the Slurm launcher's sbatch script."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import FAST, ROOT, train_cmd
from ganexp import launch
from ganexp.config import CONF_DIR, ConfigError

ENV = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
BAD_JOBS_PER_GPU = "launch.jobs_per_gpu=0 is not allowed: launch.jobs_per_gpu must be an integer >= 1"


def sh(args, env=None, **kw):
    """Run a command in the repository root; returns the CompletedProcess."""
    return subprocess.run(args, cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=600, **kw)


# --- visible GPUs and n_jobs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("3,5", ["3", "5"]), (" 3 , 5 ", ["3", "5"]), ("", []), ("-1", []), ("2,-1,3", ["2"]),
    ("GPU-aa,GPU-bb", ["GPU-aa", "GPU-bb"]), ("0,", ["0"]),
])
def test_parse_visible_follows_cuda_rules(value, expected):
    assert launch.parse_visible(value) == expected


def test_visible_gpus_prefers_cuda_visible_devices(monkeypatch):
    monkeypatch.setattr(launch, "count_gpus_smi", lambda: 3)
    assert launch.visible_gpus({"CUDA_VISIBLE_DEVICES": "3,5"}) == ["3", "5"]
    assert launch.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert launch.visible_gpus({}) == ["0", "1", "2"]


def test_count_gpus_smi_counts_gpu_lines_only(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-a)'\necho '  MIG 1g.10gb Device 0: (UUID: MIG-x)'\n"
                   "echo 'GPU 1: NVIDIA H100 (UUID: GPU-b)'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert launch.count_gpus_smi() == 2
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert launch.count_gpus_smi() == 0


def test_default_n_jobs_is_gpus_times_jobs_per_gpu_else_cpus_over_4():
    assert launch.default_n_jobs(2, n_gpus=2) == 4
    assert launch.default_n_jobs(1, n_gpus=3) == 3
    assert launch.default_n_jobs(3, n_gpus=0, n_cpus=16) == 4
    assert launch.default_n_jobs(1, n_gpus=0, n_cpus=2) == 1


@pytest.mark.parametrize("bad,shown", [(0, "0"), (-1, "-1"), (1.5, "1.5"), ("2", "2"), (True, "true"), (None, "null")])
def test_bad_jobs_per_gpu_is_one_sentence(bad, shown):
    """The schema's rule and sentence, also where the GPU-slot resolver reads the key before the job's check."""
    with pytest.raises(ConfigError) as err:
        launch.default_n_jobs(bad, n_gpus=2)
    assert str(err.value) == f"launch.jobs_per_gpu={shown} is not allowed: launch.jobs_per_gpu must be an integer >= 1"


# --- slots -----------------------------------------------------------------------------------------------------
def test_slot_gpu_is_round_robin():
    assert [launch.slot_gpu(k, ["3", "5"]) for k in range(6)] == ["3", "5", "3", "5", "3", "5"]
    assert [launch.slot_gpu(k, ["0", "1", "2"]) for k in range(4)] == ["0", "1", "2", "0"]
    with pytest.raises(ValueError):
        launch.slot_gpu(0, [])


def test_acquire_slot_takes_the_lowest_free_slot(tmp_path):
    fds = {}
    for expected in (0, 1, 2):
        slot, fds[expected] = launch.acquire_slot(tmp_path)
        assert slot == expected
    os.close(fds.pop(1))  # slot 1 freed: the next taker gets it back before slot 3
    slot, fds[1] = launch.acquire_slot(tmp_path)
    assert slot == 1
    assert (tmp_path / "slot-1.lock").read_text() == f"{os.getpid()}\n"
    for fd in fds.values():
        os.close(fd)


def test_a_dead_process_releases_its_slot(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(tmp_path / 'slot-0.lock')!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        slot, fd = launch.acquire_slot(tmp_path)
        assert slot == 1  # slot 0 belongs to the other process
        os.close(fd)
    finally:
        holder.kill()
        holder.wait()
    slot, fd = launch.acquire_slot(tmp_path)
    assert slot == 0  # the kernel dropped the dead process's lock
    os.close(fd)


@pytest.fixture
def fresh_pin(monkeypatch):
    """pin_gpu as in a new process: no pin taken yet; closes the slot file afterwards."""
    monkeypatch.setattr(launch, "_PIN", None)
    monkeypatch.setattr(launch, "_SLOT_FD", None)
    yield
    if launch._SLOT_FD is not None:
        os.close(launch._SLOT_FD)


def test_pin_gpu_pins_once_per_process(tmp_path, monkeypatch, fresh_pin):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    first = launch.pin_gpu(tmp_path)
    assert first == launch.Pin(slot=0, gpu="3", visible=("3", "5"), slot_dir=str(tmp_path))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert launch.pin_gpu(tmp_path / "other") is first  # a reused worker keeps its slot and GPU
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slot-0.lock"]


def test_pin_gpu_skips_cpu_only_machines(tmp_path, monkeypatch, fresh_pin):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert launch.pin_gpu(tmp_path) == launch.Pin(slot=None, gpu=None, visible=(), slot_dir=None)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert list(tmp_path.iterdir()) == []


def test_pin_gpu_refuses_after_cuda_init(tmp_path, monkeypatch, fresh_pin):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    monkeypatch.setattr(launch, "cuda_initialized", lambda: True)
    with pytest.raises(RuntimeError, match="^CUDA is already initialized in this process, so it cannot be pinned"):
        launch.pin_gpu(tmp_path)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3,5"


# --- joblib: a real sweep --------------------------------------------------------------------------------------
PROBE = '''
"""Test-only Hydra callback: records what each job sees and holds each job until N jobs have started."""
import json, os, time
from pathlib import Path
from hydra.experimental.callback import Callback


class Probe(Callback):
    def __init__(self, folder, n):
        self.folder, self.n = Path(folder), n

    def on_job_start(self, config, **kwargs):
        self.folder.mkdir(parents=True, exist_ok=True)
        rec = {"pid": os.getpid(), "seen": os.environ.get("CUDA_VISIBLE_DEVICES"), "t0": time.time(),
               "run": config.hydra.runtime.output_dir}
        (self.folder / f"start-{config.hydra.job.num}.json").write_text(json.dumps(rec))
        deadline = time.time() + 240
        while len(list(self.folder.glob("start-*.json"))) < self.n and time.time() < deadline:
            time.sleep(0.05)

    def on_job_end(self, config, **kwargs):
        rec = {"seen": os.environ.get("CUDA_VISIBLE_DEVICES"), "t1": time.time()}
        (self.folder / f"end-{config.hydra.job.num}.json").write_text(json.dumps(rec))
'''


def overlapping(a: dict, b: dict) -> bool:
    """Whether two launch.json records ran at the same time."""
    return a["started"] < b["ended"] and b["started"] < a["ended"]


@pytest.mark.long
def test_joblib_sweep_pins_concurrent_jobs_round_robin(tmp_path):
    """4 jobs, fake GPUs "3,5", 2 jobs per GPU: n_jobs=4, and the 4 concurrent jobs see 3, 3, 5, 5."""
    (tmp_path / "launch_probe.py").write_text(PROBE)
    probe, sweep, slots = tmp_path / "probe", tmp_path / "sweep", tmp_path / "slots"
    env = {**ENV, "CUDA_VISIBLE_DEVICES": "3,5", "PYTHONPATH": os.pathsep.join([str(tmp_path), ENV.get("PYTHONPATH", "")])}
    out = sh(train_cmd("-m", "hydra/launcher=joblib", "launch.jobs_per_gpu=2", "z_dim=1,2,3,4", *FAST,
                       "trainer.max_steps=2", f"hydra.sweep.dir={sweep}", f"hydra.callbacks.gpu_slots.slot_dir={slots}",
                       "+hydra.callbacks.probe._target_=launch_probe.Probe", f"+hydra.callbacks.probe.folder={probe}",
                       "+hydra.callbacks.probe.n=4"), env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=4," in out.stdout + out.stderr
    results = [json.loads(p.read_text()) for p in sweep.glob("*/result.json")]
    assert sorted((r["status"], r["config"]["z_dim"]) for r in results) == [("completed", z) for z in (1, 2, 3, 4)]

    starts = [json.loads((probe / f"start-{i}.json").read_text()) for i in range(4)]
    ends = [json.loads((probe / f"end-{i}.json").read_text()) for i in range(4)]
    records = [json.loads((Path(s["run"]) / "launch.json").read_text()) for s in starts]
    assert sorted(s["seen"] for s in starts) == ["3", "3", "5", "5"]  # what each job saw
    assert [e["seen"] for e in ends] == [s["seen"] for s in starts]
    assert max(s["t0"] for s in starts) < min(e["t1"] for e in ends)  # all 4 jobs ran at the same time
    assert len({s["pid"] for s in starts}) == 4
    assert sorted(r["slot"] for r in records) == [0, 1, 2, 3]
    for s, r in zip(starts, records):
        assert (r["pid"], r["CUDA_VISIBLE_DEVICES"], r["gpu"], r["visible"]) == (
            s["pid"], s["seen"], ["3", "5"][r["slot"] % 2], ["3", "5"])
    pairs = [(a, b) for i, a in enumerate(records) for b in records[i + 1:] if overlapping(a, b)]
    assert len(pairs) == 6 and all(a["slot"] != b["slot"] for a, b in pairs)


def test_joblib_rejects_bad_jobs_per_gpu_before_any_job(tmp_path):
    out = sh(train_cmd("-m", "hydra/launcher=joblib", "launch.jobs_per_gpu=0", "z_dim=1,2", *FAST,
                       f"hydra.sweep.dir={tmp_path / 'sweep'}"))
    assert out.returncode == 2
    assert f"error: {BAD_JOBS_PER_GPU}\n" in out.stderr
    assert not (tmp_path / "sweep").exists()


# --- submitit --------------------------------------------------------------------------------------------------
@pytest.mark.long
def test_submitit_local_sweep_completes(tmp_path):
    out = sh(train_cmd("-m", "hydra/launcher=submitit_local", "z_dim=1,2", *FAST, "trainer.max_steps=2",
                       f"hydra.sweep.dir={tmp_path}"))
    assert out.returncode == 0, out.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in tmp_path.glob("*/result.json")]
    assert sorted((r["status"], r["steps"], r["config"]["z_dim"]) for r in results) == [
        ("completed", 2, 1), ("completed", 2, 2)]
    assert len(list(tmp_path.glob(".submitit/*/*_0_result.pkl"))) == 2


class Captured(Exception):
    """Carries the submitit executor out of a launch that must not submit anything."""


@pytest.mark.filterwarnings("ignore:\\s*'hydra/launcher/submitit_slurm' is validated:UserWarning")
def test_submitit_slurm_config_renders_sbatch(tmp_path, monkeypatch):
    """The Slurm launcher config composes with train.yaml and becomes these sbatch options (no cluster needed)."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate

    (tmp_path / "srun").write_text("#!/bin/sh\n")  # submitit checks that srun exists
    (tmp_path / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu",
                                          f"hydra.sweep.dir={tmp_path / 'sweep'}"], return_hydra_config=True)
    def capture(self, *args):
        raise Captured(self)

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", capture)
    before = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(cfg)  # ${hydra.job.name} and friends resolve from here
    try:
        launcher = instantiate(cfg.hydra.launcher)
        launcher.setup(hydra_context=None, task_function=None, config=cfg)
        with pytest.raises(Captured) as got:
            launcher.launch([["z_dim=1"]], 0)
    finally:
        HydraConfig.instance().cfg = before
    slurm = got.value.args[0]._executor
    script = slurm._make_submission_file_text("python -m ganexp.train", "uid")
    options = sorted(line for line in script.splitlines() if line.startswith("#SBATCH"))
    folder = f"{tmp_path / 'sweep'}/.submitit/%j"
    assert options == sorted([
        "#SBATCH --cpus-per-task=8", f"#SBATCH --error={folder}/%j_0_log.err", "#SBATCH --gpus-per-node=1",
        "#SBATCH --job-name=app", "#SBATCH --mem=32GB", "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1",
        "#SBATCH --open-mode=append", f"#SBATCH --output={folder}/%j_0_log.out", "#SBATCH --partition=gpu",
        "#SBATCH --signal=USR2@120", "#SBATCH --time=240", "#SBATCH --wckey=submitit"])
    assert slurm.max_num_timeout == 3
