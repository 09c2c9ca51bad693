"""Snapshots for the nodes of a Ray cluster: a game on another node that seats `snapshot/NAME`, or an EnvRunner there
whose opponents include it, needs the folder that only the driver's machine has.

The driver packs the folders a job names (`pack`: a few hundred KB each) and sends them with the job; each worker
process writes them once into a folder of its node for this job (`unpack`) and resolves snapshot/NAME there.
Only on a cluster that this process joined (plugins/ray_session.py): a local Ray shares this machine's folder.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from arena.settings import SNAPSHOTS_ENV_VAR, snapshots_dir

PREFIX = "snapshot/"
Packed = Mapping[str, Mapping[str, bytes]]  # snapshot name -> {file name: contents}


def pack(specs: Iterable[str]) -> dict[str, dict[str, bytes]]:
    """The folders of the snapshots among these player specs (`snapshot/NAME`, with or without parameters), when
    this process has joined a cluster; {} otherwise, or for names with no folder here (the job reports those)."""
    from .ray_session import joined_cluster

    if not joined_cluster():
        return {}
    packed: dict[str, dict[str, bytes]] = {}
    for spec in specs:
        if not spec.startswith(PREFIX):
            continue
        name = spec[len(PREFIX):].split(":")[0]
        folder = snapshots_dir() / name
        if os.sep in name or name.startswith(".") or name in packed or not (folder / "meta.json").is_file():
            continue
        packed[name] = {f.name: f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file()}
    return packed


def unpack(packed: Packed) -> None:
    """In a Ray worker process: write the packed snapshots into this node's folder for the job (each once; other
    workers of the node may be writing the same) and resolve snapshot/NAME there from now on. Does nothing in the
    driver, whose own folder has them."""
    import ray

    if not packed or ray.get_runtime_context().worker.mode != ray.WORKER_MODE:
        return
    root = Path(tempfile.gettempdir()) / "arena-snapshots" / ray.get_runtime_context().get_job_id()
    for name, files in packed.items():
        folder = root / name
        if (folder / "meta.json").is_file():
            continue
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        for file, data in files.items():
            (staging / file).write_bytes(data)
        try:
            staging.rename(folder)
        except OSError:  # another worker of this node wrote it first
            shutil.rmtree(staging, ignore_errors=True)
    os.environ[SNAPSHOTS_ENV_VAR] = str(root)
