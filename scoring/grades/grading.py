"""Fitting an industry's grader (行业信用评价) from the store: contenders, champion, evidence per band.

:func:`run_championship` (and :func:`fit_industry`, which returns its champion and evidence) fits
every contender on the industry's organisations at rolling cut-offs (configs/grading.yaml) with the
industry's label (the outcome, or the next expert grade): LightGBM (the industry model,
:class:`~scoring.grades.model.GradeModel`), the pooled organisation model
(:func:`scoring.grades.pooled.fit_pooled`), the expert sheet and ordinal logistic regression
(:mod:`scoring.grades.baselines`); each is calibrated on a later cut-off with the same ordinal link,
checked (fitted, calibrated, ranks its folds better than random) and compared on the SAME
hold-out cut-off; the champion is chosen by the rule of :mod:`scoring.grades.champion`. The
evidence holds, for the champion and for every contender:

* AUC of the risk (P(outcome), or P(较差 or 差)) and of the final grade 较差/差 on the outcome;
* per class: Brier and ECE before and after calibration, with reliability tables;
* quadratic weighted kappa against the expert grade (expert-grade label);
* per final grade: organisations, observed outcome rate and its 95% Wilson interval;
* the decision: metric, values per contender, margin, rule, outcome, exclusions and their reasons.

``grade_organisations`` is the one path from features to grades used by lists, explanations and
evidence: calibrated probabilities -> band table -> new entrant -> upgrade limit -> vetoes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from scoring.archive.store import Store
from scoring.core.config import config_dir, load_model
from scoring.core.errors import ConfigError, DataError
from scoring.evaluation.metrics import reliability, wilson
from scoring.features.builder import FeatureBuilder
from scoring.features.industry import GRADES, Bands, Industry, load_industries
from scoring.features.training import training_set
from scoring.grades.bands import band_graded, resolve_bands, share_table
from scoring.grades.champion import INCUMBENT, ChampionConfig, Contender, Selection, choose, sign_check
from scoring.grades.model import CONTENDERS_ZH, GradeModel, Grader
from scoring.grades.ordinal import bad_end, median_class, rank_score
from scoring.grades.supervision import assign_grades, graded_by_bands

log = logging.getLogger(__name__)


class ExpertSheetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card: str  # path under configs/
    bands: Bands
    # the last resort's declared link: logits per point around the sheet's own band bounds
    # (scoring.grades.baselines.ExpertSheetGrader.sheet_link)
    link_scale: float = 0.3


class OrdinalLogisticConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = 10.0  # L2 penalty on the standardised coefficients (signs from the feature directions)


class GradingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cutoffs: list[dt.date]
    calibration_cutoff: dt.date
    holdout_cutoff: dt.date
    n_estimators: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 20
    reg_lambda: float = 1.0
    seed: int = 0
    expert_sheet: ExpertSheetConfig | None = None
    ordinal_logistic: OrdinalLogisticConfig = Field(default_factory=OrdinalLogisticConfig)
    champion: ChampionConfig = Field(default_factory=ChampionConfig)


def load_grading_config(path: str | Path | None = None) -> GradingConfig:
    return load_model(GradingConfig, Path(path) if path else config_dir() / "grading.yaml")


SEARCH_SPACE: dict[str, tuple[Any, Any]] = {  # (low, high): floats for the rate, whole numbers otherwise
    "learning_rate": (0.02, 0.2),
    "num_leaves": (4, 31),
    "min_child_samples": (10, 80),
    "n_estimators": (50, 300),
}


def _datasets(store: Store, code: str, cfg: GradingConfig):
    """The industry, its features and directions, and the labelled folds (train, calibration,
    hold-out). A fold with a single class is kept: the contenders that cannot use it are excluded
    with their reason (:mod:`scoring.grades.champion`), and the expert sheet still grades."""
    inds = load_industries()
    if code not in inds:
        raise ConfigError(f"unknown industry {code!r}; known: {', '.join(sorted(inds))}")
    ind: Industry = inds[code]
    meta = FeatureBuilder(store, subjects="organisations", industry=code).meta.set_index("feature")
    feats = list(meta.index) if ind.features == "all" else list(ind.features)
    directions = {**meta["direction"].to_dict(), **ind.monotone}
    sets = {}
    for name, cuts in (
        ("train", cfg.cutoffs),
        ("calibration", [cfg.calibration_cutoff]),
        ("holdout", [cfg.holdout_cutoff]),
    ):
        sets[name] = training_set(store, cuts, subjects="organisations", industry=code, label=ind.label)
        if len(sets[name]) == 0:
            raise DataError(
                f"industry {code}: the {name} fold ({', '.join(str(c) for c in cuts)}) has no organisation "
                f"with a {ind.label} label; check the store (scoring info) and configs/grading.yaml cut-offs"
            )
    return ind, feats, {f: directions[f] for f in feats}, sets


def n_classes(ind: Industry) -> int:
    """5 grades for an expert-grade label, 2 (no outcome / outcome) for the outcome label."""
    return len(GRADES) if ind.label == "expert_grade" else 2


def model_output(model, ind: Industry, X: pd.DataFrame, bands: Bands | None = None) -> np.ndarray:
    """What the band table reads: risk, the 0-100 score, or the median grade index. ``bands``: the
    bands applied (default :func:`scoring.grades.bands.resolve_bands`: for target shares, the
    model's fitted risk bands)."""
    kind = (bands if bands is not None else resolve_bands(model, ind)).kind
    if kind == "ordinal":
        return model.predict_class(X)
    risk = model.predict_risk(X)
    return 100.0 * (1.0 - risk) if kind == "score" else risk


def grade_organisations(
    model,
    ind: Industry,
    X: pd.DataFrame,
    *,
    previous: pd.Series | None = None,
    registered_on: pd.Series | None = None,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Calibrated probabilities (``p_<class>``), ``risk`` and the rules' grade per organisation
    (``X`` indexed by subject_id), in the columns of :func:`scoring.grades.supervision.assign_grades`.
    The band table is :func:`scoring.grades.bands.resolve_bands`'s (an industry with target shares
    is graded with the bounds fitted with the model; a model without them is a ConfigError: refit)."""
    bands = resolve_bands(model, ind)
    feats = model.features_
    proba = model.predict_proba(X[feats])
    probs = pd.DataFrame(proba, index=X.index, columns=[f"p_{c}" for c in model.class_names_])
    probs["risk"] = bad_end(proba)
    out = pd.Series(model_output(model, ind, X[feats], bands), index=X.index)
    graded = assign_grades(ind, out, X, previous=previous, registered_on=registered_on, as_of=as_of, bands=bands)
    return pd.concat([probs, graded], axis=1)


def class_calibration(y, proba: np.ndarray, classes: list) -> tuple[pd.DataFrame, list[dict]]:
    """Per class (one against the rest): Brier, ECE and a reliability table by predicted deciles."""
    y = np.asarray(y, int)
    rows, tables = [], []
    for k, c in enumerate(classes):
        yk, pk = (y == k).astype(float), proba[:, k]
        table, brier, ece = reliability(yk, pk)
        rows.append(
            {
                "class": c,
                "observed_share": float(yk.mean()),
                "mean_predicted": float(pk.mean()),
                "brier": brier,
                "ece": ece,
            }
        )
        tables += [{"class": c, **r} for r in table.to_dict(orient="records")]
    return pd.DataFrame(rows), tables


def _quality(y, outcome, proba_raw: np.ndarray | None, proba: np.ndarray, classes: list, grade_index=None) -> dict:
    """Discrimination and calibration figures of one model on one labelled set."""
    from sklearn.metrics import cohen_kappa_score, roc_auc_score

    outcome = np.asarray(outcome, int)
    risk = bad_end(proba)
    per_class, _ = class_calibration(y, proba, classes)
    q = {
        "auc": float(roc_auc_score(outcome, risk)) if 0 < outcome.mean() < 1 else float("nan"),
        "brier": float(per_class["brier"].mean()),
        "ece": float(per_class["ece"].mean()),
    }
    if proba_raw is not None:
        before, _ = class_calibration(y, proba_raw, classes)
        q |= {"brier_before": float(before["brier"].mean()), "ece_before": float(before["ece"].mean())}
    else:
        q |= {"brier_before": float("nan"), "ece_before": float("nan")}
    if proba.shape[1] > 2:
        g = np.asarray(grade_index if grade_index is not None else proba.argmax(axis=1))
        q["qwk"] = float(cohen_kappa_score(np.asarray(y, int), g, weights="quadratic"))
    return q


def reference_profile(train: pd.DataFrame, feats: list[str]) -> dict[str, dict[str, float | None]]:
    """Per feature over the training rows of the latest training cut-off: median, mean (None when
    every value is missing) and the share of rows with a non-zero value (行业基准, info_['reference']),
    to six significant digits."""
    latest = train["cutoff"].max() if "cutoff" in train.columns and len(train) else None
    rows = train[train["cutoff"] == latest] if latest is not None else train
    out: dict[str, dict[str, float | None]] = {}
    for f in feats:
        v = pd.to_numeric(rows[f], errors="coerce")
        known = v.dropna()
        out[f] = {
            "median": _short(float(known.median())) if len(known) else None,
            "mean": _short(float(known.mean())) if len(known) else None,
            "share_nonzero": _short(float((known != 0).sum() / len(v))) if len(v) else 0.0,
        }
    return out


def _short(x: float) -> float:
    """Six significant digits: what a reader needs, and no long digit run in a model file (a run of
    15 or 18 digits reads as an ID number to the privacy scan, scoring.core.privacy)."""
    return float(f"{x:.6g}")


def registration_dates(store: Store) -> pd.Series:
    """subject_id -> registration date of every organisation (the new-entrant rule reads it)."""
    subj = store.sql("SELECT subject_id, registered_on FROM subjects WHERE subject_type <> 'person'")
    return subj.set_index("subject_id")["registered_on"]


def band_reference(store: Store, ind: Industry, fold: pd.DataFrame, as_of: dt.date) -> np.ndarray:
    """Which rows of ``fold`` (a labelled fold at ``as_of``) the band table grades: not vetoed and
    not new entrants (the reference period of share bands, :func:`scoring.grades.bands.fit_bands`)."""
    X = fold.set_index("subject_id")
    return graded_by_bands(ind, X, registration_dates(store), as_of).to_numpy(bool)


def shares_missed(grader: Any, X_ref: pd.DataFrame, eligible: np.ndarray) -> list[str]:
    """The grades whose share on the reference rows (``X_ref`` where ``eligible``: the rows the
    fitted share bands were fitted on) falls outside the tolerance of its target: a score with too
    many ties (a coarse points sheet) cannot deliver the platform's shares."""
    bands = grader.bands_
    if bands is None or not bands.targets:
        return []
    grades = [bands.grade(r) for r in grader.predict_risk(X_ref)]
    table = share_table(grades, bands, eligible)
    return [f"{r.grade} {r.share:.1%}（目标{r.target:.1%}）" for r in table.itertuples() if r.within_tolerance is False]


def _exclude_off_target(
    contenders: dict[str, Contender], ind: Industry, X_ref: pd.DataFrame, eligible: np.ndarray, code: str
) -> None:
    """With share bands, a contender that cannot reach the target shares on the reference period
    (its fitted bands miss a target beyond the tolerance) leaves the championship when another
    contender reaches them: the platform's grade shares are policy (分级分类监管), not a result."""
    missed = {
        n: shares_missed(c.grader, X_ref, eligible)
        for n, c in contenders.items()
        if c.grader is not None and not c.excluded
    }
    if not any(not m for m in missed.values()):
        return  # nobody reaches them: the shares are reported as missed, nobody is excluded for it
    for n, m in missed.items():
        if m:
            contenders[n].exclude(
                f"cannot reach the target shares on the reference period ({'; '.join(m)}), others can",
                code,
                f"分级后占比无法达到目标（{'；'.join(m)}）",
            )


def holdout_evidence(hold: pd.DataFrame, metric: str) -> int:
    """How much the hold-out can tell contenders apart: its outcomes (AUC), or (QWK) its
    organisations outside the most common expert grade (the rows a ranking must place)."""
    if metric == "auc":
        return int(hold["outcome"].sum())
    counts = hold["label"].value_counts()
    return int(len(hold) - counts.max()) if len(counts) else 0


@dataclass
class Championship:
    """An industry's contenders, checked and compared on the same hold-out, and the decision."""

    industry: str
    contenders: dict[str, Contender]
    selection: Selection
    evidence: dict

    @property
    def champion(self) -> Contender:
        return self.contenders[self.selection.champion]

    def challengers(self) -> list[Contender]:
        """The contenders that passed their checks, best first after the champion."""
        return [self.contenders[c] for c in self.selection.ranking[1:] if c in self.contenders]


def _fit_lightgbm(cfg: GradingConfig, ind: Industry, feats, dirs, sets, params: dict | None) -> GradeModel:
    tr, cal = sets["train"], sets["calibration"]
    hp: dict[str, Any] = {
        "n_estimators": cfg.n_estimators,
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_child_samples": cfg.min_child_samples,
        "reg_lambda": cfg.reg_lambda,
    } | dict(params or {})
    model = GradeModel(directions=dirs, n_classes=n_classes(ind), seed=cfg.seed, **hp)
    if tr["label"].nunique() < 2:
        raise DataError(f"the training fold has a single {ind.label} class: nothing to learn")
    from lightgbm.basic import LightGBMError

    try:
        return model.fit(tr[feats], tr["label"], X_cal=cal[feats], y_cal=cal["label"])
    except LightGBMError as exc:  # e.g. no feature can be split with min_child_samples rows per leaf
        raise DataError(f"LightGBM could not train on the training fold ({len(tr)} rows): {exc}") from None


def _fit_contenders(
    store: Store, code: str, cfg: GradingConfig, ind: Industry, feats, dirs, sets, params: dict | None
) -> dict[str, Contender]:
    """Every contender fitted and calibrated (or excluded with the reason it could not be)."""
    import time

    from scoring.grades.baselines import ExpertSheetGrader, OrdinalLogitGrader
    from scoring.grades.pooled import fit_pooled

    k = n_classes(ind)
    tr, cal = sets["train"], sets["calibration"]
    fits: dict[str, Callable[[], Any]] = {"lightgbm": lambda: _fit_lightgbm(cfg, ind, feats, dirs, sets, params)}
    # ``params`` (LightGBM's hyper-parameters, e.g. tuned) apply to the pooled LightGBM too
    pooled_cfg = cfg.model_copy(update={p: v for p, v in (params or {}).items() if p in GradingConfig.model_fields})
    fits["pooled_lightgbm"] = lambda: fit_pooled(store, code, pooled_cfg, sets)
    if cfg.expert_sheet is not None:
        es = cfg.expert_sheet
        fits["expert_sheet"] = lambda: ExpertSheetGrader(config_dir() / es.card, es.bands, k, es.link_scale).fit(
            tr[feats], X_cal=cal[feats], y_cal=cal["label"], fallback=True
        )
    fits["ordinal_logistic"] = lambda: OrdinalLogitGrader(k, cfg.ordinal_logistic.alpha, dirs).fit(
        tr[feats], tr["label"], X_cal=cal[feats], y_cal=cal["label"]
    )
    out: dict[str, Contender] = {}
    for name, fit in fits.items():
        c = out[name] = Contender(name, name)
        t0 = time.perf_counter()
        try:
            c.grader = fit()
        except NotImplementedError as exc:
            c.exclude(f"not available: {exc}", code, "暂不可用")
        except (DataError, ValueError) as exc:  # a fold it cannot learn from or be calibrated on
            c.exclude(f"could not be fitted or calibrated: {exc}", code, "未能拟合或校准")
        c.fit_seconds = time.perf_counter() - t0
        err = getattr(c.grader, "calibration_error_", "")
        if c.grader is not None and err:
            c.exclude(
                f"could not be calibrated on the calibration fold ({err}); kept as the last resort",
                code,
                "校准期无法校准",
            )
    return out


def _incumbent(code: str, ind: Industry, cfg: GradingConfig, feats: list[str], grader: Any) -> Contender:
    """The registered champion of an earlier fit as a contender (excluded when it cannot be compared)."""
    c = Contender(INCUMBENT, str(grader.info_.get("contender", "lightgbm")), grader)
    info = grader.info_
    seen = [
        dt.date.fromisoformat(str(d)) for d in [*info.get("train_cutoffs", []), info.get("calibration_cutoff")] if d
    ]
    if info.get("industry") not in (None, code):
        c.exclude(f"it grades industry {info.get('industry')!r}, not {code!r}", code, "行业不同")
    elif info.get("label") not in (None, ind.label):
        c.exclude(
            f"it was fitted on the {info.get('label')} label, the industry now uses {ind.label}", code, "标签不同"
        )
    elif missing := sorted(set(grader.features_) - set(feats)):
        c.exclude(f"it reads features the industry's set no longer has: {missing}", code, "所需特征已不在特征集中")
    elif seen and max(seen) > cfg.calibration_cutoff:
        c.exclude(f"its folds (up to {max(seen)}) overlap this fit's hold-out labels", code, "其训练期与本次留出期重叠")
    return c


def _holdout_row(c: Contender, hold: pd.DataFrame, feats: list[str], k: int) -> tuple[dict, dict]:
    """The contender's hold-out figures (the row of ``evidence['baselines']``) and predictions."""
    g = c.grader
    Xh = hold[feats]
    eta = g.margin(Xh)
    proba, raw = g.calibrator_.predict_proba(eta), g.predict_proba(Xh, calibrated=False)
    gi = median_class(eta, g.calibrator_.thresholds_, g.calibrator_.scale_)
    q = _quality(hold["label"], hold["outcome"], raw, proba, list(g.class_names_), gi)
    return q, {"proba": proba, "proba_raw": raw, "grade_index": gi}


def _empty_row(k: int) -> dict:
    keys = ("auc", "brier", "ece", "brier_before", "ece_before") + (("qwk",) if k > 2 else ())
    return {q: float("nan") for q in keys}


def run_championship(
    store: Store,
    code: str,
    config: GradingConfig | None = None,
    params: dict | None = None,
    predictions: dict | None = None,
    incumbent: Any = None,
) -> Championship:
    """Fit every contender of industry ``code`` (LightGBM with the config's hyper-parameters or
    ``params``, the pooled model, the expert sheet, ordinal logistic regression; ``incumbent``: the
    registered champion of an earlier fit), check them (fitted, calibrated, sign), compare them on
    the same hold-out and choose the champion by the config's rule (:mod:`scoring.grades.champion`).
    Every grader gets its ``info_`` (industry, folds, contender, selection, reference) and, with
    share bands, its own fitted ``bands_``. ``predictions``, if given, receives the hold-out rows
    (``holdout``) and every checked contender's hold-out probabilities and grade index."""
    from scoring.grades.bands import fit_bands

    cfg = config or load_grading_config()
    ind, feats, dirs, sets = _datasets(store, code, cfg)
    k = n_classes(ind)
    tr, cal, hold = sets["train"], sets["calibration"], sets["holdout"]
    contenders = _fit_contenders(store, code, cfg, ind, feats, dirs, sets, params)
    if incumbent is not None:
        contenders[INCUMBENT] = _incumbent(code, ind, cfg, feats, incumbent)
    reference = reference_profile(tr, feats)
    # share bands are fitted on the latest population the fit sees (the hold-out cut-off's
    # organisations; features only, no outcome), so the shares hold closest to the lists' dates
    eligible = band_reference(store, ind, hold, cfg.holdout_cutoff)
    common = {
        "industry": code,
        "label": ind.label,
        "train_cutoffs": [c.isoformat() for c in cfg.cutoffs],
        "calibration_cutoff": cfg.calibration_cutoff.isoformat(),
        "holdout_cutoff": cfg.holdout_cutoff.isoformat(),
        "store_fingerprint": store.fingerprint(),
    }

    def prepare(c: Contender) -> None:
        """info_ and fitted bands of a new contender's grader (an incumbent keeps its own)."""
        g = c.grader
        g.info_ = {**common, **{k_: v for k_, v in g.info_.items() if k_ not in common}}
        g.info_.update({"contender": c.kind, "contender_zh": CONTENDERS_ZH[c.kind], "reference": reference})
        if ind.bands.kind == "shares":
            ref = f"hold-out {cfg.holdout_cutoff.isoformat()}"
            g.bands_ = fit_bands(ind.bands, g.predict_risk(hold[feats]), eligible, reference=ref)
        g.refresh_version()

    folds = {"training": (tr[feats], tr["label"]), "calibration": (cal[feats], cal["label"])}
    for c in contenders.values():
        if c.grader is None:
            continue
        if c.name != INCUMBENT:
            prepare(c)
        why = sign_check(c.grader, folds)  # also when it could not be calibrated: the sign is the cause to name
        if why:
            c.exclude(why + (f" (and {c.excluded})" if c.excluded else ""), code, "方向检查未通过：排序劣于随机")
    if ind.bands.kind == "shares":
        _exclude_off_target(contenders, ind, hold.set_index("subject_id")[feats], eligible, code)
    metric = cfg.champion.metric_for(ind.label)
    holdout_events = holdout_evidence(hold, metric)
    rows: dict[str, dict] = {}
    for name, c in contenders.items():
        if c.grader is not None and not c.excluded:
            c.figures, pred = _holdout_row(c, hold, feats, k)
            if predictions is not None:
                predictions[name] = pred
        rows[name] = c.figures or _empty_row(k)
    values = {n: float(rows[n].get(metric, float("nan"))) for n, c in contenders.items() if not c.excluded}
    excluded = {n: c.excluded for n, c in contenders.items() if c.excluded}
    sel = choose(
        values,
        cfg.champion,
        metric=metric,
        holdout_events=holdout_events,
        excluded={n: c.excluded_zh for n, c in contenders.items() if c.excluded},
        names_zh={n: c.zh for n, c in contenders.items()},
        incumbent=INCUMBENT in contenders,
    )
    if sel.rule == "last_resort":
        sheet = contenders.get("expert_sheet")
        if sheet is None or sheet.grader is None:
            raise DataError(
                f"industry {code}: no contender could grade ("
                + "; ".join(f"{n}: {r}" for n, r in excluded.items())
                + ") and no expert sheet is configured (configs/grading.yaml expert_sheet) as the last resort"
            )
        from scoring.grades.baselines import SHEET_BANDS_LINK

        g = sheet.grader
        g.calibrator_, g.link_ = g.sheet_link(), SHEET_BANDS_LINK
        prepare(sheet)
        sheet.figures, pred = _holdout_row(sheet, hold, feats, k)
        rows["expert_sheet"] = sheet.figures
        if predictions is not None:
            predictions["expert_sheet"] = pred
    champ = contenders[sel.champion]
    position = {n: i for i, n in enumerate(sel.ranking)}
    for n, c in contenders.items():
        if c.grader is None or n == INCUMBENT:
            continue
        if n == sel.champion:
            c.grader.info_["selection"] = sel.sentence
        elif n in position:
            c.grader.info_["selection"] = f"挑战者（第{position[n]}名）：{sel.sentence}"
        else:
            c.grader.info_["selection"] = f"未参赛（{c.excluded}）"
    table = []
    for n, c in contenders.items():
        status = "champion" if n == sel.champion else "challenger" if n in position else "excluded"
        table.append(
            {
                "model": n,
                "contender": c.kind,
                "contender_zh": c.zh,
                "status": status,
                "excluded": "" if status != "excluded" else c.excluded,
                **rows[n],
                "fit_seconds": c.fit_seconds,
            }
        )
    hold_rows = hold
    reg = registration_dates(store)
    ev = evidence(champ.grader, ind, hold_rows, feats, cfg, sets, rows[sel.champion], registered_on=reg)
    ev["fit_seconds"] = champ.fit_seconds
    ev["baselines"] = table
    ev["champion"] = sel.to_dict()
    ev["contender"], ev["contender_zh"], ev["selection"] = champ.kind, champ.zh, sel.sentence
    ev["contenders"] = {}
    for n in sel.ranking:
        c = contenders[n]
        if c.grader is not None and n != sel.champion:
            e = evidence(c.grader, ind, hold_rows, feats, cfg, sets, rows[n], registered_on=reg)
            ev["contenders"][n] = {key: e[key] for key in ("model_version", "per_grade", "vetoed", "auc_bad_grades")}
    if predictions is not None:
        predictions["holdout"] = hold
    return Championship(code, contenders, sel, ev)


def tune_industry(
    store: Store,
    code: str,
    *,
    n_trials: int = 20,
    timeout: float = 120.0,
    config: GradingConfig | None = None,
    on_trial: Callable[[int, str, dict, float | None], None] | None = None,
) -> dict:
    """Optuna search (TPE, seeded; median pruning every 25 rounds on the calibration fold's rank score:
    AUC for the outcome label, Kendall's tau for expert grades)
    within a trial and time budget. Every trial is passed to ``on_trial(number, state, params, value)`` (e.g. :func:`scoring.lineage.tracking.trial_logger`).
    The hold-out cut-off is never seen while tuning."""
    import optuna

    cfg = config or load_grading_config()
    ind, feats, dirs, sets = _datasets(store, code, cfg)
    tr, cal = sets["train"], sets["calibration"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: "optuna.Trial") -> float:
        p: dict[str, Any] = {
            "learning_rate": trial.suggest_float("learning_rate", *SEARCH_SPACE["learning_rate"], log=True),
            "num_leaves": trial.suggest_int("num_leaves", *SEARCH_SPACE["num_leaves"]),
            "min_child_samples": trial.suggest_int("min_child_samples", *SEARCH_SPACE["min_child_samples"]),
            "n_estimators": trial.suggest_int("n_estimators", *SEARCH_SPACE["n_estimators"], step=25),
        }

        def prune(env) -> None:
            if (env.iteration + 1) % 25 == 0 and env.evaluation_result_list:
                trial.report(env.evaluation_result_list[0][2], env.iteration + 1)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        state, value = "COMPLETE", float("nan")
        try:
            m = GradeModel(
                directions=dirs, n_classes=n_classes(ind), seed=cfg.seed, reg_lambda=cfg.reg_lambda, **p
            ).fit(tr[feats], tr["label"], X_cal=cal[feats], y_cal=cal["label"], callbacks=[prune])
            value = rank_score(cal["label"], m.margin(cal[feats]))
            return value
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        finally:
            if on_trial is not None:
                on_trial(trial.number, state, p, None if value != value else value)

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cfg.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=25),
    )
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    return {
        "best_params": study.best_params if done else {},
        "best_calibration_rank_score": study.best_value if done else None,
        "trials": len(study.trials),
        "completed": len(done),
        "pruned": sum(t.state.name == "PRUNED" for t in study.trials),
    }


def fit_industry(
    store: Store,
    code: str,
    config: GradingConfig | None = None,
    params: dict | None = None,
    predictions: dict | None = None,
    incumbent: Any = None,
) -> tuple[Grader, dict]:
    """The champion grader of industry ``code`` and its hold-out evidence (every contender's figures
    in ``baselines``, the decision in ``champion``); see :func:`run_championship`."""
    ch = run_championship(store, code, config, params, predictions, incumbent)
    return ch.champion.grader, ch.evidence


def evidence(
    model: GradeModel,
    ind: Industry,
    hold: pd.DataFrame,
    feats: list[str],
    cfg: GradingConfig,
    sets: dict,
    quality: dict,
    *,
    registered_on: pd.Series | None = None,
) -> dict:
    """The model's hold-out evidence; ``quality`` is its row of :func:`compare_baselines`.

    Per grade: organisations, outcomes, the outcome rate with its 95% Wilson interval, and the
    share of the band table's grade among the organisations it grades (not vetoed, not new
    entrants: these are counted separately) next to the target share and whether it is within the
    tolerance (also as ``shares``; ``bands``: the bands applied, with fitted bounds and their
    reference). New entrants are known when ``registered_on`` (subject_id -> registration date) is
    given."""
    from sklearn.metrics import roc_auc_score

    y, outcome = hold["label"].to_numpy(), hold["outcome"].to_numpy()
    X = hold.set_index("subject_id")
    proba_raw, proba = model.predict_proba(X[feats], calibrated=False), model.predict_proba(X[feats])
    before, _ = class_calibration(y, proba_raw, model.class_names_)
    after, tables = class_calibration(y, proba, model.class_names_)
    bands = resolve_bands(model, ind)
    graded = grade_organisations(model, ind, X, registered_on=registered_on, as_of=cfg.holdout_cutoff)
    eligible = band_graded(graded).to_numpy()
    shares = share_table(graded["model_grade"], bands, eligible)
    bad = graded["grade"].isin(GRADES[-2:]).to_numpy()
    per_grade = []
    for g, sh in zip(GRADES, shares.to_dict(orient="records")):
        m = (graded["grade"] == g).to_numpy()
        n, k = int(m.sum()), int(outcome[m].sum())
        lo, hi = wilson(k, n)
        per_grade.append(
            {
                "grade": g,
                "organisations": n,
                "outcomes": k,
                "outcome_rate": k / n if n else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
                "mean_risk": float(graded.loc[m, "risk"].mean()) if n else float("nan"),
                "sampling_ratio": ind.supervision[g].sampling_ratio,
                "vetoed": int((m & (graded["veto"] != "").to_numpy()).sum()),
                "new_entrants": int((m & graded["new_entrant"].to_numpy(bool)).sum()),
                "band_graded": sh["band_graded"],
                "share": sh["share"],
                "target": sh["target"],
                "within_tolerance": sh["within_tolerance"],
            }
        )
    checked = [r["within_tolerance"] for r in per_grade if r["within_tolerance"] is not None]
    out = {
        "industry": ind.code,
        "label": ind.label,
        "classes": list(model.class_names_),
        "model_version": model.version_,
        "train_cutoffs": [c.isoformat() for c in cfg.cutoffs],
        "calibration_cutoff": cfg.calibration_cutoff.isoformat(),
        "holdout_cutoff": cfg.holdout_cutoff.isoformat(),
        "rows": {k: int(len(v)) for k, v in sets.items()},
        "holdout_outcome_rate": float(outcome.mean()),
        "auc": quality["auc"],
        "auc_bad_grades": float(roc_auc_score(outcome, bad)) if 0 < bad.mean() < 1 else float("nan"),
        "brier_before": quality["brier_before"],
        "ece_before": quality["ece_before"],
        "brier": quality["brier"],
        "ece": quality["ece"],
        "calibration": {"scale": model.calibrator_.scale_, "thresholds": model.calibrator_.thresholds_},
        "per_class": before.add_suffix("_before")
        .rename(columns={"class_before": "class"})
        .merge(after, on="class")
        .to_dict(orient="records"),
        "reliability": tables,
        "per_grade": per_grade,
        "vetoed": int((graded["veto"] != "").sum()),
        "new_entrants": int(graded["new_entrant"].sum()),
        "band_graded": int(eligible.sum()),
        "bands": bands.model_dump(mode="json"),
        "shares": shares.to_dict(orient="records"),
        # None: the industry declares no target shares
        "shares_within_tolerance": all(checked) if checked else None,
    }
    if "qwk" in quality:
        out["qwk_expert_grade"] = quality["qwk"]
    return out
