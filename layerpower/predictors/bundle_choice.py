"""Which predictor bundle a prediction uses: the bundles shipped in the package, this machine's device ids,
the nearest shipped device, and the user's calibrated bundle first (:func:`resolve_predictors`); bundles
loaded once per process (:func:`get_bundle`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from layerpower.errors import BundleError
from layerpower.predictors.bundle import MANIFEST, PredictorBundle, load_bundle

BUNDLED_ROOT = Path(__file__).resolve().parent / "bundled"


def bundled_devices(root: Path = BUNDLED_ROOT) -> list[str]:
    """Device ids of the bundles shipped inside the package, sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file())


def nearest_device(devices: Sequence[str], mine: Sequence[str]) -> str:
    """The one of ``devices`` whose id shares the most leading ``-``-separated words with one of ``mine``
    (``cpu-amd-epyc-2c`` is nearer ``cpu-amd-epyc-4c`` than ``cpu-intel-xeon-2c``); ties: the first sorted."""

    def shared(device: str) -> int:
        words = device.split("-")
        return max((len(os.path.commonprefix([words, other.split("-")])) for other in mine), default=0)

    return max(sorted(devices), key=shared)  # max keeps the first of equals


def this_machine_ids(gpu: bool = True) -> list[str]:
    """Device ids of this machine, GPU first (``gpu=False``: the CPU only); none where they cannot be read."""
    from layerpower.hardware import device_id

    ids: list[str] = []
    for device in ("cuda", "cpu") if gpu else ("cpu",):
        try:
            ids.append(device_id(device))
        except Exception:  # no GPU / unreadable: not this machine's device
            continue
    return ids


def resolve_predictors(
    device_id: str | None = None, predictors: str | PathLike[str] | None = None
) -> tuple[Path, str]:
    """The bundle folder to use and a sentence saying why it was chosen.

    ``predictors`` is a bundle folder, or a folder of bundles (``<device-id>/``); without it, this machine's
    calibrated bundle in the user data dir (:mod:`layerpower.predictors.locations`) when there is one for
    ``device_id`` (or this machine), else the bundles shipped in the package. ``device_id`` picks a bundle;
    without it, this machine's if there is one, else the only (or first) one, named as another device's.
    """
    if predictors is None:
        from layerpower.predictors.locations import calibrated_bundle

        mine = this_machine_ids()
        found = calibrated_bundle([device_id] if device_id is not None else mine)
        if found is not None:
            return found
    if predictors is not None:
        root = Path(predictors)
        if (root / MANIFEST).is_file():
            return root, str(root)
        if not root.is_dir():
            raise BundleError(f"{root}: no such predictor folder", "train one with train-predictors")
        return _choose(root, device_id, where=str(root))
    return _choose(BUNDLED_ROOT, device_id, where="bundled with the package")


def _choose(root: Path, device_id: str | None, where: str) -> tuple[Path, str]:
    devices = bundled_devices(root)
    if not devices:
        raise BundleError(
            f"no predictor bundle found ({where}: {root})",
            "train one with train-predictors datasets/<device-id>/ and pass --predictors DIR",
        )
    if device_id is not None:
        if device_id not in devices:
            raise BundleError(
                f"no predictors for device {device_id!r} ({where})", f"available: {', '.join(devices)}"
            )
        return root / device_id, where
    for mine in this_machine_ids(gpu=any(not d.startswith("cpu-") for d in devices)):
        if mine in devices:
            return root / mine, f"{where}; this machine's device"
    ids = this_machine_ids(gpu=False)
    mine = ", ".join(ids) or "unknown"
    hint = f"this machine is {mine}; run `layerpower calibrate` to fit the predictors to it"
    if len(devices) == 1:
        return root / devices[0], f"{where}; the only bundle, for {devices[0]}, not this machine: {hint}"
    near = nearest_device(devices, ids)
    return root / near, (
        f"{where}; {near}, the nearest of {len(devices)} bundles, none is this machine's: {hint}"
    )


@functools.lru_cache(maxsize=8)
def _cached_bundle(path: str, stamp: int) -> PredictorBundle:
    return load_bundle(path)


def get_bundle(path: str | PathLike[str]) -> PredictorBundle:
    """Load (once per process, until the manifest changes) and verify the bundle in ``path``."""
    resolved = Path(path).resolve()
    try:
        stamp = (resolved / MANIFEST).stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _cached_bundle(str(resolved), stamp)
