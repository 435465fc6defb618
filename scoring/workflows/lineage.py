"""Lineage workflows: the registry's versions and aliases, and justifying a published result."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scoring.archive.store import Store
from scoring.lineage.configs import ConfigBundle
from scoring.lineage.registry import Registered
from scoring.workflows.workspace import Progress, Workspace, as_date, data_errors, not_found, quiet, resolve_subject

MODEL_PREFIX = "xinyi-"


def list_models(ws: Workspace) -> pd.DataFrame:
    """Every registered xinyi model version: name, version, aliases, MLflow run."""
    from mlflow import MlflowClient

    client = MlflowClient(ws.tracking_uri)
    rows = []
    for m in client.search_registered_models():
        if not m.name.startswith(MODEL_PREFIX):
            continue
        by_version: dict[str, list[str]] = {}
        for a, v in (client.get_registered_model(m.name).aliases or {}).items():
            by_version.setdefault(str(v), []).append(a)
        for v in client.search_model_versions(f"name = '{m.name}'"):
            rows.append(
                {
                    "name": v.name,
                    "version": int(v.version),
                    "aliases": ",".join(sorted(by_version.get(str(v.version), []))),
                    "run_id": v.run_id,
                }
            )
    df = pd.DataFrame(rows, columns=["name", "version", "aliases", "run_id"])
    return df.sort_values(["name", "version"], ignore_index=True)


@dataclass(frozen=True)
class Promotion:
    name: str
    alias: str
    version: str

    def to_dict(self) -> dict:
        return {"name": self.name, "alias": self.alias, "version": self.version}


def promote(ws: Workspace, name: str, version: str, alias: str = "champion") -> Promotion:
    """Point ``alias`` of the registered model ``name`` at ``version`` (e.g. a challenger becomes champion)."""
    from scoring.lineage.registry import resolve, set_alias

    with not_found():
        resolve(ws.tracking_uri, name, version=version)
    set_alias(ws.tracking_uri, name, alias, version)
    return Promotion(name, alias, str(version))


def publish_rows(
    store: Store,
    reg: Registered,
    *,
    kind: str,
    scope: str,
    as_of: dt.date,
    rows: pd.DataFrame,
    content_version: str = "",
    files: list[Path] | None = None,
    configs: ConfigBundle | None = None,
) -> dict:
    """Record results (subject_id, result, detail) as a publication naming the registered version
    that produced them and the config bundle in force (``configs``, default: the configs in force
    now: :func:`scoring.lineage.configs.capture`); publishing identical content again returns the
    same publication."""
    from scoring.lineage.publish import publish

    return publish(
        store,
        kind=kind,
        scope=scope,
        as_of=as_of,
        rows=rows,
        model_name=reg.name,
        model_version=reg.version,
        model_content_version=content_version,
        run_id=reg.run_id,
        files=files or [],
        configs=configs,
    )


def justify_result(
    store: Store,
    ws: Workspace,
    subject: str,
    as_of: dt.date | str,
    *,
    publication: str | None = None,
    progress: Progress = quiet,
) -> dict:
    """Re-derive a published score or grade exactly (the registered version that produced it, the
    archive as known at publication, the configs in force at publication); ``match`` says whether it
    equals the publication, ``configs`` how today's configs differ from those.
    ``subject``: a USCC, an ID number or a person's keyed pseudonym."""
    from scoring.lineage.justify import justify

    day = as_date(as_of, "--as-of")
    sid = resolve_subject(store, subject)
    progress("justify: loading the published version and the archive as known at publication")
    with not_found(), data_errors():
        return justify(store, sid, day, tracking_uri=ws.tracking_uri, publication_id=publication)
