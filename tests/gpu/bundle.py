"""The wheels a bare GPU machine lacks for a ``logger=none`` run of ganexp, and the check that they suffice.

    python tests/gpu/bundle.py build DEST     # what `make gpu-bundle` runs: DEST/*.whl for CPython 3.12
    python tests/gpu/bundle.py check DEST     # every requirement met by DEST or by the machine's packages

The GPU machine (tests/gpu/machine-packages.txt: its Python, and the packages its image holds) has no
network and takes at most 64 MiB of files per call. Its python3 lacks hydra-core, omegaconf,
antlr4-python3-runtime and torch-fidelity; the bundle holds those at the versions installed beside this
script (what the suite tested), and whatever they need that the machine lacks, found by walking each
wheel's Requires-Dist under the machine's environment markers. antlr4-python3-runtime 4.9 has no wheel on
PyPI: its sdist is built into one (pure Python, ``py3-none-any``). wandb and the Slurm and joblib launchers
stay out: a ``logger=none`` run with Hydra's basic launcher imports none of them.
"""
from __future__ import annotations

import argparse
import email.parser
import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

HERE = Path(__file__).resolve().parent
MACHINE_LIST = HERE / "machine-packages.txt"
ROOTS = ["hydra-core", "omegaconf", "antlr4-python3-runtime", "torch-fidelity"]
# ganexp's dependencies a logger=none run with the basic launcher never imports (pyproject.toml's list minus these
# must be on the machine or in the bundle).
NOT_NEEDED = {"wandb": "logger=none", "hydra-joblib-launcher": "hydra/launcher=basic",
              "hydra-submitit-launcher": "hydra/launcher=basic"}
LIMIT_BYTES = 64 * 2**20
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]


def machine() -> tuple[dict[str, str], dict[str, Version | None]]:
    """(environment markers, {package: version or None}) of the GPU machine, from machine-packages.txt."""
    markers: dict[str, str] = {}
    packages: dict[str, Version | None] = {}
    for line in MACHINE_LIST.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("marker "):
            key, _, value = line[len("marker "):].partition("=")
            markers[key.strip()] = value.strip()
        elif line:
            name, _, version = line.partition("==")
            packages[canonicalize_name(name)] = Version(version) if version else None
    return markers, packages


def wheel_requirements(wheel: Path) -> tuple[str, Version, list[Requirement]]:
    """(name, version, Requires-Dist) read from a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(z.read(meta_name).decode())
    return (canonicalize_name(meta["Name"]), Version(meta["Version"]),
            [Requirement(r) for r in meta.get_all("Requires-Dist") or []])


def needed(reqs: list[Requirement], markers: dict[str, str]) -> list[Requirement]:
    """The requirements that apply on the machine (its markers, no extras asked for)."""
    return [r for r in reqs if r.marker is None or r.marker.evaluate({**markers, "extra": ""})]


def unmet(req: Requirement, bundled: dict[str, Version], packages: dict[str, Version | None]) -> str | None:
    """Why ``req`` is not met by the bundle or the machine, or None."""
    name = canonicalize_name(req.name)
    if name in bundled:
        ok = req.specifier.contains(bundled[name], prereleases=True)
        return None if ok else f"bundled {name} {bundled[name]} is not {req.specifier}"
    if name in packages:
        have = packages[name]
        ok = have is None or req.specifier.contains(have, prereleases=True)
        return None if ok else f"the machine's {name} {have} is not {req.specifier}"
    return f"{name} is neither on the machine nor in the bundle"


def pip(*args: str, quiet: bool = False) -> None:
    """pip in this interpreter; ``quiet``: its errors are expected (a first try) and not shown."""
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True,
                   stderr=subprocess.DEVNULL if quiet else None)


def fetch(name: str, dest: Path, markers: dict[str, str]) -> Path:
    """One wheel of ``name`` at the version installed here, for the machine's Python, into ``dest``."""
    pin = f"{name}=={importlib.metadata.version(name)}"
    before = set(dest.glob("*.whl"))
    try:
        pip("download", "--no-deps", "--only-binary=:all:", "--python-version", markers["python_version"],
            "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(dest), pin, quiet=True)
    except subprocess.CalledProcessError:  # no wheel on the index (antlr4-python3-runtime 4.9): build the sdist
        with tempfile.TemporaryDirectory() as tmp:
            pip("download", "--no-deps", "--no-binary=:all:", "-d", tmp, pin)
            (sdist,) = Path(tmp).iterdir()
            pip("wheel", "--no-deps", "-w", str(dest), str(sdist))
    (wheel,) = set(dest.glob("*.whl")) - before
    return wheel


def build(dest: Path) -> list[Path]:
    """The roots and what they need that the machine lacks, one wheel each."""
    markers, packages = machine()
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    todo, done = list(ROOTS), set()
    while todo:
        name = canonicalize_name(todo.pop(0))
        if name in done:
            continue
        done.add(name)
        _, _, reqs = wheel_requirements(fetch(name, dest, markers))
        todo += [r.name for r in needed(reqs, markers) if canonicalize_name(r.name) not in packages]
    return sorted(dest.glob("*.whl"))


def project_requirements() -> list[Requirement]:
    """ganexp's own dependencies, as installed here (``make setup`` reinstalls when pyproject.toml changes)."""
    reqs = [Requirement(r) for r in importlib.metadata.requires("ganexp") or []]
    return [r for r in reqs if r.marker is None or "extra" not in str(r.marker)]


def check(dest: Path) -> list[str]:
    """Problems of the bundle in ``dest`` for the machine: each line one unmet need, size or wrong tag."""
    markers, packages = machine()
    wheels = sorted(dest.glob("*.whl"))
    problems, bundled, reqs = [], {}, []
    py = "cp" + markers["python_version"].replace(".", "")
    for wheel in wheels:
        name, version, wheel_reqs = wheel_requirements(wheel)
        if name in bundled:
            problems.append(f"two versions of {name} in {dest}: pip would stop at the second")
        bundled[name] = version
        reqs += [(name, r) for r in needed(wheel_reqs, markers)]
        tags = parse_wheel_filename(wheel.name)[3]
        if not any(t.interpreter in ("py3", py) and (t.platform == "any" or t.platform in PLATFORMS) for t in tags):
            problems.append(f"{wheel.name} does not install on CPython {markers['python_version']} x86_64")
    missing_roots = [r for r in ROOTS if canonicalize_name(r) not in bundled]
    problems += [f"{r} is not in the bundle" for r in missing_roots]
    reqs += [("ganexp", r) for r in project_requirements() if canonicalize_name(r.name) not in NOT_NEEDED]
    problems += [f"{who} needs {r}: {why}" for who, r in reqs if (why := unmet(r, bundled, packages))]
    size = sum(w.stat().st_size for w in wheels)
    if size > LIMIT_BYTES:
        problems.append(f"the bundle is {size / 2**20:.1f} MiB, over the 64 MiB a call may carry")
    return problems


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="tests/gpu/bundle.py", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("build", "check"))
    p.add_argument("dest", type=Path)
    a = p.parse_args(argv)
    if a.action == "build":
        wheels = build(a.dest)
        print("\n".join(f"  {w.name} ({w.stat().st_size / 2**20:.2f} MiB)" for w in wheels))
    problems = check(a.dest)
    for line in problems:
        print(f"gpu bundle: {line}", file=sys.stderr)
    size = sum(w.stat().st_size for w in a.dest.glob("*.whl"))
    print(f"{a.dest}: {len(list(a.dest.glob('*.whl')))} wheels, {size / 2**20:.2f} MiB"
          + ("; every requirement met on the GPU machine" if not problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
