"""The README's Slurm commands on a real one-node cluster (``make test-slurm`` starts it with
tests/slurm/start-cluster.sh and sets SLURM_CONF). Marked ``slurm``: ``make test`` leaves them out.

Every grid here runs twice, once as Slurm jobs and once with Hydra's basic launcher, and the two must end
with the same result.json metrics and metrics.jsonl rows (one-thread CPU runs are bit-reproducible).

Slurm makes a requeued job wait two minutes before it may start again (its ``BeginTime``); the
``cluster`` fixture releases such jobs after RELEASE_AFTER_S (``scontrol update StartTime=now``), as an admin
could, so that a test of three requeues waits seconds instead of six minutes. Nothing else is changed.
Without a cluster the tests skip with the reason; with GANEXP_SLURM_REQUIRED=1 (CI) they fail instead.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, train_cmd

pytestmark = pytest.mark.slurm
CONF = os.environ.get("SLURM_CONF", "/tmp/ganexp-slurm/slurm.conf")
ENV = {**os.environ, "SLURM_CONF": CONF, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
# The README's CPU-cluster form of the Slurm launcher: one core and 1 GB per run, no GPU.
SLURM = ["hydra/launcher=submitit_slurm", "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=1"]
TINY = ["dataset=digits", "metrics=none", "logger=none", "trainer.accelerator=cpu", "model.width=8",
        "batch_size=16"]
# About 125-155 s of training on one core of this 2-core machine (6000 steps took 62 s alone in a job, 77 s beside
# one; 3000 took 67 s on a loaded machine): longer than the 90 s into an attempt by which Slurm's warning has come
# (TIME_LIMIT), so a two-minute limit stops every such run at least once also on an idle machine (at 6000 steps a
# run finished before its warning). The cancel and requeue tests need only a run still training when they act:
# SHORT_STEPS (25-70 s).
STEPS = 12000
SHORT_STEPS = 2000
# How long a test waits for a run's file to appear: several LONG runs one after another (a slower CI machine
# must not fail a test that only waits for an event; the waits end at the event)
WAIT_S = 900
LONG = [*TINY, f"trainer.max_steps={STEPS}", "trainer.log_every_n_steps=200", "trainer.ckpt_every_n_steps=500"]
SHORT = [*TINY, f"trainer.max_steps={SHORT_STEPS}", "trainer.log_every_n_steps=200", "trainer.ckpt_every_n_steps=500"]
# Slurm may send the USR2 warning up to 60 s before the time given (its event resolution): with a one-minute
# limit it could come in the job's first seconds, before submitit has installed its handlers (it does so after
# loading the job's pickle, ~4 s), and USR2's default action kills the job. A two-minute limit with the
# warning 30 s ahead puts it 30-90 s into each attempt.
TIME_LIMIT = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=30"]
IGNORED = ("time_s", "images_per_s")  # wall-clock figures differ between any two runs


def slurm(*args: str, check: bool = True) -> str:
    out = subprocess.run(list(args), env=ENV, capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def cluster_problem() -> str | None:
    """Why the cluster cannot be used, or None when its node is up."""
    if shutil.which("sinfo") is None:
        return "Slurm's client commands are not installed (make test-slurm installs and starts a cluster as root)"
    try:
        state = slurm("sinfo", "-h", "-o", "%t", check=False).strip()
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 60 s"
    if state not in ("idle", "mix", "alloc"):
        started = os.environ.get("GANEXP_SLURM_START", "")
        return f"no Slurm node is up (sinfo: {state or 'no answer'!r}; SLURM_CONF={CONF}) {started}".strip()
    return None


# How long a requeued job stays held before the fixture releases it. Released at once (0.3 s after the requeue),
# a job was started before the node had revoked its previous attempt's credential, and the node killed it
# ("Killing non-startable batch JobId=5: Job credential revoked", the run ended FAILED): Slurm's own two-minute
# hold exists for that. A few seconds are enough for the node, and leave the test minutes shorter.
RELEASE_AFTER_S = 10.0


def release_requeued(stop: threading.Event) -> None:
    """Start requeued jobs RELEASE_AFTER_S after they are first seen held, not after Slurm's two-minute BeginTime."""
    held_since: dict[str, float] = {}
    while not stop.wait(1.0):
        for line in slurm("squeue", "-h", "-t", "PD", "-o", "%i %r", check=False).splitlines():
            job, _, reason = line.partition(" ")
            if reason.strip() != "BeginTime":
                continue
            since = held_since.setdefault(job, time.monotonic())
            if time.monotonic() - since >= RELEASE_AFTER_S:
                slurm("scontrol", "update", f"JobId={job}", "StartTime=now", check=False)
                del held_since[job]


@pytest.fixture(scope="module")
def cluster():
    problem = cluster_problem()
    if problem and os.environ.get("GANEXP_SLURM_REQUIRED"):
        pytest.fail(f"GANEXP_SLURM_REQUIRED is set (as in CI): {problem}")
    if problem:
        pytest.skip(problem)
    stop = threading.Event()
    thread = threading.Thread(target=release_requeued, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted runs with the basic launcher, one after another in the background, started at once:
    LONG z_dim=1 (the time-limit tests), then SHORT z_dim=1,2 (the cancel and requeue tests).
    ``reference(short)`` waits for that sweep's folder."""
    sweeps = {False: tmp_path_factory.mktemp("reference_long"), True: tmp_path_factory.mktemp("reference_short")}
    commands = [train_cmd("-m", *LONG, "z_dim=1", f"hydra.sweep.dir={sweeps[False]}"),
                train_cmd("-m", *SHORT, "z_dim=1,2", f"hydra.sweep.dir={sweeps[True]}")]
    script = " && ".join(" ".join(shlex.quote(a) for a in c) for c in commands)
    proc = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    logs: list[str] = []

    def finished(short: bool = False) -> Path:
        want = sweeps[short]
        done = lambda: len(results(want)) == (2 if short else 1)  # noqa: E731
        while not done() and proc.poll() is None:
            time.sleep(1.0)
        if not done():
            logs.append(proc.communicate(timeout=60)[0])
            raise AssertionError(f"the reference runs failed: {logs[-1][-3000:]}")
        return want

    yield finished
    proc.kill()


def train(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(train_cmd("-m", *args), cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def submit(*args: str) -> subprocess.Popen:
    return subprocess.Popen(train_cmd("-m", *args), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(cond, timeout: float = WAIT_S) -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"waited {timeout} s in vain"
        time.sleep(0.5)


def results(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/result.json")}


def rows(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k not in IGNORED}
            for x in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_runs(got: Path, want: Path, names: list[str] | None = None) -> None:
    """Every run of ``want`` (or those named) is in ``got``, completed, with equal metrics and rows."""
    want_res, got_res = results(want), results(got)
    for name in names or want_res:
        assert got_res[name]["status"] == "completed", (name, got_res[name].get("error"))
        assert got_res[name]["steps"] == want_res[name]["steps"]
        for key, value in want_res[name]["metrics"].items():
            if key not in IGNORED:
                assert got_res[name]["metrics"][key] == value, (name, key)
        assert rows(got / name) == rows(want / name), name


def job_logs(sweep: Path) -> str:
    """Every job's stdout, as submitit kept it (``.submitit/<job id>/*_log.out``)."""
    return "".join(p.read_text() for p in sorted((sweep / ".submitit").glob("*/*_log.out")))


def tasks(sweep: Path) -> list[str]:
    """The array tasks submitit made, ``<array id>_<task>``, from its folders ``.submitit/<array id>_<task>``."""
    return sorted(p.name for p in (sweep / ".submitit").glob("*_*") if p.is_dir())


def array_jobs(sweep: Path) -> set[str]:
    return {task.split("_")[0] for task in tasks(sweep)}


def run_named(sweep: Path, part: str) -> Path:
    (run,) = [p for p in sweep.iterdir() if p.is_dir() and part in p.name.split(",")]
    return run


# --- the tests -------------------------------------------------------------------------------------------
def test_grid_runs_as_one_job_array_with_the_basic_launchers_results(cluster, reference, tmp_path):
    # (``reference`` only starts the uninterrupted runs the later tests compare with, during this one)
    grid = [*TINY, "trainer.max_steps=40", "trainer.log_every_n_steps=5", "z_dim=1,2", "seed=0,1"]
    basic = train(*grid, f"hydra.sweep.dir={tmp_path / 'basic'}")
    assert basic.returncode == 0, basic.stderr
    out = train(*SLURM, *grid, f"hydra.sweep.dir={tmp_path / 'slurm'}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[grid] 4 runs: 4 completed" in out.stdout + out.stderr
    (array,) = array_jobs(tmp_path / "slurm")
    assert tasks(tmp_path / "slurm") == [f"{array}_{i}" for i in range(4)]
    script = (tmp_path / "slurm" / ".submitit" / array / f"{array}_submission.sh").read_text()
    assert "#SBATCH --array=0-3%" in script and "#SBATCH --cpus-per-task=1" in script
    assert len(results(tmp_path / "basic")) == 4
    assert_same_runs(tmp_path / "slurm", tmp_path / "basic")


def test_time_limit_requeues_and_the_run_resumes_to_the_uninterrupted_result(cluster, reference, tmp_path):
    """A two-minute limit on a run that needs more: Slurm's USR2 warning, last.ckpt at that step,
    submitit's requeue, a resume from it; in the end the same run as without a limit."""
    sweep = tmp_path / "limited"
    out = train(*SLURM, *TIME_LIMIT, "hydra.launcher.max_num_timeout=10", *LONG, "z_dim=1", f"hydra.sweep.dir={sweep}")
    assert out.returncode == 0, out.stdout + out.stderr
    log = job_logs(sweep)
    stops = [int(line.split(" at step ")[1].split(";")[0]) for line in log.splitlines()
             if line.startswith("[stopped]") and ": SIGUSR2 at step " in line]
    resumes = [int(line.split(" from step ")[1].split(" of ")[0]) for line in log.splitlines()
               if line.startswith("[resume]")]
    assert stops and resumes == stops, log  # every stop saved a checkpoint the next attempt resumed from
    requeued = [ln for ln in log.splitlines() if ln.startswith("submitit INFO") and "- Requeued job" in ln]
    assert len(requeued) == len(stops)  # (submitit prints each line twice: its logger and Hydra's)
    assert_same_runs(sweep, reference(), [run_named(sweep, "z_dim=1").name])



def test_out_of_requeues_the_run_fails_with_the_reason_and_the_same_command_resumes_it(cluster, reference,
                                                                                     tmp_path):
    """max_num_timeout=0: at Slurm's first warning submitit refuses to requeue; the run saves last.ckpt,
    ends ``failed`` with submitit's reason and the grid exits 1. The same command with requeues allowed
    resumes it from that checkpoint to the uninterrupted result."""
    sweep = tmp_path / "spent"
    common = [*SLURM, *TIME_LIMIT, *LONG, "z_dim=1",
              f"hydra.sweep.dir={sweep}"]
    out = train(*common, "hydra.launcher.max_num_timeout=0")
    assert out.returncode == 1 and "[grid] 1 runs: 1 failed" in out.stdout + out.stderr, out.stdout + out.stderr
    result = json.loads((run_named(sweep, "z_dim=1") / "result.json").read_text())
    assert result["status"] == "failed"
    assert result["error"] == "UncompletedJobError: Job not requeued because: timed-out too many times."
    stopped = [ln for ln in job_logs(sweep).splitlines() if ln.startswith("[stopped]")]
    step = int(stopped[0].split(" at step ")[1].split(";")[0])
    assert len(stopped) == 1 and result["steps"] == step

    again = train(*common, "hydra.launcher.max_num_timeout=10")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f": from step {step} of {STEPS}" in job_logs(sweep)
    assert_same_runs(sweep, reference(), [run_named(sweep, "z_dim=1").name])

def test_scancel_then_the_same_command_skips_finished_runs_and_resumes_the_others(cluster, reference, tmp_path):
    """One run at a time (array_parallelism=1): cancel the array while the second run trains, after its
    first checkpoint; the same command again skips the first run and resumes the second."""
    sweep = tmp_path / "cancelled"
    command = [*SLURM, "hydra.launcher.array_parallelism=1", *SHORT, "z_dim=1,2", f"hydra.sweep.dir={sweep}"]
    proc = submit(*command)
    second = lambda: next(sweep.glob("*z_dim=2*/last.ckpt"), None)  # noqa: E731
    wait_for(lambda: second() is not None and next(sweep.glob("*z_dim=1*/result.json"), None) is not None)
    (array,) = array_jobs(sweep)
    slurm("scancel", array)
    out, _ = proc.communicate(timeout=WAIT_S)  # sacct reports the tasks CANCELLED: the command ends
    assert proc.returncode == 1 and "Traceback" not in out, out
    assert f"error: Slurm job {array}_1 ended without a result (CANCELLED" in out, out
    first = run_named(sweep, "z_dim=1")
    finished_at = (first / "result.json").stat().st_mtime_ns
    assert not (run_named(sweep, "z_dim=2") / "result.json").exists()
    stopped = [ln for ln in job_logs(sweep).splitlines() if ln.startswith("[stopped]")]
    assert len(stopped) == 1 and ": SIGTERM at step " in stopped[0], job_logs(sweep)
    step = int(stopped[0].split(" at step ")[1].split(";")[0])

    again = train(*command)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (first / "result.json").stat().st_mtime_ns == finished_at
    log = job_logs(sweep)
    assert log.count("[skip] ") == 1 and f": from step {step} of {SHORT_STEPS}" in log
    assert_same_runs(sweep, reference(short=True))


def test_preempted_job_resumes(cluster, reference, tmp_path):
    """``scontrol requeue`` (what preemption in REQUEUE mode does): SIGTERM, last.ckpt at that step, Slurm
    starts the job again and it resumes; the submitting command sees one completed run."""
    sweep = tmp_path / "preempted"
    proc = submit(*SLURM, *SHORT, "z_dim=2", f"hydra.sweep.dir={sweep}")
    log = lambda: next(sweep.glob("*z_dim=2*/metrics.jsonl"), None)  # noqa: E731
    wait_for(lambda: log() is not None and len(log().read_text().splitlines()) >= 3)
    (job,) = [p.name for p in (sweep / ".submitit").iterdir() if p.name.isdigit()]  # one run: one plain job
    slurm("scontrol", "requeue", job)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    text = job_logs(sweep)
    stopped = [ln for ln in text.splitlines() if ln.startswith("[stopped]")]
    assert len(stopped) == 1 and ": SIGTERM at step " in stopped[0], text
    step = int(stopped[0].split(" at step ")[1].split(";")[0])
    assert step >= 600 and f": from step {step} of {SHORT_STEPS}" in text
    assert_same_runs(sweep, reference(short=True), [run_named(sweep, "z_dim=2").name])
