"""Where this machine's calibrated bundles live: the user's data directory, never the package's folder.

``<data dir>/predictors/<device-id>/`` holds the bundle ``layerpower calibrate`` wrote for that device. The
data dir is ``platformdirs.user_data_dir("layerpower")`` (``~/.local/share/layerpower`` on Linux), or
``$LAYERPOWER_DATA_DIR`` when set. A bundle found there is checked before use: a corrupt one, or one whose
manifest names another device, is refused with its path (never loaded half-way).
"""

from __future__ import annotations

import os
from pathlib import Path

from layerpower.errors import BundleError

#: environment variable overriding the user data directory
DATA_DIR_ENV = "LAYERPOWER_DATA_DIR"


def user_data_root() -> Path:
    """The user's layerpower data directory (not created here)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("layerpower"))


def user_bundle_dir(device_id: str) -> Path:
    """``<data dir>/predictors/<device_id>/``: where ``calibrate`` writes this device's bundle."""
    return user_data_root() / "predictors" / device_id


def calibrated_bundle(device_ids: list[str]) -> tuple[Path, str] | None:
    """The first of ``device_ids`` with a calibrated bundle in the data dir, and a sentence saying so.

    A folder without a manifest (e.g. only an interrupted calibration's partial probes) is not a bundle.
    Raises :class:`BundleError` naming the path when the manifest is unreadable or for another device.
    """
    from layerpower.predictors.bundle import MANIFEST, read_manifest

    for device in device_ids:
        root = user_bundle_dir(device)
        if not (root / MANIFEST).exists():
            continue
        manifest = read_manifest(root)  # refuses a corrupt manifest with its path
        if manifest.get("device_id") != device:
            raise BundleError(
                f"{root}: the bundle there is for {manifest.get('device_id')!r}, not this machine's {device!r}",
                f"remove {root} or run layerpower calibrate again",
            )
        info = manifest.get("calibrated") or {}
        when = str(info.get("created", manifest.get("created", "?")))[:10]
        probes = info.get("probes", {}).get("layers", "?") if isinstance(info.get("probes"), dict) else "?"
        return (
            root,
            f"using this machine's calibrated bundle ({root}), calibrated {when} from {probes} probes",
        )
    return None
