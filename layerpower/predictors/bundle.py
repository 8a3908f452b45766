"""``PredictorBundle``: trained predictors of one device on disk, in safe formats, with a checked manifest.

Layout of a bundle folder::

    manifest.json                 family, device, power source, feature lists, library versions, training data
                                  hash, calibration, interval bands, evaluation figures, sha256 of every file
    <target>/<kind>.json          the kind's features (FeatureSpec) and the regressor's parameters/state
    <target>/<kind>.xgb.json      xgboost family: the booster (``Booster.save_model``, JSON)
    <target>/<kind>.forest.npz    random-forest family: the trees' arrays (numpy, ``allow_pickle=False``;
                                  see :mod:`layerpower.predictors.forest`)
    <target>/<kind>.skops         polynomial family: the regressor (skops; loaded with an explicit list of
                                  trusted types, never pickle)
    correction.json               a calibrated bundle only: the device correction on top of the reference
                                  regressors (:mod:`layerpower.predictors.correction`, plain coefficients);
                                  the manifest's ``calibrated`` entry holds its provenance

Loading verifies the manifest before reading a model: format and schema versions, feature lists equal to this
version's, every file present with its recorded sha256, and the major versions of the libraries that wrote
the models. Any mismatch raises :class:`~layerpower.errors.BundleError` naming the file and what to do.
"""

from __future__ import annotations

import json
import platform
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from layerpower.config import FEATURES_BY_KIND, FEATURES_EXTENDED_BY_KIND, SCHEMA_VERSION
from layerpower.errors import BundleError
from layerpower.predictors.calibration import Calibration
from layerpower.predictors.correction import CORRECTION_FILE, DeviceCorrection
from layerpower.predictors.data import TARGETS, file_sha256
from layerpower.predictors.features import FeatureSpec
from layerpower.predictors.router import LayerKindRouter

BUNDLE_FORMAT = "layerpower-predictors"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"

#: the only types (beyond skops' defaults: numpy, scikit-learn estimators) a bundle's skops files may hold
SKOPS_TRUSTED: tuple[str, ...] = ("layerpower.predictors.regressors.PolynomialLassoRegressor",)

#: libraries whose major version must match between the writer and the reader, per family
_LIBRARIES = {
    "xgboost": ("xgboost", "numpy"),
    "random-forest": ("numpy",),
    "polynomial": ("scikit-learn", "skops", "numpy"),
}


def library_versions() -> dict[str, str]:
    """Versions of python and the libraries that write or read models."""
    out = {"python": platform.python_version()}
    for name in ("layerpower", "numpy", "pandas", "scikit-learn", "xgboost", "skops"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def feature_lists() -> dict[str, dict[str, list[str]]]:
    """This version's feature lists, recorded in and checked against every manifest."""
    return {
        "seed": {k: list(v) for k, v in FEATURES_BY_KIND.items()},
        "extended": {k: list(v) for k, v in FEATURES_EXTENDED_BY_KIND.items()},
    }


@dataclass
class PredictorBundle:
    """Fitted routers (one per target), the device's calibration and interval bands, and their provenance.

    ``bands``: ``{"layer": {kind: {quantity: [lo, hi]}}, "model": {quantity: {"raw"|"calibrated": [lo, hi]}}}``,
    log-ratio bounds of held-out errors (see :mod:`layerpower.predictors.metrics`). ``correction``: a
    calibrated bundle's device correction over the reference regressors, ``calibrated`` its provenance
    (reference device and bundle hash, probes, time, held-out probe error, what stays uncalibrated).
    """

    family: str
    device_id: str
    power_source: str
    is_estimate: bool
    routers: dict[str, LayerKindRouter]
    calibration: Calibration | None
    bands: dict[str, Any]
    coverage: float = 0.9
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    correction: DeviceCorrection | None = None
    calibrated: dict[str, Any] = field(default_factory=dict)

    @property
    def power_label(self) -> str:
        """How the power figures were obtained, for people: ``measured (nvml)`` or ``estimate (...)``."""
        if self.is_estimate:
            return "estimate (no sensor on the profiling machine)"
        return f"measured ({self.power_source})"

    @property
    def layer_types(self) -> list[str]:
        """Operation types of the ``other`` kind seen in training."""
        spec = self.routers[TARGETS[0]].feature_specs_.get("other")
        return list(spec.categories) if spec else []

    @property
    def kinds(self) -> list[str]:
        return list(self.routers[TARGETS[0]].kinds_)


# ---------------------------------------------------------------------------------------------- writing


def _regressor_state(est: Any) -> dict[str, Any]:
    from layerpower.predictors.forest import ForestArrays
    from layerpower.predictors.regressors import PhysicsBoostRegressor

    if isinstance(est, ForestArrays):
        return {"class": "ForestArrays", "n_features_in_": est.n_features_in_, "trees": len(est.offsets)}

    if isinstance(est, PhysicsBoostRegressor):
        return {
            "class": "PhysicsBoostRegressor",
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in est.get_params().items()},
            "log_target_": bool(est.log_target_),
            "base_columns_": list(est.base_columns_),
            "base_coef_": [float(c) for c in est.base_coef_],
            "base_intercept_": float(est.base_intercept_),
            "n_features_in_": int(est.n_features_in_),
        }
    return {"class": type(est).__name__}


def save_bundle(bundle: PredictorBundle, out: str | PathLike[str]) -> Path:
    """Write ``bundle`` into the folder ``out`` (created; existing bundle files replaced) and return it."""
    from layerpower.io import atomic_path, json_safe, write_json_atomic
    from layerpower.predictors.forest import ForestArrays
    from layerpower.predictors.regressors import PhysicsBoostRegressor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    models: dict[str, dict[str, str]] = {}
    for target, router in bundle.routers.items():
        models[target] = {}
        for kind, est in router.estimators_.items():
            stem = f"{target}/{kind}"
            if isinstance(est, PhysicsBoostRegressor):
                model_file = f"{stem}.xgb.json"
                with atomic_path(out / model_file) as tmp:
                    tmp.write_bytes(bytes(est.booster_.save_raw(raw_format="json")))
            elif isinstance(est, ForestArrays) or type(est).__name__ == "RandomForestRegressor":
                est = est if isinstance(est, ForestArrays) else ForestArrays.from_forest(est)
                model_file = f"{stem}.forest.npz"
                with atomic_path(out / model_file) as tmp:
                    est.save(tmp)
            else:
                import skops.io

                model_file = f"{stem}.skops"
                with atomic_path(out / model_file) as tmp:
                    skops.io.dump(est, tmp, compression=zipfile.ZIP_DEFLATED)
            state = {
                "kind": kind,
                "target": target,
                "model_file": model_file,
                "features": router.feature_specs_[kind].to_dict(),
                "regressor": _regressor_state(est),
            }
            write_json_atomic(state, out / f"{stem}.json")
            for name in (model_file, f"{stem}.json"):
                files[name] = file_sha256(out / name)
            models[target][kind] = f"{stem}.json"
    if bundle.correction is not None:
        write_json_atomic(json_safe(bundle.correction.to_dict()), out / CORRECTION_FILE)
        files[CORRECTION_FILE] = file_sha256(out / CORRECTION_FILE)
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device_id": bundle.device_id,
        "family": bundle.family,
        "power_source": bundle.power_source,
        "is_estimate": bundle.is_estimate,
        "targets": list(bundle.routers),
        "router": {
            t: {
                "kind_column": r.kind_column,
                "type_column": r.type_column,
                "min_rows": r.min_rows,
                "roofline": r.roofline,
                "roofline_": list(r.roofline_),
                "rows": {k: int(v) for k, v in r.rows_.items()},
            }
            for t, r in bundle.routers.items()
        },
        "feature_lists": feature_lists(),
        "libraries": library_versions(),
        "training_data": bundle.training,
        "calibration": None if bundle.calibration is None else bundle.calibration.to_dict(),
        "intervals": {
            "method": "split-conformal on leave-one-model-out log-ratio errors",
            "coverage": bundle.coverage,
            "bands": bundle.bands,
        },
        "evaluation": bundle.evaluation,
        "models": models,
        "correction": CORRECTION_FILE if bundle.correction is not None else None,
        "calibrated": bundle.calibrated or None,
        "files": files,
    }
    write_json_atomic(json_safe(manifest), out / MANIFEST)
    bundle.manifest = manifest
    bundle.path = out
    return out


# ---------------------------------------------------------------------------------------------- reading


def read_manifest(path: str | PathLike[str]) -> dict[str, Any]:
    """The manifest of the bundle folder ``path``, checked for format, schema and feature lists."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(
            f"{root}: no predictor bundle here ({MANIFEST} missing)",
            "train one with train-predictors datasets/<device-id>/ or pass --predictors DIR",
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path}: unreadable manifest ({exc})", "retrain the bundle") from None
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("format_version") != BUNDLE_VERSION:
        raise BundleError(
            f"{manifest_path}: format {manifest.get('format')!r} version {manifest.get('format_version')!r}, "
            f"this version reads {BUNDLE_FORMAT!r} version {BUNDLE_VERSION}",
            "retrain the bundle",
        )
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise BundleError(
            f"{manifest_path}: trained on schema version {manifest.get('schema_version')}, this version uses "
            f"{SCHEMA_VERSION}",
            "retrain the bundle on data profiled with this version",
        )
    if manifest.get("feature_lists") != feature_lists():
        raise BundleError(
            f"{manifest_path}: trained with other feature lists than this version's",
            "retrain the bundle with this version",
        )
    return manifest


def _check_files(root: Path, manifest: dict[str, Any]) -> None:
    files = manifest.get("files") or {}
    if not files:
        raise BundleError(f"{root / MANIFEST}: lists no model files", "retrain the bundle")
    for name, digest in files.items():
        path = root / name
        if not path.resolve().is_relative_to(root.resolve()):
            raise BundleError(
                f"{root / MANIFEST}: file {name!r} lies outside the bundle", "retrain the bundle"
            )
        if not path.is_file():
            raise BundleError(f"{path}: missing from the bundle", "retrain the bundle or restore the file")
        if file_sha256(path) != digest:
            raise BundleError(
                f"{path}: sha256 does not match the manifest (file changed after training)",
                "retrain the bundle or restore the original file",
            )


def _check_libraries(root: Path, manifest: dict[str, Any]) -> None:
    written = manifest.get("libraries") or {}
    current = library_versions()
    for name in _LIBRARIES.get(manifest.get("family", ""), ()):
        old, new = str(written.get(name, "")), current.get(name, "absent")
        if new == "absent":
            raise BundleError(
                f"{root}: needs {name} (wrote {old}), which is not installed", f"install {name}"
            )
        if old.split(".")[0] != new.split(".")[0]:
            raise BundleError(
                f"{root}: models written with {name} {old}, installed is {new} (major version differs)",
                "retrain the bundle with the installed libraries",
            )


def _load_regressor(root: Path, state: dict[str, Any]) -> Any:
    reg = state["regressor"]
    model_file = root / state["model_file"]
    if reg["class"] == "PhysicsBoostRegressor":
        import xgboost as xgb

        from layerpower.predictors.regressors import PhysicsBoostRegressor

        est = PhysicsBoostRegressor(
            **{k: (tuple(v) if isinstance(v, list) else v) for k, v in reg["params"].items()}
        )
        booster = xgb.Booster()
        booster.load_model(str(model_file))
        est.booster_ = booster
        est.log_target_ = bool(reg["log_target_"])
        est.base_columns_ = [int(i) for i in reg["base_columns_"]]
        est.base_coef_ = np.asarray(reg["base_coef_"], dtype=np.float64)
        est.base_intercept_ = float(reg["base_intercept_"])
        est.n_features_in_ = int(reg["n_features_in_"])
        return est
    if reg["class"] == "ForestArrays":
        from layerpower.predictors.forest import ForestArrays

        forest = ForestArrays.load(model_file)
        if forest.n_features_in_ != int(reg["n_features_in_"]) or len(forest.offsets) != int(reg["trees"]):
            raise BundleError(
                f"{model_file}: its tree or feature count differs from the bundle's description",
                "retrain the bundle",
            )
        return forest
    import skops.io

    untrusted = set(skops.io.get_untrusted_types(file=model_file)) - set(SKOPS_TRUSTED)
    if untrusted:
        raise BundleError(
            f"{model_file}: holds types this version does not trust: {sorted(untrusted)}",
            "retrain the bundle with this version",
        )
    return skops.io.load(model_file, trusted=list(SKOPS_TRUSTED))


def load_bundle(path: str | PathLike[str]) -> PredictorBundle:
    """Load and verify the bundle in folder ``path`` (raises :class:`BundleError` on any mismatch)."""
    root = Path(path)
    manifest = read_manifest(root)
    _check_files(root, manifest)
    _check_libraries(root, manifest)
    routers: dict[str, LayerKindRouter] = {}
    for target in manifest["targets"]:
        conf = manifest["router"][target]
        router = LayerKindRouter(
            family=manifest["family"],
            kind_column=conf["kind_column"],
            type_column=conf["type_column"],
            min_rows=conf["min_rows"],
            roofline=bool(conf.get("roofline", False)),
        )
        router.routed_ = True
        router.roofline_ = tuple(float(v) for v in conf.get("roofline_", []))
        router.feature_specs_, router.estimators_ = {}, {}
        router.rows_ = {k: int(v) for k, v in conf["rows"].items()}
        for kind, state_file in manifest["models"][target].items():
            try:
                state = json.loads((root / state_file).read_text(encoding="utf-8"))
                router.feature_specs_[kind] = FeatureSpec.from_dict(state["features"])
                router.estimators_[kind] = _load_regressor(root, state)
            except BundleError:
                raise
            except (
                Exception
            ) as exc:  # a corrupt file whose hash was recomputed, a library that cannot read it
                raise BundleError(
                    f"{root / state_file}: cannot load ({type(exc).__name__}: {exc})", "retrain the bundle"
                ) from None
        router.kinds_ = sorted(router.estimators_)
        routers[target] = router
    intervals = manifest.get("intervals") or {}
    calibration = manifest.get("calibration")
    correction = None
    if manifest.get("correction"):
        correction_path = root / str(manifest["correction"])
        if str(manifest["correction"]) not in manifest["files"]:
            raise BundleError(f"{correction_path}: not listed with a sha256 in the manifest", "recalibrate")
        try:
            correction = DeviceCorrection.from_dict(json.loads(correction_path.read_text(encoding="utf-8")))
        except Exception as exc:  # malformed coefficients: refuse the whole bundle
            raise BundleError(
                f"{correction_path}: cannot load ({type(exc).__name__}: {exc})",
                "run layerpower calibrate again",
            ) from None
    return PredictorBundle(
        family=manifest["family"],
        device_id=manifest["device_id"],
        power_source=manifest["power_source"],
        is_estimate=bool(manifest["is_estimate"]),
        routers=routers,
        calibration=None if calibration is None else Calibration.from_dict(calibration),
        bands=_bands_from_json(intervals.get("bands") or {}),
        coverage=float(intervals.get("coverage", 0.9)),
        training=manifest.get("training_data") or {},
        evaluation=manifest.get("evaluation") or {},
        manifest=manifest,
        path=root,
        correction=correction,
        calibrated=manifest.get("calibrated") or {},
    )


def _bands_from_json(value: Any) -> Any:
    """null (a NaN when written) back to NaN."""
    if isinstance(value, dict):
        return {k: _bands_from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [float("nan") if v is None else _bands_from_json(v) for v in value]
    return value
