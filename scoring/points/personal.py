"""信义金 personal scores from the store: fit, score, explain, calibrate, scene eligibility.

A thin layer joining the pieces: features (:mod:`scoring.features.builder`), the points card
(:mod:`scoring.points.card`), the bottom-line gate (:mod:`scoring.points.gate`) and scenes (信义+). A person is
either *scored* (an integer 0-1000 with its line items) or *suspended* (reason and the earliest end
date); a person is never given a tier or grade label.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from scoring.archive.catalog import Catalog, load_catalog
from scoring.archive.store import Store
from scoring.core.config import config_dir, load_model
from scoring.core.errors import NotFoundError
from scoring.core.privacy import mask_id, scrub
from scoring.evaluation.metrics import ks_statistic, reliability
from scoring.features.builder import FeatureBuilder, prepare_views, records_behind, records_json, subject_views
from scoring.features.training import training_set
from scoring.points import wording
from scoring.points.card import PointsCard, load_expert_card
from scoring.points.gate import GateConfig, gate_records, load_gate, suspensions, suspensions_in
from scoring.points.wording import ExplainConfig, load_explain_config


class SelectionConfig(BaseModel):
    """configs/points/card.yaml ``selection``: feature selection before fitting (:mod:`scoring.points.selection`)."""

    model_config = ConfigDict(extra="forbid")
    min_iv: float = 0.01
    max_psi: float = 0.25
    max_correlation: float = 0.8


class CardConfig(BaseModel):
    """configs/points/card.yaml."""

    model_config = ConfigDict(extra="forbid")
    feature_set: str = "person"
    exclude: list[str] = []
    cutoffs: list[dt.date]
    holdout_cutoff: dt.date
    total: int = 1000
    max_bins: int = 6
    caps: dict[str, int] = {}
    family_cap: float | None = 250  # record-family cap: points, or a share of total below 1; None: no cap
    selection: SelectionConfig = Field(default_factory=SelectionConfig)


def load_card_config(path: str | Path | None = None) -> CardConfig:
    return load_model(CardConfig, Path(path) if path else config_dir() / "points" / "card.yaml")


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    name_zh: str
    name_en: str
    min_points: int


class _Scenes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenes: list[Scene]
    # organisations' 信易贷 whitelists: validated by scoring.grades.whitelist.load_whitelist_rules
    credit_whitelists: list[dict] = Field(default_factory=list)


def load_scenes(path: str | Path | None = None) -> list[Scene]:
    return load_model(_Scenes, Path(path) if path else config_dir() / "scenes.yaml").scenes


# -- evidence ------------------------------------------------------------------------------
def card_families(fset, features) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Feature -> the catalogue record types it counts (its record family, 记录族), and feature -> the
    largest change of its value one added record can cause (count / active list: 1, weighted count:
    its largest weight; amounts, days, ratios, hours: not listed, they may move over their range)."""
    families, steps = {}, {}
    for f in features:
        spec = fset[f]
        families[f] = list(spec.all_records)
        if spec.agg in ("count", "active_list"):
            steps[f] = 1.0
        elif spec.agg == "weighted_count":
            steps[f] = float(max(spec.weights.values()))
    return families, steps


def load_expert_person_card(path: str | Path | None = None, catalog: Catalog | None = None) -> PointsCard:
    """The expert 信义金 card (configs/points/expert_person.yaml by default) with its record families
    from the person feature set, so its ``single_record_effect_`` is reported like a fitted card's."""
    from scoring.features.definitions import feature_set_for

    card = load_expert_card(path)
    fset = feature_set_for("persons", catalog=catalog or load_catalog())
    families, steps = card_families(fset, [f for f in card.features_ if f in fset.names])
    return load_expert_card(path, families=families, record_steps=steps)


def fit_card(store: Store, config: CardConfig | None = None, catalog: Catalog | None = None) -> tuple[PointsCard, dict]:
    """Fit the 信义金 card on rolling cut-offs; check it on the hold-out cut-off.

    Features are first selected by IV, stability (PSI between the training cut-offs) and correlation
    (:func:`scoring.points.selection.select_features`); every feature left out, by selection or by
    the card (0 points), is in the card's ``evidence_`` and in ``evidence["dropped"]`` with its reason.
    Features counting the same record type share the family cap (``family_cap``)."""
    from sklearn.metrics import roc_auc_score

    from scoring.points.selection import select_features

    cfg = config or load_card_config()
    catalog = catalog or load_catalog()
    builder = FeatureBuilder(store, subjects="persons", catalog=catalog)
    meta = builder.meta.set_index("feature")
    feats = [f for f in meta.index if f not in set(cfg.exclude)]
    train = training_set(store, cfg.cutoffs, subjects="persons")
    directions = meta.loc[feats, "direction"].to_dict()
    selection = select_features(
        train[feats],
        train["label"],
        directions,
        train["cutoff"],
        min_iv=cfg.selection.min_iv,
        max_psi=cfg.selection.max_psi,
        max_correlation=cfg.selection.max_correlation,
        binning={"max_bins": cfg.max_bins, "min_bin_share": PointsCard().min_bin_share},
    )
    chosen = selection.loc[selection["kept"], "feature"].tolist()
    families, steps = card_families(builder.fset, chosen)
    scored = meta.loc[chosen]  # the card rejects directions or dimensions of columns it is not given
    card = PointsCard(
        features=chosen,
        directions=scored["direction"].to_dict(),
        dimensions=scored["dimension"].to_dict(),
        caps={k: v for k, v in cfg.caps.items() if k in chosen or k in set(scored["dimension"])},
        basis=scored["basis"].to_dict(),
        total=cfg.total,
        max_bins=cfg.max_bins,
        families=families,
        family_cap=cfg.family_cap,
        record_steps=steps,
    )
    card.fit(train[chosen], train["label"])
    left_out = selection.loc[~selection["kept"], ["feature", "reason", "iv"]]
    all_families, _ = card_families(builder.fset, left_out["feature"])
    card.add_evidence(
        left_out.assign(
            dimension=meta.loc[left_out["feature"], "dimension"].to_numpy(),
            families=[",".join(all_families[f]) for f in left_out["feature"]],
        )
    )
    hold = training_set(store, [cfg.holdout_cutoff], subjects="persons")
    risk = card.predict_risk(hold[card.features_])
    points = card.score(hold[card.features_]).to_numpy(float)
    y = hold["label"].to_numpy()
    table, brier, ece = reliability(y, risk)
    auc = float(roc_auc_score(y, risk))
    values, counts = np.unique(points, return_counts=True)
    dropped = card.evidence_[card.evidence_["status"] == "dropped"]
    evidence = {
        "train_cutoffs": [c.isoformat() for c in cfg.cutoffs],
        "holdout_cutoff": cfg.holdout_cutoff.isoformat(),
        "train_rows": int(len(train)),
        "train_outcome_rate": float(train["label"].mean()),
        "holdout_rows": int(len(hold)),
        "holdout_outcome_rate": float(y.mean()),
        "auc": auc,
        "points_auc": float(roc_auc_score(y, -points)),
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y, risk),
        "brier": brier,
        "ece": ece,
        "distinct_points": int(len(values)),
        "modal_points_share": float(counts.max() / counts.sum()),
        "iv": {f: float(v) for f, v in zip(selection["feature"], selection["iv"])},
        "features": card.features_,
        "max_points": {f: int(card.max_points_[f]) for f in card.features_},
        "family_cap": card.family_cap_,
        "single_record_effect": card.single_record_effect_,
        "dropped": [
            {"feature": r.feature, "reason": r.reason, "iv": None if pd.isna(r.iv) else float(r.iv)}
            for r in dropped.itertuples()
        ],
        "selection": selection.replace({np.nan: None}).to_dict(orient="records"),
        "reliability": table.to_dict(orient="records"),
    }
    return card, evidence


# -- scoring -------------------------------------------------------------------------------
def compare_cards(
    store: Store, cards: dict[str, PointsCard], cutoff: dt.date | str, catalog: Catalog | None = None
) -> pd.DataFrame:
    """Cards side by side on the same persons at ``cutoff`` and the outcome after it: AUC and KS of
    the points (fewer points = riskier), Brier/ECE of the points mapped to probabilities on the
    same data (a 1-D logistic fit), the points distribution (quantiles, how many distinct values, the
    share of persons at the most common one), its number of line items and its largest single-record
    effect (empty for an expert card loaded without record families). Each card's table is recounted
    on this data (:meth:`PointsCard.evaluate`)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    cutoff = dt.date.fromisoformat(cutoff) if isinstance(cutoff, str) else cutoff
    data = training_set(store, [cutoff], subjects="persons")
    y = data["label"].to_numpy()
    rows = []
    for name, card in cards.items():
        pts = card.score(data[card.features_]).to_numpy(float)
        card.evaluate(data[card.features_], y)
        p = LogisticRegression().fit(pts.reshape(-1, 1), y).predict_proba(pts.reshape(-1, 1))[:, 1]
        _, brier, ece = reliability(y, p)
        values, counts = np.unique(pts, return_counts=True)
        rows.append(
            {
                "card": name,
                "cutoff": cutoff.isoformat(),
                "persons": len(y),
                "outcome_rate": float(y.mean()),
                "auc": float(roc_auc_score(y, -pts)),
                "ks": ks_statistic(y, -pts),
                "brier": brier,
                "ece": ece,
                "points_p5": float(np.percentile(pts, 5)),
                "points_median": float(np.median(pts)),
                "points_p95": float(np.percentile(pts, 95)),
                "distinct_points": int(len(values)),
                "modal_points_share": float(counts.max() / counts.sum()),
                "items": len(card.features_),
                "max_single_record_effect": max(getattr(card, "single_record_effect_", {}).values(), default=None),
            }
        )
    return pd.DataFrame(rows)


def score_persons(
    store: Store,
    card: PointsCard,
    as_of: dt.date | str,
    gate: GateConfig | None = None,
    catalog: Catalog | None = None,
    subject_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Every person as of ``as_of`` (or the persons among ``subject_ids``, computed from their own and
    their linked subjects' records only: the same rows): status (scored | suspended), points (empty
    when suspended), reason and suspended_until for suspended persons."""
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    catalog = catalog or load_catalog()
    gate = gate or load_gate(catalog=catalog)
    builder = FeatureBuilder(store, subjects="persons", catalog=catalog)
    if subject_ids is None:
        fm = builder.at(as_of)
        sus = suspensions(store, as_of, gate, catalog)
    else:
        ids = sorted(set(subject_ids))
        frames = builder.subjects_frames(ids)
        fm = builder.at_subjects(as_of, ids, frames)
        sus = suspensions_in(frames[0], fm.values.index, as_of, gate, catalog)
    pts = card.score(fm.values[card.features_])
    out = pd.DataFrame(
        {
            "subject_id": fm.values.index,
            "status": "scored",
            "points": pts.astype("Int64").to_numpy(),
            "reason": None,
            "suspended_until": None,
        }
    )
    sus = sus.set_index("subject_id")
    hit = out["subject_id"].isin(sus.index)
    out.loc[hit, "status"] = "suspended"
    out.loc[hit, "points"] = pd.NA
    out.loc[hit, "reason"] = out.loc[hit, "subject_id"].map(sus["reason"])
    out.loc[hit, "suspended_until"] = out.loc[hit, "subject_id"].map(sus["suspended_until"])
    out["as_of"] = as_of
    return out


def require_person(store: Store, subject_id: str) -> None:
    """Raise :class:`NotFoundError` unless ``subject_id`` is a person in the archive (the 信义金 is for
    persons only); the message says what to do."""
    row = store.sql("SELECT subject_type FROM subjects WHERE subject_id = ?", [subject_id])
    if row.empty:
        raise NotFoundError(
            f"no person {mask_id(subject_id)} in the archive {store.path}: check the ID number, or give the "
            "person's keyed pseudonym (subject_key in this store's exports, e.g. `scoring points score --out FILE`)"
        )
    kind = str(row.iloc[0, 0])
    if kind != "person":
        raise NotFoundError(
            f"{mask_id(subject_id)} is an organisation ({kind}), not a person: the 信义金 score is for persons; "
            f"explain an organisation's grade with `scoring grades explain {mask_id(subject_id)} --as-of DATE`"
        )


def suspension_of(
    store: Store,
    subject_id: str,
    as_of: dt.date,
    gate: GateConfig | None = None,
    catalog: Catalog | None = None,
    texts: ExplainConfig | None = None,
    frames: tuple[Any, Any] | None = None,
) -> dict | None:
    """The person's suspension at ``as_of`` (信用底线), or None when scored: the reason, until when
    (``until``: ISO date, None when open-ended; ``until_zh`` in words), and every list record behind it
    with its document, agency, entry date, end date and how to leave that list (履行义务, the exit
    procedure of ``configs/points/explain.yaml``, the earliest end)."""
    from scoring.features.asof import counts_sql

    catalog = catalog or load_catalog()
    gate = gate or load_gate(catalog=catalog)
    texts = texts or load_explain_config(catalog=catalog, gate_types=gate.record_types)
    if frames is not None:  # the person's timeline already read: no query of the store
        sus = suspensions_in(frames[0], subject_id, as_of, gate, catalog)
    else:
        sus = suspensions(store, as_of, gate, catalog, subject_id=subject_id)
    if sus.empty:
        return None
    row = sus.iloc[0]
    until = row["suspended_until"]
    until_iso = None if pd.isna(until) else pd.Timestamp(until).date().isoformat()
    docs = [d for d in str(row["documents"] or "").split(", ") if d]
    if frames is not None:
        recs = (
            gate_records(frames[0], subject_id, as_of, gate)
            .select("record_type", "document_no", "agency", "t_start", "t_end")
            .sort("t_start", "record_type", "document_no")
            .to_pandas()
        )
    else:
        prepare_views(store, catalog)
        types = ", ".join(f"'{c}'" for c in gate.record_types)
        recs = store.sql(
            f"""SELECT record_type, document_no, agency, t_start, t_end FROM xinyi_timeline
            WHERE subject_id = ? AND record_type IN ({types}) AND {counts_sql(f"DATE '{as_of}'")}
            ORDER BY t_start, record_type, document_no""",
            [subject_id],
        )
    lists = []
    for r in recs.to_dict(orient="records"):
        if r["document_no"] is not None and docs and str(r["document_no"]) not in docs:
            continue  # only the records behind the gate's suspension (suspensions(): documents)
        code = str(r["record_type"])
        proc = texts.exit_procedures[code]
        end = None if r["t_end"] is None or pd.isna(r["t_end"]) else pd.Timestamp(r["t_end"]).date().isoformat()
        lists.append(
            {
                "record_type": code,
                "name_zh": catalog[code].name_zh,
                "document_no": scrub(str(r["document_no"])) if r["document_no"] is not None else None,
                "agency": scrub(str(r["agency"])) if r["agency"] is not None else None,
                "listed_on": pd.Timestamp(r["t_start"]).date().isoformat(),
                "ends_on": end,
                "obligation": proc.obligation,
                "authority": proc.authority,
                "action": proc.action,
                "steps": list(proc.steps),
                "earliest_end_zh": proc.early_exit.format(date=end) if end else proc.no_end,
                "basis": proc.basis or catalog[code].legal_basis,
            }
        )
    return {
        "reason": row["reason"],
        "until": until_iso,
        "until_zh": texts.until_fixed.format(date=until_iso) if until_iso else texts.until_open,
        "documents": docs,
        "lists": lists,
        "notice": texts.notice,
    }


def explain_person(
    store: Store,
    card: PointsCard,
    subject_id: str,
    as_of: dt.date | str,
    catalog: Catalog | None = None,
    gate: GateConfig | None = None,
) -> dict:
    """One person's 信义金 as they can read it.

    Suspended (信用底线): ``status`` suspended, no number, the ``suspension`` first (reason, until
    when, the list records and their documents, how to leave each list: :func:`suspension_of`), no
    line items. Scored: the points and only the items that carry points (the feature's maximum
    points > 0), each with its bin in words (:mod:`scoring.points.wording`), the person's value in
    words, and the records behind it (record type in Chinese, date, document number, agency; ID
    numbers masked). The items' points sum to the score (items without points add 0)."""
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    catalog = catalog or load_catalog()
    gate = gate or load_gate(catalog=catalog)
    require_person(store, subject_id)
    head = {"subject": mask_id(subject_id), "as_of": as_of.isoformat(), "total": int(card.total)}
    builder = FeatureBuilder(store, subjects="persons", catalog=catalog)
    frames = builder.subject_frames(subject_id)  # this person's records (and linked ones') only
    sus = suspension_of(store, subject_id, as_of, gate, catalog, frames=frames)
    if sus is not None:
        return {
            **head,
            "status": "suspended",
            "points": None,
            "reason": sus["reason"],
            "suspended_until": sus["until"],
            "documents": ", ".join(sus["documents"]),
            "suspension": sus,
            "items": [],
        }
    fm = builder.at_subject(as_of, subject_id, frames)
    if subject_id not in fm.values.index:
        raise NotFoundError(f"no person {mask_id(subject_id)} in the archive as of {as_of}")
    x = fm.values.loc[[subject_id], card.features_]
    items = card.items(x).iloc[0]
    prepare_views(store, catalog)
    with subject_views(store, frames) as views:
        lines = []
        for f in card.features_:
            if int(card.max_points_.get(f, 0)) <= 0:  # an item that can carry no points explains nothing
                continue
            spec = builder.fset[f]
            idx = int(card.binnings_[f].bin_index(x[f])[0])
            raw = x[f].iloc[0]
            value = None if pd.isna(raw) else float(raw)
            recs = records_behind(store, subject_id, spec, as_of, views)
            lines.append(
                {
                    "feature": f,
                    "label_zh": spec.label_zh,
                    "value": value,
                    "value_zh": wording.value_words(spec, value, catalog),
                    "none": wording.is_none(spec, value),
                    "bin": wording.bin_words(spec, card.binnings_[f], idx, catalog),
                    "note": wording.feature_note(spec),
                    "points": int(items[f]),
                    "max_points": int(card.max_points_[f]),
                    "records": [wording.record_entry(r, catalog) for r in records_json(recs)],
                }
            )
    return {**head, "status": "scored", "points": int(items.sum()), "items": lines}


def eligibility(points: int | None, status: str, scenes: list[Scene]) -> list[dict]:
    """Scene by scene: eligible or not, and why not (a rule of the scene, not a label on the person)."""
    out = []
    for s in scenes:
        if status == "suspended":
            out.append(
                {
                    "scene": s.code,
                    "name_zh": s.name_zh,
                    "eligible": False,
                    "why": "信义金暂停计分期间不可使用",
                }
            )
        elif points is not None and points >= s.min_points:
            out.append({"scene": s.code, "name_zh": s.name_zh, "eligible": True, "why": ""})
        else:
            out.append(
                {
                    "scene": s.code,
                    "name_zh": s.name_zh,
                    "eligible": False,
                    "why": f"需 {s.min_points} 分，尚差 {s.min_points - (points or 0)} 分",
                }
            )
    return out


# -- the registered model's input and output (MLflow pyfunc) ---------------------------------
GATE_COLUMNS = ("suspended", "suspension_reason", "suspended_until")


def person_inputs(
    store: Store,
    card: PointsCard,
    as_of: dt.date | str,
    gate: GateConfig | None = None,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """The input of the registered card (index: subject_id): the card's features as of ``as_of``
    (float64) and the person's bottom-line gate state on that date (信用底线, :mod:`scoring.points.gate`):
    ``suspended``, ``suspension_reason`` and ``suspended_until`` (ISO date; empty when open-ended or
    not suspended). :func:`gated_scores` turns it into exactly what :func:`score_persons` gives."""
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    catalog = catalog or load_catalog()
    gate = gate or load_gate(catalog=catalog)
    fm = FeatureBuilder(store, subjects="persons", catalog=catalog).at(as_of)
    X = fm.values[card.features_].astype("float64")
    sus = suspensions(store, as_of, gate, catalog).set_index("subject_id")
    hit = X.index.isin(sus.index)
    X["suspended"] = hit
    reason = X.index.map(sus["reason"]) if len(sus) else pd.Index([None] * len(X))
    until = X.index.map(sus["suspended_until"]) if len(sus) else pd.Index([None] * len(X))
    X["suspension_reason"] = [r if h and isinstance(r, str) else None for h, r in zip(hit, reason)]
    X["suspended_until"] = [str(u) if h and not pd.isna(u) else None for h, u in zip(hit, until)]
    return X


def gated_scores(card: PointsCard, inputs: pd.DataFrame) -> pd.DataFrame:
    """Points with the gate applied, per row of :func:`person_inputs` (same index): ``status``
    (scored | suspended), ``points`` (empty when suspended: a suspended person never gets a number),
    ``reason`` and ``suspended_until`` of the suspension."""
    suspended = inputs["suspended"].astype(bool).to_numpy()
    pts = card.score(inputs[card.features_]).astype("Int64")
    pts[suspended] = pd.NA

    def text(col: str) -> pd.Series:  # object dtype: an empty value is None (JSON null), not NaN
        vals = [v if s and isinstance(v, str) and v else None for s, v in zip(suspended, inputs[col])]
        return pd.Series(vals, index=inputs.index, dtype=object)

    return pd.DataFrame(
        {
            "status": np.where(suspended, "suspended", "scored"),
            "points": pts,
            "reason": text("suspension_reason"),
            "suspended_until": text("suspended_until"),
        },
        index=inputs.index,
    )
