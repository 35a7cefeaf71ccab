"""Checks before anything trains: every job of a grid is composed and checked against the schema
first, so one bad value stops the whole grid at once with one sentence, exit code 2, and no folder.

- ``check_command(argv)`` (called by ``ganexp.train.cli``) composes the command's config without its
  sweep values, so composition mistakes (``foo=1``, a bad override syntax) never reach Hydra's
  traceback hint, and fully checks a single run.
- ``GridSweeper`` (``hydra/sweeper=ganexp``, the default; Hydra loads sweepers only from the
  ``hydra_plugins`` package, so it lives in hydra_plugins/ganexp_sweeper) expands a multirun exactly
  like Hydra's basic sweeper, checks every job with ``GridChecker``, and only then launches; after
  the grid it prints one summary line and sets the exit code (``EXIT``) from the jobs' outcomes.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from .config import ConfigError, compose, group_options, register_resolvers
from .identity import RunSpec
from .schema import check_config, spec_for, unknown_key

EXIT = {"code": 0}  # set by the sweeper or a single run; ganexp.train.cli exits with it


def resolved(cfg: DictConfig, resolve: bool = True) -> dict:
    """The run config as plain values without the hydra node; resolution errors become one sentence."""
    if "hydra" in cfg:
        cfg = copy.deepcopy(cfg)
        with open_dict(cfg):
            cfg.pop("hydra")
    try:
        return OmegaConf.to_container(cfg, resolve=resolve)
    except OmegaConfBaseException as err:
        if isinstance(err.__cause__, ConfigError):
            raise err.__cause__ from None
        key = getattr(err, "full_key", None) or "a value"
        m = re.search(r"Interpolation key '([^']+)' not found", str(err))
        parent, _, leaf = m.group(1).rpartition(".") if m else ("", "", "")
        options = OmegaConf.select(cfg, parent) if parent else None
        if isinstance(options, DictConfig):  # e.g. table31's schedule.<dataset> for a dataset it lacks
            raise ConfigError(f"{key} refers to {parent}.{leaf}, which does not exist; {parent} has "
                              f"{', '.join(map(str, options))}") from None
        raise ConfigError(f"cannot resolve {key}: {_first_line(err)}; fix the value it refers to") from None


def check_job(cfg: DictConfig) -> dict:
    """Schema check of one composed job (one walk: ``schema.check_config``); returns the resolved dict, and
    remembers its digest so that the job itself takes it as checked (``job_spec``)."""
    register_resolvers()
    plain = check_config(resolved(cfg, resolve=False), lambda: resolved(cfg))
    check_fusable(plain)
    check_capturable(plain)
    CHECKED.add(spec_digest(plain))
    return plain


CHECKED: set[str] = set()  # digests of the job configs this process checked (the command, or a grid's sweeper)


def spec_digest(plain: dict) -> str:
    """A checked job config's identity from the check to its job: the resolved config less what the sweeper
    adds to a job (launch.checked, launch.array_members), hashed."""
    body = {**plain, "launch": {**plain.get("launch", {}), "checked": None, "array_members": None}}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def job_spec(cfg: DictConfig) -> RunSpec:
    """A job's frozen run spec, its config checked once: taken as given when the command or the grid's sweeper
    checked this very config (this process's CHECKED, or ``launch.checked`` from a sweeper in another process:
    joblib, Slurm); checked here otherwise (a config built in code, or conf/ edited since the check)."""
    register_resolvers()
    plain = resolved(cfg)
    digest = spec_digest(plain)
    handed = plain.get("launch", {}).get("checked")
    if digest in CHECKED or (isinstance(handed, list) and digest in handed):
        return RunSpec.of(plain)
    return RunSpec.of(check_job(cfg))


def check_fusable(cfg: dict) -> None:
    """launch.fuse fuses DCGAN networks of the ``gan`` system (ganexp/nets/fused.py)."""
    fuse = cfg.get("launch", {}).get("fuse", "none")
    if fuse == "none":
        return
    system, model = cfg["system"].get("name"), cfg["model"].get("name")
    if system != "gan" or model != "dcgan":
        raise ConfigError(f"launch.fuse={fuse} fuses runs of system=gan with model=dcgan, not system={system} "
                          f"model={model}; drop launch.fuse={fuse} to train these runs one by one")


def check_capturable(cfg: dict) -> None:
    """trainer.compile on a run set to the CPU: checked here, before any job, by the run's own check
    (``captured.check_device``). Other runs find their device only when they start, and check it then."""
    trainer = cfg.get("trainer", {})
    if trainer.get("compile", "none") != "none" and trainer.get("accelerator") == "cpu":
        from .systems.captured import check_device

        check_device(trainer)


def translate(err: Exception, overrides: Sequence[str]) -> ConfigError:
    """A Hydra/OmegaConf composition error as one sentence that says what to do."""
    text = _first_line(err)
    m = re.search(r"Could not override '([^']+)'", text) or re.search(r"Key '([^']+)' is not in struct", text)
    if m:
        key = m.group(1)
        if spec_for(key) is not None:
            group = key.split(".")[0]
            return ConfigError(f"'{key}' is not a key of the chosen {group} config; pick a {group} option that has it "
                               f"(see conf/{group}/)")
        return unknown_key(key)
    m = re.search(r"Could not append to config. An item is already at '([^']+)'", text)
    if m:
        return ConfigError(f"'{m.group(1)}' already exists, so '+{m.group(1)}=...' cannot add it; "
                           f"write {m.group(1)}=VALUE to change it")
    m = re.search(r"Could not find '([^']+)'", text)
    if m:
        group = m.group(1).rsplit("/", 1)[0]
        known = group_options(group) or []
        choices = f"; choose one of: {', '.join(known)}" if known else ""
        return ConfigError(f"there is no config '{m.group(1)}'{choices}")
    return ConfigError(f"cannot compose the config from {' '.join(overrides) or 'the defaults'}: {text}")


def _first_line(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip() and not ln.startswith(("full_key", "object_type"))]
    return (lines[0] if lines else type(err).__name__).rstrip(".")


def parse(overrides: Sequence[str]) -> list:
    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as err:
        raise ConfigError(f"cannot read the override: {_first_line(err)}; write key=value") from None


def check_command(argv: Sequence[str]) -> None:
    """Compose the command's config (sweep values left out) and, for a single run, check it fully."""
    multirun = any(a in ("-m", "--multirun") for a in argv)
    overrides = [a for a in argv if not a.startswith("-")]
    parsed = parse(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    if not multirun and len(fixed) != len(parsed):
        raise ConfigError("a comma-separated list of values sweeps a grid; add -m to run one job per value")
    try:
        cfg = compose(fixed)
    except (HydraException, OmegaConfBaseException) as err:
        raise translate(err, fixed) from None
    if not multirun:
        check_job(cfg)


# --- the grid ----------------------------------------------------------------------------------------
def _plain(override) -> bool:
    """A value for an existing non-group key: applied to a composed copy instead of recomposing."""
    key = override.key_or_group
    return (override.package is None and not override.is_add() and not override.is_delete()
            and not override.is_force_add() and "/" not in key and not key.startswith("hydra")
            and group_options(key) is None)


class GridChecker:
    """Composes each distinct structure of a grid once (groups, +/~ keys) and applies plain values on a
    copy: a 504-run grid costs ~30 compositions instead of 504 (~0.15 s each)."""

    def __init__(self, loader, master: DictConfig):
        self.loader, self.master = loader, master
        self.cache: dict[tuple, dict] = {}  # structure -> composed config without its hydra node

    def check(self, job: Sequence[str], label: Sequence[str] = ()) -> dict:
        """Compose and check one job (returns its resolved config); ``label``: the overrides that set this
        job apart (for the message)."""
        parsed = OverridesParser.create().parse_overrides(list(job))
        structure = tuple(o.input_line for o in parsed if not _plain(o))
        if structure not in self.cache:
            try:
                composed = self.loader.load_sweep_config(self.master, list(structure))
            except (HydraException, OmegaConfBaseException) as err:
                raise translate(err, job) from None
            self.cache[structure] = {k: v for k, v in OmegaConf.to_container(composed).items() if k != "hydra"}
        check_folder_name(parsed, self.master)
        cfg = OmegaConf.create(self.cache[structure])
        OmegaConf.set_struct(cfg, True)  # as in Hydra: a value for a key that does not exist is an error
        for o in (o for o in parsed if _plain(o)):
            try:
                OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True)
            except OmegaConfBaseException as err:
                raise translate(err, job) from None
        try:
            return check_job(cfg)
        except ConfigError as err:
            raise ConfigError(f"{err} (in the job {','.join(label)})" if label else str(err)) from None


NAME_MAX = 255  # bytes in one file or folder name (ext4, XFS, NFS, Lustre alike)


def overrides_dirname(parsed: list, exclude: Sequence[str], item_sep: str, kv_sep: str) -> str:
    """Hydra's ``override_dirname`` of parsed overrides: their input lines less the excluded keys, sorted, joined by
    item_sep, '=' as kv_sep (Hydra 1.3's private ``config_loader_impl.get_overrides_dirname``, written on its public
    Override; tests/test_hydra_private.py holds the two equal)."""
    lines = sorted(o.input_line for o in parsed if o.key_or_group not in set(exclude))
    return item_sep.join(lines).replace("=", kv_sep)


def check_folder_name(parsed: list, master: DictConfig) -> None:
    """A job's run folder is named by its overrides (Hydra's override_dirname); a name past NAME_MAX fails at mkdir,
    after other jobs ran."""
    conf = OmegaConf.select(master, "hydra.job.config.override_dirname")
    if conf is None:
        return
    name = overrides_dirname(parsed, conf.exclude_keys or [], conf.item_sep, conf.kv_sep)
    items = len([o for o in parsed if o.key_or_group not in set(conf.exclude_keys or [])])
    longest = max(len(part.encode()) for part in name.split("/"))  # a value's "/" makes subfolders
    if longest > NAME_MAX:
        raise ConfigError(f"the run folder's name, its {items} overrides ({longest} bytes), is longer "
                          f"than the {NAME_MAX} bytes a folder name may have; move the settings every job shares into "
                          f"an experiment file (conf/experiment/, then experiment=NAME) or a config group option")


def summarize(outcomes: list[dict]) -> int:
    """One line for the grid; exit code 2 if a job had a user error, 3 if a run stopped on a folder it could
    not write (a full disk: train.FolderFault), 1 if a run failed, else 0."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    print(f"[grid] {len(outcomes)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), flush=True)
    if counts.get("error"):
        return 2
    if counts.get("stopped"):
        return 3
    return 1 if counts.get("failed") else 0
