"""MLflow tracking: every fit is recorded with its evidence and the data snapshot it saw.

The default tracking store is a local SQLite file under the working folder (``mlflow.db`` beside
the store; file-store backends are gone since MLflow 3.10); ``MLFLOW_TRACKING_URI`` or an explicit
URI selects any other (e.g. an ``mlflow server``). Only masked or hashed identifiers ever reach
MLflow: cards, evidence and configs hold no ID numbers.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import __version__
from .configfile import config_dir
from .points import PointsCard
from .store import Store


def default_tracking_uri(folder: str | Path) -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path(folder).resolve() / 'mlflow.db'}"


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _experiment(client, name: str, artifacts: Path | None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    loc = artifacts.resolve().as_uri() if artifacts is not None else None
    return client.create_experiment(name, artifact_location=loc)


def snapshot_tags(store: Store) -> dict[str, str]:
    """The training snapshot's fingerprint: the store's content hash and its latest export date."""
    latest = store.con.execute("SELECT max(export_date) FROM ingest_batches").fetchall()[0][0]
    return {"xinyi.store_fingerprint": store.fingerprint(), "xinyi.export_date": str(latest),
            "xinyi.version": __version__}


def log_points_fit(card: PointsCard, evidence: dict, store: Store, *, tracking_uri: str,
                   experiment: str = "xinyi-points-card", config_files: list[Path] | None = None,
                   artifacts: Path | None = None) -> str:
    """Log one 信义金 card fit: parameters, AUC/KS/Gini/Brier/ECE, IV per feature, the calibration
    table, the card itself, and the configs and snapshot it came from. Returns the run id."""
    client = _client(tracking_uri)
    exp = _experiment(client, experiment, artifacts)
    tags = {**snapshot_tags(store), "xinyi.train_cutoffs": ",".join(evidence["train_cutoffs"]),
            "xinyi.holdout_cutoff": evidence["holdout_cutoff"], "xinyi.kind": "points_card"}
    run = client.create_run(exp, tags=tags, run_name=f"points-card-{evidence['holdout_cutoff']}")
    rid = run.info.run_id
    try:
        params = {"total": card.total, "max_bins": card.max_bins, "min_bin_share": card.min_bin_share,
                  "alpha": card.alpha, "n_features": len(card.features_), "caps": json.dumps(dict(card.caps or {}), ensure_ascii=False)}
        for k, v in params.items():
            client.log_param(rid, k, v)
        for k in ("auc", "gini", "ks", "brier", "ece", "holdout_outcome_rate", "train_outcome_rate"):
            client.log_metric(rid, k, float(evidence[k]))
        for f, iv in evidence["iv"].items():
            client.log_metric(rid, f"iv.{f}", float(iv))
        client.log_dict(rid, card.to_dict(), "card/points_card.json")
        client.log_dict(rid, evidence, "evidence/evidence.json")
        client.log_text(rid, card.build_table().to_csv(index=False), "card/points_card_table.csv")
        client.log_text(rid, __import__("pandas").DataFrame(evidence["reliability"]).to_csv(index=False),
                        "evidence/reliability.csv")
        files = config_files or [config_dir() / "points" / "card.yaml", config_dir() / "points" / "gate.yaml",
                                 config_dir() / "features" / "person.yaml", config_dir() / "labels.yaml",
                                 config_dir() / "catalog.yaml"]
        for f in files:
            client.log_artifact(rid, str(f), "configs")
        client.set_terminated(rid, "FINISHED")
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
    return rid
