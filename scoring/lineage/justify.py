"""Justification (可解释、可追溯): re-derive a published score or grade exactly, months later.

For a subject and date, ``justify`` finds the published result, loads the exact registered model
version that produced it from the MLflow registry, rebuilds the subject's archive as it was known
when the result was published (:mod:`scoring.archive.snapshot`), re-derives the result and shows:

* the published and the re-derived result, and whether they match;
* the line items (信义金) or the veto and SHAP reasons (grades), with the records behind each
  (type, date, document number);
* the band and its evidence: the observed outcome rate of the grade on the hold-out with its 95%
  interval (grades), or the card's hold-out calibration (信义金, which has no bands);
* the model's metrics from its MLflow run;
* the configs (配置版本): the re-derivation runs with the config bundle the publication recorded
  (:mod:`scoring.lineage.configs`, materialised into a temporary folder and put in force for every
  loader), so a config changed or an industry added since still re-derives the published result; the
  difference to today's configs is listed per file and key, with the bundle the model was fitted
  with. A publication from before bundles is re-derived with today's configs, and says so.

ID numbers of persons appear masked in everything it returns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scoring.archive.snapshot import snapshot
from scoring.archive.store import Store
from scoring.core.errors import DataError, XinyiError
from scoring.core.privacy import mask_id, scrub
from scoring.lineage import configs as cfgs
from scoring.lineage.publish import published_result
from scoring.lineage.registry import load_registered
from scoring.lineage.tracking import using_tracking_uri


def _run_evidence(tracking_uri: str, run_id: str) -> tuple[dict, dict]:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    metrics = dict(client.get_run(run_id).data.metrics)
    try:
        with using_tracking_uri(tracking_uri):
            ev = mlflow.artifacts.load_dict(f"runs:/{run_id}/evidence/evidence.json")
    except Exception:
        ev = {}
    return metrics, ev


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, ensure_ascii=False, default=str))


def configs_record(store: Store, pub: dict, *, tracking_uri: str) -> tuple[cfgs.ConfigBundle | None, dict]:
    """The config bundle a publication recorded (None for one from before bundles) and the record of
    the configs: the publish-time, fit-time (the model's MLflow run) and today's bundle hashes, and
    the difference from the publication's configs to today's (and from the fit's to the
    publication's when they differ), per file and per key."""
    published: str | None = pub.get("config_bundle")
    fit = cfgs.run_bundle_hash(tracking_uri, pub.get("run_id", ""))
    try:
        today: cfgs.ConfigBundle | None = cfgs.capture()
    except XinyiError as exc:  # today's configs unreadable: the publication's still re-derive
        today, today_error = None, scrub(str(exc))
    else:
        today_error = ""
    rec: dict[str, Any] = {
        "published": published,
        "fit": fit,
        "today": today.hash if today else None,
        "in_force": "publication" if published else "today",
    }
    bundle = cfgs.from_store(store, published) if published else None
    kind = str(pub.get("kind", ""))
    if bundle is not None and today is not None:
        diff = _marked(kind, cfgs.difference(bundle, today))
        rec["same_as_today"] = not diff
        rec["difference"] = _jsonable(diff)
        rec["changes"] = cfgs.difference_lines(diff)
        rec["note"] = (
            "re-derived with the configs in force at publication (配置版本 "
            f"{bundle.hash[:12]}); today's configs are "
            + ("the same" if not diff else f"different in {len(diff)} file(s): listed under changes")
        )
    elif bundle is not None:
        rec.update(same_as_today=None, difference=[], changes=[])
        rec["note"] = f"re-derived with the configs in force at publication; today's cannot be read: {today_error}"
    else:
        rec.update(same_as_today=None, difference=[], changes=[])
        rec["note"] = (
            "this publication predates config bundles (配置版本未记录): re-derived with today's configs, "
            "which may differ from those it was published with"
        )
    # the fit's configs, when they are not those of the publication: what changed in between (or,
    # for a publication from before bundles, between the fit and today)
    against = bundle if published else today
    if fit and against is not None and fit != against.hash:
        fitted = _fit_bundle(store, fit, tracking_uri, pub.get("run_id", ""))
        if fitted is not None:
            key = "fit_to_published" if published else "fit_to_today"
            rec[key] = cfgs.difference_lines(_marked(kind, cfgs.difference(fitted, against)))
    return bundle, rec


def _marked(kind: str, diff: list[dict]) -> list[dict]:
    """Each file of a difference marked ``read``: whether this kind of publication reads it."""
    return [{**f, "read": cfgs.read_by(kind, f["file"])} for f in diff]


def _fit_bundle(store: Store, fit: str, tracking_uri: str, run_id: str) -> cfgs.ConfigBundle | None:
    """The bundle a fit logged: kept in the store when a publication used it too, else from MLflow."""
    try:
        return cfgs.from_store(store, fit)
    except XinyiError:
        pass
    try:
        return cfgs.from_run(tracking_uri, run_id)
    except XinyiError:
        return None


@contextlib.contextmanager
def _configs(bundle: cfgs.ConfigBundle | None) -> Iterator[None]:
    if bundle is None:
        yield
        return
    with cfgs.in_force(bundle):
        yield


def justify(store: Store, subject_id: str, as_of, *, tracking_uri: str, publication_id: str | None = None) -> dict:
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    pub = published_result(store, subject_id, as_of, publication_id)
    bundle, configs = configs_record(store, pub, tracking_uri=tracking_uri)
    model, reg = load_registered(tracking_uri, pub["model_name"], alias=None, version=pub["model_version"])
    if getattr(model, "version_", pub["model_content_version"]) != pub["model_content_version"]:
        raise DataError(
            f"registered {pub['model_name']} v{pub['model_version']} is not the model that was published "
            f"(content {model.version_} vs {pub['model_content_version']})"
        )
    metrics, ev = _run_evidence(tracking_uri, pub["run_id"])
    head = {
        "subject": mask_id(subject_id),
        "as_of": as_of.isoformat(),
        "publication_id": pub["publication_id"],
        "kind": pub["kind"],
        "model": {
            "name": pub["model_name"],
            "version": pub["model_version"],
            "content_version": pub["model_content_version"],
            "run_id": pub["run_id"],
        },
        "data_snapshot": {"batch": pub["store_batch"], "fingerprint": pub["store_fingerprint"]},
        "published": pub["result"],
        "metrics": metrics,
        "configs": configs,
    }
    with tempfile.TemporaryDirectory() as d, _configs(bundle):
        with snapshot(store, pub["store_batch"], [subject_id], Path(d) / "snapshot.duckdb") as snap:
            if pub["kind"] == "grade_list":
                out = _grade(snap, model, subject_id, as_of, pub, ev)
            else:
                out = _score(snap, model, subject_id, as_of, pub, ev)
    return {**head, **out, "match": out["rederived"] == pub["result"] and out.get("detail_match", True)}


def _grade(snap: Store, model, subject_id: str, as_of: dt.date, pub: dict, ev: dict) -> dict:
    from scoring.grades.explain import explain_organisation

    e = explain_organisation(snap, model, subject_id, as_of, industry=pub["scope"])
    band = next((g for g in ev.get("per_grade", []) if g["grade"] == e["grade"]), None)
    published_p = pub["detail"].get("probabilities", {})
    detail_match = all(abs(published_p[k] - e["probabilities"][k]) <= 1e-9 for k in published_p) and set(
        published_p
    ) == set(e["probabilities"])
    return {
        "rederived": e["grade"],
        "detail_match": detail_match,
        "probabilities": e["probabilities"],
        "veto": e["veto"],
        "rules": e["rules"],
        "reasons": e["reasons"],
        "shap": e["shap"],
        "supervision": e["supervision"],
        "previous_grade": e["previous_grade"],
        "band_evidence": band
        and {
            **band,
            "holdout_cutoff": ev.get("holdout_cutoff"),
            "what": "该等级在留出期的实际严重违法失信发生率及95%置信区间",
        },
        "calibration": ev.get("calibration"),
    }


def _score(snap: Store, card, subject_id: str, as_of: dt.date, pub: dict, ev: dict) -> dict:
    from scoring.points.personal import explain_person

    e = explain_person(snap, card, subject_id, as_of)
    result = str(e["points"]) if e["status"] == "scored" else "suspended"
    return {
        "rederived": result,
        "status": e["status"],
        "items": e["items"],
        "reason": e.get("reason"),
        "band_evidence": {
            "what": "信义金不分等级：卡片在留出期的校准证据",
            "auc": ev.get("auc"),
            "ks": ev.get("ks"),
            "ece": ev.get("ece"),
            "holdout_cutoff": ev.get("holdout_cutoff"),
            "reliability": ev.get("reliability"),
        },
    }


def to_text(j: dict) -> str:
    lines = [
        f"{j['subject']} as of {j['as_of']} — publication {j['publication_id']}",
        f"published {j['published']} · re-derived {j['rederived']} · {'MATCH' if j['match'] else 'MISMATCH'}",
        f"model {j['model']['name']} v{j['model']['version']} ({j['model']['content_version']}), run {j['model']['run_id']}",
        f"data snapshot: batch {j['data_snapshot']['batch']}, fingerprint {j['data_snapshot']['fingerprint'][:16]}…",
        *config_lines(j.get("configs") or {}),
    ]
    return (
        "\n".join(lines)
        + "\n"
        + json.dumps(
            {
                k: j[k]
                for k in j
                if k
                not in (
                    "subject",
                    "as_of",
                    "publication_id",
                    "published",
                    "rederived",
                    "match",
                    "model",
                    "data_snapshot",
                    "configs",
                )
            },
            ensure_ascii=False,
            indent=1,
            default=str,
        )
    )


def config_lines(c: dict) -> list[str]:
    """The configs part of a justification as lines: the bundles and the changes since publication."""
    if not c:
        return []

    def short(h: str | None) -> str:
        return h[:12] if h else "not recorded"

    lines = [
        f"configs (配置版本): published {short(c.get('published'))} · fitted {short(c.get('fit'))} · "
        f"today {short(c.get('today'))} — {c.get('note', '')}"
    ]
    lines += [f"  {x}" for x in c.get("changes", [])]
    for key, what in (("fit_to_published", "the publication"), ("fit_to_today", "today")):
        if c.get(key):
            lines.append(f"  changed between the fit and {what}:")
            lines += [f"    {x}" for x in c[key]]
    return lines


def verify_publication(store: Store, publication_id: str, *, tracking_uri: str) -> dict:
    """Re-derive every result of a publication at once (the archive as known at publication, the
    registered model version, the configs in force at publication) and count the matches; the
    mismatches are listed (masked), the configs as in :func:`justify`."""
    import pandas as pd

    from scoring.grades.lists import grade_population
    from scoring.lineage.publish import publication, score_rows
    from scoring.points.personal import score_persons

    pub = publication(store, publication_id)
    bundle, configs = configs_record(store, pub, tracking_uri=tracking_uri)
    model, _ = load_registered(tracking_uri, pub["model_name"], alias=None, version=pub["model_version"])
    published = store.sql(
        "SELECT subject_id, result, detail FROM published_results WHERE publication_id = ?", [publication_id]
    )
    as_of = dt.date.fromisoformat(pub["as_of"])
    with tempfile.TemporaryDirectory() as d, _configs(bundle):
        with snapshot(store, pub["store_batch"], list(published["subject_id"]), Path(d) / "snapshot.duckdb") as snap:
            if pub["kind"] == "grade_list":
                g = grade_population(snap, model, as_of, industry=pub["scope"]).graded
                again = pd.Series(g["grade"], index=g.index)
            else:
                rows = score_rows(score_persons(snap, model, as_of)).set_index("subject_id")
                again = rows["result"]
    got = published["subject_id"].map(again)
    ok = (got == published["result"]).to_numpy()
    bad = published.loc[~ok, "subject_id"].map(mask_id).tolist()
    return {
        "publication_id": publication_id,
        "rows": int(len(published)),
        "matched": int(ok.sum()),
        "mismatched": bad[:20],
        "all_match": bool(ok.all()),
        "configs": configs,
    }
