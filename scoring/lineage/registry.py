"""The MLflow model registry as the system of record for which model scores.

Every fitted 信义金 card and industry grade model is logged as an MLflow pyfunc model inside the run
that holds its evidence and registered as a new version of ``xinyi-points-card`` or
``xinyi-grades-<industry>``. Aliases (``champion``, ``challenger``) decide which version scores;
:func:`load_registered` returns the exact xinyi object (card or grade model) of a version or alias,
with the version and run it came from; :func:`load_pyfunc` the MLflow model.

**No pickle.** A model is logged *from code* (:mod:`scoring.lineage.model_code`, MLflow's
models-from-code): its artifacts are the card or grade model JSON file (the LightGBM text model
inside) and, for grades, the industry's rules; the ``scoring`` package travels with it
(``code_paths``); its pip requirements name only what an index has — pandas, numpy, lightgbm,
pydantic, ... pinned to this environment's versions (:func:`pip_requirements`), never xinyi itself —
so ``mlflow models serve --env-manager local`` or a fresh virtualenv rebuilds it offline.

**The published output.** The pyfunc gives what publication gives (:mod:`scoring.lineage.serving`):
a card applies the bottom-line gate (a suspended person gets status, reason and end date, never a
number); a grade model applies the band table, the new-entrant rule, the upgrade limit and the vetoes,
with the Chinese grade labels. The signature describes both sides; the input example has no subject.

**A work folder can be copied or moved.** MLflow stores absolute artifact locations in its tracking
database (``mlflow.db``), so ``models:/`` URIs of a copied work folder still point at the original
folder (or nowhere, once it is moved). xinyi therefore records, on every model version whose
artifacts lie under the tracking database's folder, their location relative to that folder (tag
``xinyi.artifact_path``) and resolves it from the database's current folder when loading
(:func:`load_registered`, :func:`load_pyfunc`, :func:`model_path`): a copy loads its own files,
without writing to the copy. Before xinyi writes (a run, a registration) and for plain MLflow tools
(``mlflow models serve -m models:/...``, ``mlflow ui``) on a copied or moved folder,
:func:`~scoring.lineage.tracking.relocate` rewrites the database's artifact locations to the folder
it is in now (a no-op where they already match), so a copy never writes into the original.
``mlflow models serve -m <model_path(...)>`` serves a copy's model without any rewrite.

**Quiet.** MLflow's log lines, warnings and prints ("Registered model ...", schema hints) during
xinyi's calls go to the ``scoring.lineage`` logger at DEBUG (:func:`scoring.lineage.tracking.quiet`).

Only masked or hashed identifiers reach MLflow: the input example is feature values, not subjects.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from scoring.core.errors import DataError, NotFoundError
from scoring.lineage.tracking import local_folder, quiet, relocate, using_tracking_uri

__all__ = [
    "POINTS_NAME",
    "Registered",
    "grades_name",
    "load_pyfunc",
    "load_registered",
    "model_path",
    "pip_requirements",
    "register",
    "register_next",
    "relocate",
    "resolve",
    "set_alias",
    "set_version_tags",
]

log = logging.getLogger(__name__)

POINTS_NAME = "xinyi-points-card"
MODEL_FILE = "model.json"
INDUSTRY_FILE = "industry.json"
ARTIFACT_PATH_TAG = "xinyi.artifact_path"
KIND_TAG = "xinyi.kind"
CONTENDER_TAG = "xinyi.contender"
ROLE_TAG = "xinyi.role"

# What the shipped ``scoring`` package imports when a registered model is loaded and scores
# (tests/test_model_serving.py checks the list against a fresh process).
REQUIREMENTS = ("pandas", "numpy", "scipy", "scikit-learn", "lightgbm", "pydantic", "pyyaml", "duckdb")


def grades_name(industry: str) -> str:
    return f"xinyi-grades-{industry}"


def pip_requirements() -> list[str]:
    """The logged model's pip requirements: :data:`REQUIREMENTS` at this environment's versions
    (MLflow adds itself)."""
    out = []
    for dist in REQUIREMENTS:
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            out.append(dist)
    return out


@dataclass(frozen=True)
class Registered:
    """A registered model version and where it came from."""

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    uri: str


def _package_copy(into: Path) -> Path:
    """The ``scoring`` package's source to ship as the model's code: Python files only (no caches,
    no configs or sample data that may travel inside the package — a model reads neither)."""
    import scoring

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [
            n
            for n in names
            if n == "__pycache__" or ((Path(folder) / n).is_file() and not (n.endswith(".py") or n == "py.typed"))
        ]

    src = Path(scoring.__file__).parent
    dst = into / "scoring"
    shutil.copytree(src, dst, ignore=ignore)
    return dst


def _load_model_file(kind: str, model_path: Path):
    from scoring.grades.model import load_grader
    from scoring.points.card import PointsCard

    if kind == "grade":
        return load_grader(model_path)
    if kind == "card":
        return PointsCard.load(model_path)
    raise DataError(f"kind must be 'grade' or 'card', got {kind!r}")


def _input_example(obj, kind: str, example: pd.DataFrame, industry) -> pd.DataFrame:
    """Three rows in the model's input columns from ``example`` (features; the gate and rule
    columns are taken from it when present, else neutral: not suspended, no previous grade)."""
    from scoring.grades.lists import RULE_COLUMNS, input_features
    from scoring.points.personal import GATE_COLUMNS

    feats = input_features(obj, industry) if kind == "grade" else list(obj.features_)
    missing = sorted(set(feats) - set(example.columns))
    if missing:
        raise DataError(
            f"the example frame lacks the model's features {missing}; pass the feature table it was fitted on"
        )
    X = example[feats].astype("float64").head(3).reset_index(drop=True)
    extra = RULE_COLUMNS if kind == "grade" else GATE_COLUMNS
    neutral: dict[str, Any] = (
        {"previous_grade": None, "registered_on": None, "as_of": str(obj.info_.get("holdout_cutoff", "2000-01-01"))}
        if kind == "grade"
        else {"suspended": False, "suspension_reason": None, "suspended_until": None}
    )
    for c in extra:
        X[c] = example[c].head(3).to_numpy() if c in example.columns else neutral[c]
    return X


def register(
    tracking_uri: str,
    *,
    name: str,
    model_path: Path,
    kind: str,
    run_id: str,
    example: pd.DataFrame,
    aliases: tuple[str, ...] = (),
    industry: str | None = None,
    tags: dict[str, str] | None = None,
) -> Registered:
    """Log the model file as an MLflow pyfunc model from code inside run ``run_id`` (the published
    output; see the module docstring), register it as a new version of ``name`` and set ``aliases``
    on that version. ``example``: a frame with the model's features (e.g. the feature table at a
    cut-off, or :func:`scoring.lineage.serving.model_input`); three rows become the input example.
    ``industry``: a grade model's industry (default: the one it was fitted for). ``tags``: extra
    model version tags; a grader's contender (``xinyi.contender``, e.g. ``expert_sheet``) is always
    tagged."""
    import mlflow

    from scoring.grades.lists import model_industry
    from scoring.lineage import model_code, serving

    if local_folder(tracking_uri) is not None:
        relocate(tracking_uri)  # a copied work folder writes into itself, not into the original
    model_path = Path(model_path)
    obj = _load_model_file(kind, model_path)
    ind = model_industry(obj, industry) if kind == "grade" else None
    inp = _input_example(obj, kind, example, ind)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        shutil.copy(model_path, tmp / MODEL_FILE)
        artifacts = {serving.MODEL_ARTIFACT: str(tmp / MODEL_FILE)}
        if ind is not None:
            (tmp / INDUSTRY_FILE).write_text(json.dumps(serving.industry_config(ind), ensure_ascii=False), "utf-8")
            artifacts[serving.INDUSTRY_ARTIFACT] = str(tmp / INDUSTRY_FILE)
        code = _package_copy(tmp / "code")
        with quiet(), using_tracking_uri(tracking_uri):
            with mlflow.start_run(run_id=run_id):
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=model_code.__file__,
                    artifacts=artifacts,
                    code_paths=[str(code)],
                    model_config={"kind": kind},
                    signature=serving.signature(obj, ind),
                    input_example=inp,
                    pip_requirements=pip_requirements(),
                    registered_model_name=name,
                )
    client = mlflow.MlflowClient(tracking_uri)
    version_ = str(info.registered_model_version)
    with quiet():
        for a in aliases:
            client.set_registered_model_alias(name, a, version_)
        client.set_model_version_tag(name, version_, "xinyi.model_file_version", str(getattr(obj, "version_", "")))
        client.set_model_version_tag(name, version_, KIND_TAG, kind)
        contender = getattr(obj, "info_", {}).get("contender") if kind == "grade" else None
        for key, value in {**({CONTENDER_TAG: str(contender)} if contender else {}), **(tags or {})}.items():
            client.set_model_version_tag(name, version_, key, str(value))
        rel = _relative_location(tracking_uri, client.get_model_version_download_uri(name, version_))
        if rel is not None:
            client.set_model_version_tag(name, version_, ARTIFACT_PATH_TAG, rel)
    return Registered(name, version_, run_id, tuple(aliases), f"models:/{name}/{version_}")


def register_next(
    tracking_uri: str,
    name: str,
    model_path: Path,
    kind: str,
    run_id: str,
    example: pd.DataFrame,
    alias: str | None = None,
    *,
    industry: str | None = None,
    tags: dict[str, str] | None = None,
) -> Registered:
    """Register a fitted model as the next version with ``alias``; by default ``champion`` when the
    name has none yet, else ``challenger`` (a new version never replaces the champion by itself)."""
    if alias is None:
        try:
            resolve(tracking_uri, name, alias="champion")
            alias = "challenger"
        except LookupError:
            alias = "champion"
    return register(
        tracking_uri,
        name=name,
        model_path=model_path,
        kind=kind,
        run_id=run_id,
        example=example,
        aliases=(alias,),
        industry=industry,
        tags=tags,
    )


def set_alias(tracking_uri: str, name: str, alias: str, version: str | int) -> None:
    from mlflow import MlflowClient

    with quiet():
        MlflowClient(tracking_uri).set_registered_model_alias(name, alias, str(version))


def set_version_tags(tracking_uri: str, name: str, version: str | int, tags: dict[str, str]) -> None:
    """Tag a registered version (e.g. the decision that kept a champion: ``xinyi.selection``)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    with quiet():
        for key, value in tags.items():
            client.set_model_version_tag(name, str(version), key, str(value))


def _model_version(tracking_uri: str, name: str, alias: str | None, version: str | int | None):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    try:
        with quiet():
            return (
                client.get_model_version_by_alias(name, alias)
                if alias
                else client.get_model_version(name, str(version))
            )
    except MlflowException as exc:
        what = f"alias {alias!r}" if alias else f"version {version}"
        raise NotFoundError(
            f"registered model {name!r} has no {what} in {tracking_uri}; "
            "fit and register one first (scoring grades fit / scoring points fit)"
        ) from exc


def resolve(tracking_uri: str, name: str, *, alias: str | None = None, version: str | int | None = None) -> Registered:
    """The registered version an alias (or an explicit version) points to."""
    mv = _model_version(tracking_uri, name, alias, version)
    return Registered(
        name, str(mv.version), mv.run_id or "", tuple(getattr(mv, "aliases", []) or ()), f"models:/{name}/{mv.version}"
    )


# -- artifact locations relative to the work folder ------------------------------------------
def _local_path(uri: str) -> Path | None:
    from urllib.parse import unquote, urlparse

    p = urlparse(uri)
    if p.scheme == "file":
        return Path(unquote(p.path))
    if p.scheme == "" and uri:
        return Path(uri)
    return None


def _relative_location(tracking_uri: str, location: str | None) -> str | None:
    """``location`` relative to the tracking database's folder, when it is a local path inside it."""
    folder = local_folder(tracking_uri)
    path = _local_path(location or "")
    if folder is None or path is None:
        return None
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def model_path(
    tracking_uri: str, name: str, *, alias: str | None = "champion", version: str | int | None = None
) -> str:
    """Where a registered version's MLflow model is: a folder under the tracking database's folder as
    it is now (a copied or moved work folder loads its own files), else its ``models:/`` URI."""
    mv = _model_version(tracking_uri, name, None if version is not None else alias, version)
    rel = (mv.tags or {}).get(ARTIFACT_PATH_TAG)
    folder = local_folder(tracking_uri)
    if rel and folder is not None and (folder / rel / "MLmodel").exists():
        return str(folder / rel)
    return f"models:/{name}/{mv.version}"


def load_pyfunc(tracking_uri: str, name: str, *, alias: str | None = "champion", version: str | int | None = None):
    """The registered version as an MLflow pyfunc model (its output is the published output)."""
    import mlflow

    where = model_path(tracking_uri, name, alias=alias, version=version)
    with quiet(), using_tracking_uri(tracking_uri):
        return mlflow.pyfunc.load_model(where)


def load_registered(tracking_uri: str, name: str, *, alias: str | None = "champion", version: str | int | None = None):
    """The xinyi object (a grader of the protocol, or a PointsCard) of a registered version, and its
    :class:`Registered`."""
    import mlflow

    from scoring.grades.model import load_grader
    from scoring.points.card import PointsCard

    reg = resolve(tracking_uri, name, alias=None if version is not None else alias, version=version)
    load: Any = load_grader if name.startswith("xinyi-grades-") else PointsCard.load
    where = model_path(tracking_uri, name, version=reg.version)
    if not where.startswith("models:/"):
        f = Path(where) / "artifacts" / MODEL_FILE
        if f.exists():
            return load(f), reg
    with tempfile.TemporaryDirectory() as d, quiet(), using_tracking_uri(tracking_uri):
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=where, dst_path=d))
        files = sorted((local / "artifacts").glob("*.json")) or sorted(local.rglob("*.json"))
        if not files:
            raise NotFoundError(f"{name} v{reg.version}: the logged model has no model file")
        path = next((f for f in files if f.name == MODEL_FILE), files[0])
        return load(path), reg
