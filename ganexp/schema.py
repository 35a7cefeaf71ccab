"""The typed schema of a run's config: every key a user can set, with its type, range or choices. The keys of
the groups declared in ganexp/settings.py (system, loss, ema, optim, trainer, logger, norm, metrics) come from there; the rest are listed here.

``check_config(cfg)`` walks every leaf of a resolved run config (the ``hydra`` node excluded) and
raises ConfigError with one sentence that names the key, the value and what is allowed. A leaf
that is not in SCHEMA is an unknown key, answered with the closest known key. The keys listed
here carry ranges and choices; a key of a ``_target_`` class that is not listed (a new loss's coefficient,
a new system's setting) is checked by the type of its constructor default (``constructor_checks``).
tests/test_schema.py feeds every listed key a wrong value and composes every option of every group.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import re
from dataclasses import replace
from typing import Callable

from .checks import (NAME, RESOLUTIONS, STUDIES, Bool, Check, Choice, Int, Members, Num, Optional, Str, Target,
                     _importable, _is_int, _is_num, added_later)
from .config import ConfigError
from .settings import group_checks


SCHEMA: dict[str, Check] = {
    # top level
    "z_dim": Int(1),
    "latent": Choice("uniform", "normal"),
    "seed": Int(0, 2**32 - 1),
    "batch_size": Int(1),
    "sweep": Str(NAME, "a name of letters, digits, '_', '.' or '-'"),
    "data_root": Str(),
    "force": Bool(),
    "launch.jobs_per_gpu": Int(1),
    "launch.fuse": Choice("none", "seed", "hparams", required=False),
    "launch.array_members": Members(),
    "launch.checked": Check("null or a list of 16-hex-digit config digests (set by the grid sweeper)",
                            lambda v: v is None or (isinstance(v, list) and all(
                                isinstance(d, str) and re.fullmatch(r"[0-9a-f]{16}", d) for d in v)),
                            None, ["xyz"], required=False),
    "schedule.*": Int(1),  # experiment files: generator steps per dataset name
    "study": added_later(Optional(Choice(*STUDIES)), "lee2018"),
    "data.placement": Choice("auto", "resident", "streamed"),
    "data.resident_fraction": Num(0, 1, open_lo=True, example=0.25),
    "data.prefetch": Int(1, 64),
    # dataset
    "dataset._target_": Target("ganexp.data"),
    "dataset.name": Str(NAME, "a name of letters, digits, '_', '.' or '-'"),
    "dataset.resolution": Choice(*RESOLUTIONS),
    "dataset.channels": Choice(1, 3),
    "dataset.root": Optional(Str()),
    "dataset.tv_class": Optional(Choice("MNIST", "FashionMNIST", "CIFAR10", "CelebA")),
    "dataset.decode_workers": Optional(Int(1)),
    "dataset.download": Bool(),
    "dataset.path": Optional(Str()),
    "dataset.md5": Optional(Str(r"[0-9a-f]{32}", "32 hexadecimal digits")),
    "dataset.folder": Optional(Str()),
    "dataset.crop": Optional(Int(8)),
    "dataset.cache_dir": Optional(Str()),
    # optimizer
    # model
    "model.name": Str(NAME, "a name of letters, digits, '_', '.' or '-'"),
    "model.width": Int(1),
    "model.max_width": Int(1, required=False),
    "model.generator._target_": Target("ganexp.nets"),
    "model.generator.z_dim": Int(1),
    "model.generator.resolution": Choice(*RESOLUTIONS),
    "model.generator.channels": Choice(1, 3),
    "model.generator.width": Int(1),
    "model.generator.max_resolution": Choice(*RESOLUTIONS, required=False),
    "model.generator.max_width": Int(1, required=False),
    "model.generator.norm": Choice("batch", "layer", "instance", "none", "adain", "pixel"),
    "model.generator.equalized_lr": added_later(Bool(required=False), False),
    "model.equalized_lr": added_later(Bool(required=False), False),
    "model.minibatch_stddev": added_later(Bool(required=False), False),
    "model.discriminator._target_": Target("ganexp.nets"),
    "model.discriminator.resolution": Choice(*RESOLUTIONS),
    "model.discriminator.channels": Choice(1, 3),
    "model.discriminator.width": Int(1),
    "model.discriminator.max_resolution": Choice(*RESOLUTIONS, required=False),
    "model.discriminator.max_width": Int(1, required=False),
    "model.discriminator.norm": Choice("batch", "layer", "instance", "none", "spectral"),
    "model.discriminator.equalized_lr": added_later(Bool(required=False), False),
    "model.discriminator.minibatch_stddev": added_later(Bool(required=False), False),
    "model.autoencoder._target_": Target("ganexp.nets"),
    "model.autoencoder.resolution": Choice(*RESOLUTIONS),
    "model.autoencoder.channels": Choice(1, 3),
    "model.autoencoder.width": Int(1),
    "model.autoencoder.norm": Choice("batch", "layer", "instance", "none", "spectral"),
    "model.autoencoder.h_dim": Int(1),
    **group_checks(),  # system, loss, ema, optim, trainer, logger, norm, metrics=fid: settings.py declares them
}
for _k in [k for k in SCHEMA if k.startswith("model.autoencoder.")]:  # a model family may have no autoencoder
    SCHEMA[_k] = replace(SCHEMA[_k], required=False)
SCHEMA["dataset.download"] = replace(SCHEMA["dataset.download"], required=False)


def leaves(d: dict, prefix: str = ""):
    """(dotted path, value) for every leaf; lists and empty dicts are leaves."""
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from leaves(v, path + ".")
        else:
            yield path, v


def spec_for(path: str) -> Check | None:
    if path in SCHEMA:
        return SCHEMA[path]
    parent = path.rpartition(".")[0]
    return SCHEMA.get(parent + ".*") if parent else None


def closest_key(path: str) -> str | None:
    known = [k for k in SCHEMA if not k.endswith("*")]
    match = difflib.get_close_matches(path, known, n=1, cutoff=0.5)
    if not match:  # a typo in the last part only: compare the last part among all keys
        tails = {k.rpartition(".")[2]: k for k in known}
        m = difflib.get_close_matches(path.rpartition(".")[2], list(tails), n=1, cutoff=0.6)
        match = [tails[m[0]]] if m else []
    return match[0] if match else None


def unknown_key(path: str) -> ConfigError:
    """The error for a key the schema does not know, with the closest known key."""
    hint = closest_key(path)
    return ConfigError(f"unknown key '{path}'" + (f"; did you mean '{hint}'?" if hint else
                       "; see the configuration reference in the README for the keys"))


BY_DEFAULT = {bool: Bool(), int: Check("an integer", _is_int, 1, "abc", required=False),
              float: Check("a number", _is_num, 1.0, "abc", required=False),
              str: Str(required=False), list: Check("a list, e.g. [1,2]", lambda v: isinstance(v, list), [], "x",
                                                    required=False)}


def constructor_checks(cfg: dict, paths: list[str] | None = None) -> dict[str, Check]:
    """Checks for the keys of every ``_target_`` class in the config (a system's, a loss's, a dataset's, a net's)
    that SCHEMA does not list: each constructor argument with a default, through the class's bases, is a key
    checked by the default's type (a tuple default takes a list). So a new module's coefficient
    (``+loss.r1_gamma=10``) is checked without a schema entry."""
    out: dict[str, Check] = {}
    for prefix, node in _target_nodes(cfg):
        if paths is not None and not any(p.startswith(prefix) for p in paths):
            continue  # importing a class costs up to seconds (a system's imports Lightning)
        if not _importable(node.get("_target_")):
            continue  # the _target_ key's own check says so
        module, _, name = node["_target_"].rpartition(".")
        for key, kind in _defaults(getattr(importlib.import_module(module), name)).items():
            if kind in BY_DEFAULT:
                out.setdefault(f"{prefix}{key}", BY_DEFAULT[kind])
    return out


def _target_nodes(d: dict, prefix: str = ""):
    """(dotted prefix with its trailing dot, node) for every dict node with a ``_target_``."""
    if "_target_" in d:
        yield prefix, d
    for k, v in d.items():
        if isinstance(v, dict) and k != "hydra":
            yield from _target_nodes(v, f"{prefix}{k}.")


def _defaults(cls) -> dict[str, type]:
    """{argument: type of its default} over the constructors of ``cls`` and its bases (the subclass's first)."""
    kinds: dict[str, type] = {}
    for c in inspect.getmro(cls) if inspect.isclass(cls) else (cls,):
        init = c.__dict__.get("__init__") if inspect.isclass(c) else c
        if init is None or init is object.__init__:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.default is not inspect.Parameter.empty:
                kinds.setdefault(p.name, list if isinstance(p.default, tuple) else type(p.default))
    return kinds


WALKS = {"count": 0}  # schema walks in this process (tests/test_checked_once.py: one per job)


def check_config(cfg: dict, resolve: Callable[[], dict] | None = None) -> dict:
    """Raise ConfigError for the first unknown, missing or invalid key of a run config, in one walk of its
    leaves; returns the config resolved. ``cfg`` may hold unresolved interpolations (``${norm.g}``): the
    values a user set are checked first, as given, so an error names the key the user set (norm.g, not
    model.generator.norm, and before a resolver reads it); then ``resolve()`` (the same config resolved; None:
    ``cfg`` has no interpolations) gives the interpolated ones, checked last."""
    WALKS["count"] += 1
    body = list(leaves({k: v for k, v in cfg.items() if k != "hydra"}))
    linked = {path for path, v in body if isinstance(v, str) and "${" in v}
    specs = {path: spec_for(path) for path, _ in body}
    # Keys SCHEMA lists first: a bad value answers in a second. A _target_ key or a key only a constructor
    # knows imports its class, and a system's imports Lightning (~10 s), so those come second.
    late = {path for path, spec in specs.items() if spec is None or path.endswith("_target_")}
    for path, value in body:
        if path not in late and path not in linked:
            check_value(path, value, specs[path])
    _check_required(cfg, set(specs))
    resolved = resolve() if resolve is not None else cfg
    values = dict(leaves(resolved))
    unlisted = [path for path, _ in body if specs[path] is None]
    own = constructor_checks(resolved, unlisted) if unlisted else {}
    for path, value in body:
        spec = specs[path] or own.get(path)
        if path in late and spec is None:
            raise unknown_key(path)
        if path in late and path not in linked:
            check_value(path, value, spec)
    for path in (p for p, _ in body if p in linked and p in values):
        check_value(path, values[path], specs[path] or own.get(path))
    return resolved


def _check_required(cfg: dict, seen: set[str]) -> None:
    """A required key of a group that is in the config, but not among its keys ``seen``: one sentence."""
    for path, spec in SCHEMA.items():
        if spec.required and not path.endswith("*") and path not in seen and _group_present(cfg, path):
            raise ConfigError(f"{path} is missing; set it on the command line, e.g. +{path}={_show(spec.example)}")


def check_value(path: str, value, spec: Check | None = None):
    """``value`` when it is allowed for ``path``, else ConfigError in the one sentence every key's error has;
    the rule is SCHEMA's (or ``spec``), also for code that reads a key outside a composed config (the GPU
    slot resolver, the metrics library)."""
    spec = spec or spec_for(path)
    if spec is None:
        raise unknown_key(path)
    if not spec.ok(value):
        raise ConfigError(f"{path}={_show(value)} is not allowed: {path} must be {spec.allowed}")
    return value


def _group_present(cfg: dict, path: str) -> bool:
    """Required keys of a group count only when the group itself is in the config."""
    head = path.split(".")[0]
    return "." not in path or isinstance(cfg.get(head), dict)


def _show(v) -> str:
    if isinstance(v, str):
        return repr(v) if v == "" or " " in v else v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    return str(v).replace(" ", "")
