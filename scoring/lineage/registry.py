"""The MLflow model registry as the system of record for which model scores.

Every fitted 信义金 card and industry grade model is logged as an MLflow model (pyfunc, with a
signature inferred from its feature table and output) inside the run that holds its evidence, and
registered as a new version of ``xinyi-points-card`` or ``xinyi-grades-<industry>``. Aliases
(``champion``, ``challenger``) decide which version scores; :func:`load_registered` returns the exact
xinyi object (card or grade model) of a version or alias, with the version and run it came from.

Only masked or hashed identifiers reach MLflow: the input example is feature values, not subjects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
POINTS_NAME = "xinyi-points-card"
MODEL_FILE = "model.json"


def grades_name(industry: str) -> str:
    return f"xinyi-grades-{industry}"


def _pyfunc_base():
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel


class GradePyfunc(_pyfunc_base()):
    """pyfunc wrapper of a :class:`~scoring.grades.model.GradeModel`: features -> calibrated
    probabilities per class and the latent risk score."""

    def load_context(self, context) -> None:
        from scoring.grades.model import GradeModel

        self.model = GradeModel.load(context.artifacts["model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return grade_output(self.model, model_input)


class CardPyfunc(_pyfunc_base()):
    """pyfunc wrapper of a :class:`~scoring.points.card.PointsCard`: features -> line items and points."""

    def load_context(self, context) -> None:
        from scoring.points.card import PointsCard

        self.card = PointsCard.load(context.artifacts["model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return card_output(self.card, model_input)


def grade_output(model, X: pd.DataFrame) -> pd.DataFrame:
    proba = model.predict_proba(X[model.features_])
    out = pd.DataFrame(proba, columns=[f"p_{i}" for i in range(proba.shape[1])], index=X.index)
    out["risk_score"] = model.margin(X[model.features_])
    return out


def card_output(card, X: pd.DataFrame) -> pd.DataFrame:
    items = card.items(X).astype("int64")
    items["points"] = items.sum(axis=1)
    return items


@dataclass(frozen=True)
class Registered:
    """A registered model version and where it came from."""

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    uri: str


def register(
    tracking_uri: str,
    *,
    name: str,
    model_path: Path,
    kind: str,
    run_id: str,
    example: pd.DataFrame,
    aliases: tuple[str, ...] = (),
) -> Registered:
    """Log the model file as an MLflow pyfunc model inside run ``run_id`` (signature inferred from
    ``example`` and the model's output on it), register it as a new version of ``name`` and set
    ``aliases`` on that version."""
    import mlflow
    from mlflow.models import infer_signature

    from scoring import __version__
    from scoring.grades.model import GradeModel
    from scoring.points.card import PointsCard

    if kind == "grade":
        obj, wrapper, out = GradeModel.load(model_path), GradePyfunc(), grade_output
        example = example[obj.features_]
    elif kind == "card":
        obj, wrapper, out = PointsCard.load(model_path), CardPyfunc(), card_output
        example = example[obj.features_]
    else:
        raise ValueError(f"kind must be 'grade' or 'card', got {kind!r}")
    example = example.astype("float64").head(20).reset_index(drop=True)
    signature = infer_signature(example, out(obj, example))
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=wrapper,
            artifacts={"model": str(model_path)},
            signature=signature,
            input_example=example.head(3),
            registered_model_name=name,
            pip_requirements=[f"xinyi=={__version__}"],
        )
    client = mlflow.MlflowClient(tracking_uri)
    version = str(info.registered_model_version)
    for a in aliases:
        client.set_registered_model_alias(name, a, version)
    client.set_model_version_tag(name, version, "xinyi.model_file_version", str(getattr(obj, "version_", "")))
    return Registered(name, version, run_id, tuple(aliases), f"models:/{name}/{version}")


def register_next(
    tracking_uri: str,
    name: str,
    model_path: Path,
    kind: str,
    run_id: str,
    example: pd.DataFrame,
    alias: str | None = None,
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
        tracking_uri, name=name, model_path=model_path, kind=kind, run_id=run_id, example=example, aliases=(alias,)
    )


def set_alias(tracking_uri: str, name: str, alias: str, version: str | int) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri).set_registered_model_alias(name, alias, str(version))


def resolve(tracking_uri: str, name: str, *, alias: str | None = None, version: str | int | None = None) -> Registered:
    """The registered version an alias (or an explicit version) points to."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    try:
        mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, str(version))
    except MlflowException as exc:
        what = f"alias {alias!r}" if alias else f"version {version}"
        raise LookupError(
            f"registered model {name!r} has no {what} in {tracking_uri}; "
            "fit and register one first (scoring grades fit / scoring points fit)"
        ) from exc
    return Registered(
        name, str(mv.version), mv.run_id or "", tuple(getattr(mv, "aliases", []) or ()), f"models:/{name}/{mv.version}"
    )


def load_registered(tracking_uri: str, name: str, *, alias: str | None = "champion", version: str | int | None = None):
    """The xinyi object (GradeModel or PointsCard) of a registered version, and its :class:`Registered`."""
    import tempfile

    import mlflow

    from scoring.grades.model import GradeModel
    from scoring.points.card import PointsCard

    reg = resolve(tracking_uri, name, alias=None if version is not None else alias, version=version)
    mlflow.set_tracking_uri(tracking_uri)
    with tempfile.TemporaryDirectory() as d:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=reg.uri, dst_path=d))
        files = sorted(local.rglob("*.json"))
        path = next((f for f in files if f.parent.name == "artifacts"), None) or files[0]
        obj = GradeModel.load(path) if name.startswith("xinyi-grades-") else PointsCard.load(path)
    return obj, reg
