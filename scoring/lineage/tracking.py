"""MLflow tracking: every fit is recorded with its evidence and the data snapshot it saw.

The default tracking store is a local SQLite file under the working folder (``mlflow.db`` beside
the store; file-store backends are gone since MLflow 3.10); ``MLFLOW_TRACKING_URI`` or an explicit
URI selects any other (e.g. an ``mlflow server``). Only masked or hashed identifiers ever reach
MLflow: cards, evidence and configs hold no ID numbers.

MLflow stores absolute artifact locations; an experiment xinyi creates with its artifact folder
inside the work folder is tagged with that folder relative to the database's folder
(``xinyi.artifact_root``), and :func:`relocate` rewrites the stored locations of a copied or moved
work folder to where it is now. xinyi relocates before it writes (a copy never writes into the
original) but never when it only reads (:mod:`scoring.lineage.registry` resolves model locations
from the database's folder instead, so a read-only copy works too).

:func:`quiet` keeps MLflow's log lines, warnings and prints out of the terminal (DEBUG log).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from scoring import __version__
from scoring.archive.store import Store
from scoring.core.config import config_dir
from scoring.core.errors import DataError
from scoring.core.inert import inert_frame
from scoring.points.card import PointsCard

# xinyi's calls to MLflow are quiet (see quiet()); MLflow's progress bars and usage telemetry are off
# unless the environment says otherwise.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
log = logging.getLogger(__name__)
ARTIFACT_ROOT_TAG = "xinyi.artifact_root"  # an experiment's artifact folder relative to the tracking db's folder


class _ToDebug(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s %s: %s", record.levelname, record.name, record.getMessage())


_CHATTY = ("mlflow", "alembic")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow's chatter during a call — its log records (of any level), warnings (schema hints,
    deprecations) and prints ("Successfully registered model ...") — goes to this module's logger at
    DEBUG, never to the terminal. Errors still raise."""
    buf = io.StringIO()
    loggers = [logging.getLogger(n) for n in _CHATTY]
    saved = [(lg.handlers, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.handlers, lg.propagate = [_ToDebug()], False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                    yield
            finally:
                for w in caught:
                    log.debug("mlflow warning: %s: %s", w.category.__name__, w.message)
                text = buf.getvalue().strip()
                if text:
                    log.debug("mlflow: %s", text)
    finally:
        for lg, (handlers, propagate) in zip(loggers, saved):
            lg.handlers, lg.propagate = handlers, propagate


def local_db(tracking_uri: str) -> Path | None:
    """The database file of a local SQLite tracking URI (``sqlite:///<path>``), else None."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    rest = unquote(tracking_uri[len(prefix) :].split("?")[0])
    return Path(rest) if rest and rest != ":memory:" else None


def local_folder(tracking_uri: str) -> Path | None:
    """The folder of a local SQLite tracking database (the work folder), else None."""
    db = local_db(tracking_uri)
    return db.resolve().parent if db is not None else None


def default_tracking_uri(folder: str | Path) -> str:
    """``$MLFLOW_TRACKING_URI``, else ``mlflow.db`` in ``folder``. (xinyi never leaves the variable
    changed: mlflow.set_tracking_uri writes it, so xinyi only points MLflow somewhere inside
    :func:`using_tracking_uri`.)"""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path(folder).resolve() / 'mlflow.db'}"


@contextlib.contextmanager
def using_tracking_uri(tracking_uri: str) -> Iterator[None]:
    """MLflow's fluent API pointed at ``tracking_uri`` for the block only; the previous URI (and the
    MLFLOW_TRACKING_URI variable that mlflow.set_tracking_uri writes) are restored afterwards, so
    one store's work never leaks into the next call's (a service serves many stores)."""
    import mlflow

    before_env = os.environ.get("MLFLOW_TRACKING_URI")
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
        if before_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before_env


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _experiment(client, name: str, artifacts: Path | None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    loc = artifacts.resolve().as_uri() if artifacts is not None else None
    tags = {}
    folder = local_folder(client.tracking_uri)
    if artifacts is not None and folder is not None and artifacts.resolve().is_relative_to(folder):
        tags[ARTIFACT_ROOT_TAG] = artifacts.resolve().relative_to(folder).as_posix()
    return client.create_experiment(name, artifact_location=loc, tags=tags or None)


_OF_EXPERIMENT = "run_id IN (SELECT run_uuid FROM runs WHERE experiment_id = ?)"


def relocate(tracking_uri: str) -> int:
    """Rewrite the artifact locations in a local SQLite tracking database so they point into the
    folder the database is in now (after the work folder was copied or moved), for MLflow's own tools
    (``models:/`` URIs, ``mlflow models serve``, ``mlflow ui``). Locations are rewritten only for
    experiments xinyi created with an artifact folder inside the work folder. Returns the number of
    rewritten locations (0 when nothing moved)."""
    db = local_db(tracking_uri)
    if db is None:
        raise DataError(f"{tracking_uri}: only a local SQLite tracking store (sqlite:///...) can be relocated")
    if not db.exists():
        return 0
    folder = db.resolve().parent
    changed = 0
    con = sqlite3.connect(db)
    try:
        with con:
            if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'experiment_tags'").fetchall():
                return 0  # not an MLflow database yet
            rows = con.execute(
                "SELECT e.experiment_id, e.artifact_location, t.value FROM experiments e "
                "JOIN experiment_tags t ON t.experiment_id = e.experiment_id AND t.key = ?",
                [ARTIFACT_ROOT_TAG],
            ).fetchall()
            for exp_id, location, rel in rows:
                new = (folder / rel).resolve().as_uri()
                if location == new:
                    continue
                old = location.rstrip("/")
                for table, col, where in (
                    ("experiments", "artifact_location", "experiment_id = ?"),
                    ("runs", "artifact_uri", "experiment_id = ?"),
                    ("logged_models", "artifact_location", "experiment_id = ?"),
                    ("model_versions", "storage_location", _OF_EXPERIMENT),
                    ("model_versions", "source", _OF_EXPERIMENT),
                ):
                    cur = con.execute(
                        f"UPDATE {table} SET {col} = ? || substr({col}, ?) "
                        f"WHERE {where} AND ({col} = ? OR substr({col}, 1, ?) = ?)",
                        [new, len(old) + 1, exp_id, old, len(old) + 1, old + "/"],
                    )
                    changed += cur.rowcount
    finally:
        con.close()
    if changed:
        log.debug("relocated %d artifact locations of %s into %s", changed, db, folder)
    return changed


def snapshot_tags(store: Store) -> dict[str, str]:
    """The training snapshot's fingerprint: the store's content hash and its latest export date."""
    latest = store.con.execute("SELECT max(export_date) FROM ingest_batches").fetchall()[0][0]
    return {
        "xinyi.store_fingerprint": store.fingerprint(),
        "xinyi.export_date": str(latest),
        "xinyi.version": __version__,
    }


def log_run(
    tracking_uri: str,
    experiment: str,
    run_name: str,
    *,
    tags: dict,
    params: dict,
    metrics: dict,
    dicts: dict[str, dict] | None = None,
    texts: dict[str, str] | None = None,
    files: dict[str, list[Path]] | None = None,
    figures: dict | None = None,
    artifacts: Path | None = None,
) -> str:
    """Create one finished run (or a FAILED one if logging breaks) and return its id."""
    if local_folder(tracking_uri) is not None:
        relocate(tracking_uri)  # a copied work folder writes into itself, not into the original
    with quiet():
        client = _client(tracking_uri)
        exp = _experiment(client, experiment, artifacts)
        run = client.create_run(exp, tags=tags, run_name=run_name)
        rid = run.info.run_id
        try:
            for k, v in params.items():
                client.log_param(rid, k, v)
            for k, v in metrics.items():
                client.log_metric(rid, k, float(v))
            for path, d in (dicts or {}).items():
                client.log_dict(rid, d, path)
            for path, t in (texts or {}).items():
                client.log_text(rid, t, path)
            for folder, paths in (files or {}).items():
                for f in paths:
                    client.log_artifact(rid, str(f), folder)
            for path, fig in (figures or {}).items():
                client.log_figure(rid, fig, path)
            client.set_terminated(rid, "FINISHED")
        except BaseException:
            client.set_terminated(rid, "FAILED")
            raise
    return rid


def log_points_fit(
    card: PointsCard,
    evidence: dict,
    store: Store,
    *,
    tracking_uri: str,
    experiment: str = "xinyi-points-card",
    config_files: list[Path] | None = None,
    artifacts: Path | None = None,
) -> str:
    """Log one 信义金 card fit: parameters, AUC/KS/Gini/Brier/ECE, IV per feature, the calibration
    table, the card itself, and the configs and snapshot it came from. Returns the run id."""
    import pandas as pd

    tags = {
        **snapshot_tags(store),
        "xinyi.train_cutoffs": ",".join(evidence["train_cutoffs"]),
        "xinyi.holdout_cutoff": evidence["holdout_cutoff"],
        "xinyi.kind": "points_card",
    }
    params = {
        "total": card.total,
        "max_bins": card.max_bins,
        "min_bin_share": card.min_bin_share,
        "alpha": card.alpha,
        "n_features": len(card.features_),
        "caps": json.dumps(dict(card.caps or {}), ensure_ascii=False),
    }
    metrics = {
        k: evidence[k] for k in ("auc", "gini", "ks", "brier", "ece", "holdout_outcome_rate", "train_outcome_rate")
    }
    metrics.update({f"iv.{f}": iv for f, iv in evidence["iv"].items()})
    files = config_files or [
        config_dir() / "points" / "card.yaml",
        config_dir() / "points" / "gate.yaml",
        config_dir() / "features" / "person.yaml",
        config_dir() / "labels.yaml",
        config_dir() / "catalog.yaml",
    ]
    return log_run(
        tracking_uri,
        experiment,
        f"points-card-{evidence['holdout_cutoff']}",
        tags=tags,
        params=params,
        metrics=metrics,
        dicts={"card/points_card.json": card.to_dict(), "evidence/evidence.json": evidence},
        texts={
            "card/points_card_table.csv": inert_frame(card.build_table()).to_csv(index=False),
            "evidence/reliability.csv": inert_frame(pd.DataFrame(evidence["reliability"])).to_csv(index=False),
        },
        files={"configs": files},
        artifacts=artifacts,
    )


def log_grade_fit(
    model,
    evidence: dict,
    store: Store,
    *,
    tracking_uri: str,
    artifacts: Path | None = None,
    model_path: Path | None = None,
) -> str:
    """Log one industry grade model fit: parameters, hold-out metrics (overall, per class before and
    after calibration, per grade, baselines), reliability diagrams, the model file and its configs."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from scoring.evaluation.plots import class_labels, reliability_figure

    code = evidence["industry"]
    tags = {
        **snapshot_tags(store),
        "xinyi.kind": "grade_model",
        "xinyi.industry": code,
        "xinyi.label": evidence["label"],
        "xinyi.model_version": model.version_,
        "xinyi.train_cutoffs": ",".join(evidence["train_cutoffs"]),
        "xinyi.calibration_cutoff": evidence["calibration_cutoff"],
        "xinyi.holdout_cutoff": evidence["holdout_cutoff"],
    }
    params: dict[str, Any] = {
        "n_features": len(model.features_),
        "n_classes": model.n_classes_,
        "calibration_scale": round(model.calibrator_.scale_, 6),
    }
    for p in ("n_estimators", "learning_rate", "num_leaves", "min_child_samples", "reg_lambda", "seed", "alpha"):
        if isinstance(getattr(model, p, None), (int, float)):
            params[p] = getattr(model, p)
    contender = str(model.info_.get("contender", evidence.get("contender", "lightgbm")))
    tags["xinyi.contender"] = contender
    if evidence.get("champion"):
        ch = evidence["champion"]
        tags |= {"xinyi.champion_rule": ch["rule"], "xinyi.champion_metric": ch["metric"]}
        params |= {"champion_margin": ch["margin"], "champion_min_outcomes": ch["min_outcomes"]}
    keys = (
        "auc",
        "auc_bad_grades",
        "brier_before",
        "ece_before",
        "brier",
        "ece",
        "holdout_outcome_rate",
        "qwk_expert_grade",
        "fit_seconds",
    )
    metrics = {k: evidence[k] for k in keys if k in evidence and evidence[k] == evidence[k]}
    for g in evidence["per_grade"]:
        if g["organisations"]:
            metrics[f"outcome_rate.{g['grade']}"] = g["outcome_rate"]
    for i, c in enumerate(evidence["per_class"]):
        for m in ("ece", "brier", "ece_before", "brier_before"):
            metrics[f"class{i}.{m}"] = c[m]
    for b in evidence.get("baselines", []):
        for m, v in b.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
                metrics[f"baseline.{b['model']}.{m}"] = v
    files = [config_dir() / "industries" / f"{code}.yaml", config_dir() / "grading.yaml", config_dir() / "labels.yaml"]
    feat = config_dir() / "features" / f"{code}.yaml"
    files += [feat] if feat.exists() else []
    files += [config_dir() / "features" / "organisation.yaml"]
    fig = reliability_figure(
        evidence["reliability"],
        class_labels(evidence["classes"]),
        title=f"{code}: hold-out {evidence['holdout_cutoff']}, calibrated",
    )
    try:
        return log_run(
            tracking_uri,
            f"xinyi-grades-{code}",
            f"grades-{code}-{evidence['holdout_cutoff']}",
            tags=tags,
            params=params,
            metrics=metrics,
            dicts={
                "evidence/evidence.json": evidence,
                **({"evidence/champion.json": evidence["champion"]} if evidence.get("champion") else {}),
            },
            texts={
                "model/importance.csv": inert_frame(model.build_table()).to_csv(index=False),
                "evidence/per_grade.csv": inert_frame(pd.DataFrame(evidence["per_grade"])).to_csv(index=False),
                "evidence/per_class.csv": inert_frame(pd.DataFrame(evidence["per_class"])).to_csv(index=False),
                "evidence/baselines.csv": inert_frame(pd.DataFrame(evidence.get("baselines", []))).to_csv(index=False),
                "evidence/reliability.csv": inert_frame(pd.DataFrame(evidence["reliability"])).to_csv(index=False),
            },
            files={"configs": files, **({"model": [model_path]} if model_path else {})},
            figures={"evidence/reliability.png": fig},
            artifacts=artifacts,
        )
    finally:
        plt.close(fig)


def trial_logger(tracking_uri: str, store: Store, code: str) -> Callable[[int, str, dict, float | None], None]:
    """A callback for :func:`scoring.grades.grading.tune_industry` that logs every Optuna trial as an MLflow run."""
    tags = {**snapshot_tags(store), "xinyi.kind": "grade_model_trial", "xinyi.industry": code}

    def on_trial(number: int, state: str, params: dict, value: float | None) -> None:
        log_run(
            tracking_uri,
            f"xinyi-grades-{code}-tuning",
            f"trial-{number}",
            tags={**tags, "xinyi.trial_state": state},
            params=params,
            metrics={} if value is None else {"calibration_rank_score": value},
        )

    return on_trial
