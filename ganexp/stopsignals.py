"""Save last.ckpt before a job is stopped: Slurm's warning signal and SIGTERM.

Slurm warns a submitit job ``hydra.launcher.signal_delay_s`` before its time limit with USR2 (submitit's
``--signal=USR2@...``), and sends SIGTERM on ``scancel``, on preemption and on ``scontrol requeue``, then
SIGKILL ``KillWait`` seconds later. Without a checkpoint at that moment a requeued run would resume from
the last periodic one (``trainer.ckpt_every_minutes``), and a run whose time limit is shorter than that
would never get further.

While a run trains, :class:`StopSignals` only notes a signal; ``RunHooks.after_step`` then saves last.ckpt
at the end of the generator step in progress (a consistent state, as every periodic checkpoint) and hands
the signal on to the handler that had it before: submitit's USR2 handler requeues the job with its
original pickle and exits; after SIGTERM the run exits with 143 (128 + 15, what a shell reports for a
process that SIGTERM ended), through ``SystemExit`` so that the W&B run is closed and its offline file
complete. Outside ``trainer.fit`` (building, the last writes) the handlers that were there before act at
once: the checkpoint on disk is then the newest state there is.
"""
from __future__ import annotations

import os
import signal
import threading


def preempt_signal() -> signal.Signals:
    """The signal submitit asks Slurm for (``SUBMITIT_PREEMPT_SIGNAL``, default USR2)."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    return getattr(signal, f"SIG{name}", signal.SIGUSR2)


class StopSignals:
    """``with StopSignals() as stop:`` around training; the loop polls ``stop.pending`` and, once it has
    saved a checkpoint, calls ``stop.hand_on()``. The submitit signal is caught only where a handler for it
    exists (under submitit): elsewhere its default action (end the process) is left alone."""

    def __init__(self):
        self.pending: signal.Signals | None = None
        self.previous: dict[signal.Signals, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is not threading.main_thread():
            return self  # signal.signal works only there; such a run keeps the default behaviour
        for sig in (signal.SIGTERM, preempt_signal()):
            before = signal.getsignal(sig)
            if sig == signal.SIGTERM or callable(before):
                self.previous[sig] = before
                signal.signal(sig, self._note)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self.pending is not None and self.previous and exc_type is None:
            self.hand_on()  # came after the last step: the checkpoint on disk is the newest state
        self._restore()

    def _note(self, signum: int, frame) -> None:
        """The handler: remember the first signal; the step in progress finishes first."""
        if self.pending is None:
            self.pending = signal.Signals(signum)
            print(f"[signal] {self.pending.name}: saving last.ckpt after the current step", flush=True)

    def _restore(self) -> None:
        for sig, before in self.previous.items():
            signal.signal(sig, before if before is not None else signal.SIG_DFL)
        self.previous = {}

    def hand_on(self) -> None:
        """After the checkpoint: give the pending signal to the handler it had before, then stop."""
        sig, before = self.pending, self.previous.get(self.pending, signal.SIG_DFL)
        self._restore()
        if callable(before):
            before(sig, None)  # submitit's USR2: requeue the job, then sys.exit(-1)
        raise SystemExit(128 + sig)
