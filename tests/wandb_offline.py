"""Read back what W&B wrote for an offline run: the records in ``offline-run-*/run-<id>.wandb``, i.e.
exactly what ``wandb sync`` would upload. Tests use it to check the W&B side of a run against the run
folder, with the real wandb and no account.

wandb 0.31 ships no Python reader for these files (``wandb.sdk.internal.datastore`` is gone, the reader
now lives in the Go ``wandb-core``, and ``wandb sync`` has no view mode), so this is a small one. The
file is LevelDB's log format: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB blocks
of records, each ``<IHB`` (CRC-32 of type byte + payload, length, type) and a payload; a record too
long for its block is split into FIRST/MIDDLE/LAST pieces, and a block tail shorter than a header is
padding. Each whole payload is one ``wandb_internal_pb2.Record``.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32 * 1024
RECORD_HEADER = struct.Struct("<IHB")  # crc, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """One offline-run folder as W&B recorded it."""
    dir: Path
    id: str
    project: str
    group: str
    name: str
    job_type: str
    tags: list[str]
    resumed: bool
    config: dict
    history: list[dict] = field(default_factory=list)  # one dict per committed step, with _step
    summary: dict = field(default_factory=dict)

    def image_entries(self) -> list[tuple[int, str, dict]]:
        """(step, key, value) of every history value that is a W&B image (``_type: image-file``)."""
        return [(row["_step"], k, v) for row in self.history for k, v in row.items()
                if isinstance(v, dict) and v.get("_type") == "image-file"]

    def media_files(self) -> list[str]:
        """Paths, relative to the run's files/ folder, of the images W&B copied there."""
        files = self.dir / "files"
        return sorted(str(p.relative_to(files)) for p in (files / "media" / "images").glob("*"))


def offline_runs(wandb_dir: Path) -> list[OfflineRun]:
    """Every offline run under ``wandb_dir`` (a ``.../wandb`` folder), oldest first (the folder names
    start with the start time). Waits for this process's wandb-core first: ``run.finish()`` returns before
    it has closed the run's file, which may then hold its header only."""
    import wandb

    wandb.teardown()
    return [read_run(d) for d in sorted(wandb_dir.glob("offline-run-*"))]


def read_run(run_dir: Path) -> OfflineRun:
    (path,) = run_dir.glob("run-*.wandb")
    run = None
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            run = _run_from(run_dir, rec.run)
        elif kind == "config":
            run.config.update(_config_items(rec.config.update))
        elif kind == "history":
            run.history.append(_nested(rec.history.item))
        elif kind == "summary":
            _apply_summary(run.summary, rec.summary)
    if run is None:  # wandb-core writes in blocks: a SIGKILL before the first flush leaves the header only
        raise ValueError(f"{path}: no run record")
    return run


def _run_from(run_dir: Path, r) -> OfflineRun:
    return OfflineRun(dir=run_dir, id=r.run_id, project=r.project, group=r.run_group, name=r.display_name,
                      job_type=r.job_type, tags=list(r.tags), resumed=r.resumed,
                      config=_config_items(r.config.update))


def _config_items(items) -> dict:
    return {it.key: json.loads(it.value_json) for it in items}


def _keys(item) -> list[str]:
    return list(item.nested_key) or [item.key]


def _nested(items) -> dict:
    """History items (a key or a nested key path each, JSON values) as one nested dict."""
    out: dict = {}
    for it in items:
        *parents, last = _keys(it)
        node = out
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = json.loads(it.value_json)
    return out


def _apply_summary(summary: dict, rec) -> None:
    """Summary records are updates and removals of (nested) keys; the run's summary is the last state."""
    for k, v in _nested(rec.update).items():
        if isinstance(v, dict) and isinstance(summary.get(k), dict):
            summary[k].update(v)
        else:
            summary[k] = v
    for it in rec.remove:
        summary.pop(_keys(it)[0], None)


def records(path: Path):
    """The protobuf records of a ``.wandb`` file, in order; a bad header or CRC raises ValueError."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    if data[:len(HEADER)] != HEADER:
        raise ValueError(f"{path}: not a W&B transaction log (header {data[:len(HEADER)]!r})")
    for payload in _payloads(data, len(HEADER)):
        rec = pb.Record()
        rec.ParseFromString(payload)
        yield rec


def _payloads(data: bytes, pos: int):
    """Whole record payloads from ``pos`` on: FULL ones, and FIRST + MIDDLE... + LAST joined."""
    parts: list[bytes] = []
    while pos + RECORD_HEADER.size <= len(data):
        if BLOCK - pos % BLOCK < RECORD_HEADER.size:  # block tail: padding
            pos += BLOCK - pos % BLOCK
            continue
        crc, n, kind = RECORD_HEADER.unpack_from(data, pos)
        payload = data[pos + RECORD_HEADER.size:pos + RECORD_HEADER.size + n]
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) != crc:
            raise ValueError(f"bad CRC in the record at byte {pos}")
        pos += RECORD_HEADER.size + n
        parts = [payload] if kind in (FULL, FIRST) else parts + [payload]
        if kind in (FULL, LAST):
            yield b"".join(parts)
