"""The sampled layers' folder: ``<out>/<device-id>/_sampled/{convolutional,pooling,dense,attention,other}.csv, meta.json``.

The files have the profiler's layer schema, with ``model`` = ``_sampled``. One *set* of sampled layers is
kept per dtype (``meta["sets"][dtype]``: seed, n, kinds, batch sizes, the space file's sha256, chunk size,
rejected draws and the finished chunks). Each finished chunk is written at once: its rows replace any rows
of the same names in every kind file (each written atomically), then ``meta.json`` lists the chunk. A chunk
absent from ``meta.json`` is unfinished and is measured again by ``--resume``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from layerpower.config.schema import LAYER_COLUMNS, SCHEMA_VERSION
from layerpower.config.vocab import LAYER_KINDS
from layerpower.errors import LayerpowerError
from layerpower.io import write_csv_atomic, write_json_atomic
from layerpower.profiling.sampled.builders import SAMPLED_MODEL
from layerpower.profiling.writer import META_FILE, ModelFolder, check_output_root, config_key

#: what meta.json says about the empty ``runtime_s`` column
RUNTIME_NOTE = (
    "runtime_s is empty: a sampled layer runs alone, never inside a model, so it has no in-context runtime; "
    "runtime_isolated_s is its runtime"
)
#: the keys of a set that must match for --resume to continue it
IDENTITY_KEYS = ("seed", "n", "kinds", "batch_sizes", "space_sha256", "chunk_size", "power_source")


@dataclass
class SampledFolder:
    """The ``_sampled`` folder of one device."""

    path: Path

    @classmethod
    def at(cls, out: str | Path, device_id: str) -> SampledFolder:
        return cls(check_output_root(out) / device_id / SAMPLED_MODEL)

    def meta(self) -> dict[str, Any]:
        """The folder's meta.json ({} when absent, unreadable or of another schema version)."""
        meta = ModelFolder(self.path).meta()
        return meta if meta.get("schema_version") == SCHEMA_VERSION else {}

    def set_of(self, dtype: str) -> dict[str, Any] | None:
        """The recorded set of ``dtype`` (None when there is none)."""
        sets = self.meta().get("sets")
        entry = sets.get(dtype) if isinstance(sets, dict) else None
        return entry if isinstance(entry, dict) else None

    def done_chunks(self, dtype: str, identity: dict[str, Any]) -> set[int]:
        """The finished chunks of the ``dtype`` set, which must have this ``identity`` (else an error)."""
        entry = self.set_of(dtype)
        if entry is None:
            return set()
        differ = [k for k in IDENTITY_KEYS if entry.get(k) != identity.get(k)]
        if differ:
            shown = ", ".join(f"{k} {entry.get(k)!r} (now {identity.get(k)!r})" for k in differ)
            raise LayerpowerError(
                f"{self.path} holds another sampled {dtype} set: {shown}",
                hint="resume with the same --n, --seed, --kinds, --batch-sizes, space and power source, or "
                "rerun without --resume to replace it",
            )
        chunks = entry.get("chunks")
        return {int(k) for k in chunks} if isinstance(chunks, dict) else set()

    def start_set(
        self, dtype: str, identity: dict[str, Any], facts: dict[str, Any], meta: dict[str, Any]
    ) -> None:
        """Begin a new ``dtype`` set: drop that dtype's rows and record the set with no chunk done."""
        self.path.mkdir(parents=True, exist_ok=True)
        for kind in LAYER_KINDS:
            frame = self._read(kind)
            if len(frame):
                self._write(kind, frame[frame["dtype"].astype(str) != dtype])
        self._update_meta(dtype, meta, set_entry={**identity, **facts, "chunks": {}})

    def write_chunk(
        self,
        dtype: str,
        index: int,
        names: Iterable[str],
        rows: dict[str, list[dict[str, Any]]],
        info: dict[str, Any],
        meta: dict[str, Any],
    ) -> None:
        """Replace the rows of the chunk's spec ``names`` in every kind file, then list the chunk as done."""
        names = set(names)
        self.path.mkdir(parents=True, exist_ok=True)
        self._update_meta(dtype, meta, drop_chunk=index)
        for kind in LAYER_KINDS:
            old = self._read(kind)
            if len(old):
                old = old[~((old["dtype"].astype(str) == dtype) & old["layer_name"].isin(names))]
            new = pd.DataFrame(rows.get(kind, []), columns=LAYER_COLUMNS[kind])
            frames = [f for f in (old, new) if len(f)]
            self._write(kind, pd.concat(frames, ignore_index=True) if frames else new)
        self._update_meta(dtype, meta, add_chunk=(index, info))

    # -- helpers ---------------------------------------------------------------------------------------
    def _read(self, kind: str) -> pd.DataFrame:
        return ModelFolder(self.path).read(f"{kind}.csv", LAYER_COLUMNS[kind])

    def _write(self, kind: str, frame: pd.DataFrame) -> None:
        columns = LAYER_COLUMNS[kind]
        write_csv_atomic(
            frame[columns] if len(frame) else pd.DataFrame(columns=columns), self.path / f"{kind}.csv"
        )

    def _update_meta(
        self,
        dtype: str,
        common: dict[str, Any],
        *,
        set_entry: dict[str, Any] | None = None,
        drop_chunk: int | None = None,
        add_chunk: tuple[int, dict[str, Any]] | None = None,
    ) -> None:
        meta = self.meta()
        sets = dict(meta.get("sets") or {})
        entry = dict(set_entry if set_entry is not None else sets.get(dtype) or {})
        chunks = dict(entry.get("chunks") or {})
        if drop_chunk is not None:
            if str(drop_chunk) not in chunks:
                return
            chunks.pop(str(drop_chunk))
        if add_chunk is not None:
            chunks[str(add_chunk[0])] = add_chunk[1]
        entry["chunks"] = dict(sorted(chunks.items(), key=lambda kv: int(kv[0])))
        entry["chunks_done"] = len(chunks)
        sets[dtype] = entry
        configs = {
            config_key(b, d): {"batch_size": int(b), "dtype": d}
            for d, s in sorted(sets.items())
            for b in s.get("batch_sizes", [])
        }
        meta = {
            **meta,
            **common,
            "model": SAMPLED_MODEL,
            "model_source": "sampled",
            "sampled": True,
            "runtime_s": RUNTIME_NOTE,
            "schema_version": SCHEMA_VERSION,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "configs": configs,
            "sets": dict(sorted(sets.items())),
        }
        write_json_atomic(meta, self.path / META_FILE)
