"""HTML model reports and model cards (模型报告与模型卡), one per registered version.

A report is one self-contained HTML file (plots inlined as PNG) covering discrimination (ROC, KS),
calibration (reliability curve), a SHAP summary (grade models) or the line-item summary (信义金,
whose items are its exact additive explanation), the grade or score distribution, a monotonicity
check, the data basis of every feature, and the model card: intended use, legal basis, limits, and
a fairness audit by sex, age band and region (read from ID numbers for the audit only,
:mod:`scoring.oversight.fairness`). It is saved under ``reports/`` and attached to the version's MLflow run.
No ID number appears in a report.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.core.errors import DataError
from scoring.features.industry import GRADES

TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #1f5fa8; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: .85em; margin: .6em 0; } td, th { border: 1px solid #ccc; padding: .25em .55em; }
th { background: #eef3fa; } .figs img { max-width: 48%; margin: .3em; border: 1px solid #ddd; } .figs img.wide { max-width: 100%; } .note { color: #555; }
.kv td:first-child { font-weight: bold; background: #f6f6f6; } .bad { color: #b00020; font-weight: bold; } .ok { color: #137333; }
</style></head><body>
<h1>{{ title }}</h1>
<table class="kv">{% for k, v in header %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>
<h2>1. 区分能力 Discrimination</h2>
<p>AUC {{ "%.4f"|format(auc) }} · KS {{ "%.4f"|format(ks) }} (hold-out {{ holdout }}, {{ rows }} subjects, outcome rate {{ "%.1f%%"|format(100 * rate) }})</p>
<div class="figs"><img alt="ROC" src="data:image/png;base64,{{ figs.roc }}"><img alt="KS" src="data:image/png;base64,{{ figs.ks }}"></div>
<h2>2. 校准 Calibration</h2>
<div class="figs"><img class="wide" alt="reliability" src="data:image/png;base64,{{ figs.reliability }}"></div>
{{ calibration_table }}
<h2>3. {{ explain_title }}</h2>
<div class="figs"><img alt="explanations" src="data:image/png;base64,{{ figs.explain }}"></div>
{{ explain_table }}
<h2>4. {{ dist_title }}</h2>
<div class="figs"><img alt="distribution" src="data:image/png;base64,{{ figs.distribution }}"></div>
{{ dist_table }}
<h2>5. 单调性检验 Monotonicity check</h2>
<p class="note">Each constrained feature is raised on every hold-out row (by one unit, or its inter-quartile range if larger);
the risk may never fall (grades) / the points may never rise (信义金) for a risk-increasing feature, and the reverse.</p>
<p class="{{ 'ok' if mono_ok else 'bad' }}">{{ mono_summary }}</p>
{{ mono_table }}
<h2>6. 数据依据 Data basis of every feature</h2>
{{ basis_table }}
<h2>7. 模型卡 Model card</h2>
<h3>用途 Intended use</h3><p>{{ card.intended_use }}</p>
<h3>法律依据 Legal basis</h3><p>{{ card.legal_basis }}</p>
<h3>局限 Limits</h3><ul>{% for x in card.limits %}<li>{{ x }}</li>{% endfor %}</ul>
<h3>公平性审计 Fairness audit</h3>
<p class="note">{{ card.fairness_note }}</p>
{{ fairness_table }}
<p class="note">Generated {{ generated }} by xinyi {{ xinyi_version }}.</p>
</body></html>
"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table(df: pd.DataFrame, digits: int = 4) -> str:
    return df.round(digits).to_html(index=False, border=0, escape=True, na_rep="")


def _roc_ks(y, risk) -> tuple[dict, float, float]:
    from sklearn.metrics import roc_auc_score, roc_curve

    from scoring.evaluation.metrics import ks_statistic
    from scoring.evaluation.plots import _figure

    fpr, tpr, _ = roc_curve(y, risk)
    fig, ax = _figure(1, 4.2, 3.6)
    a = ax[0][0]
    a.plot(fpr, tpr, color="#1f5fa8"), a.plot([0, 1], [0, 1], ls="--", color="#999")
    a.set_xlabel("false positive rate"), a.set_ylabel("true positive rate"), a.set_title("ROC")
    roc = _png(fig)
    order = np.argsort(-np.asarray(risk))
    ys = np.asarray(y)[order]
    cb, cg = np.cumsum(ys) / max(ys.sum(), 1), np.cumsum(1 - ys) / max((1 - ys).sum(), 1)
    fig, ax = _figure(1, 4.2, 3.6)
    a = ax[0][0]
    x = np.arange(1, len(ys) + 1) / len(ys)
    a.plot(x, cb, label="outcome"), a.plot(x, cg, label="no outcome"), a.legend()
    a.set_xlabel("share of subjects, riskiest first"), a.set_ylabel("cumulative share"), a.set_title("KS")
    return {"roc": roc, "ks": _png(fig)}, float(roc_auc_score(y, risk)), ks_statistic(np.asarray(y), np.asarray(risk))


def _bar(labels, values, title: str, xlabel: str = "") -> str:
    from scoring.evaluation.plots import _figure

    fig, ax = _figure(1, 6.0, 0.25 * len(labels) + 1.2)
    a = ax[0][0]
    a.barh(range(len(labels)), values, color="#1f5fa8")
    a.set_yticks(range(len(labels)), labels, fontsize=7), a.invert_yaxis()
    a.set_title(title), a.set_xlabel(xlabel)
    return _png(fig)


def _monotonicity(predict, X: pd.DataFrame, directions: dict[str, str], sign: int) -> pd.DataFrame:
    """``sign`` +1: output is risk (must not fall for an increases_risk feature); -1: output is points."""
    base = predict(X)
    rows = []
    for f, d in directions.items():
        if d not in ("increases_risk", "decreases_risk") or f not in X.columns:
            continue
        v = X[f].astype(float)
        q = np.nanpercentile(v, [25, 75]) if v.notna().any() else np.array([0, 0])
        step = max(1.0, float(q[1] - q[0]))
        up = X.copy()
        up[f] = v + step
        delta = (predict(up) - base) * sign * (1 if d == "increases_risk" else -1)
        rows.append(
            {"feature": f, "direction": d, "step": step, "rows": len(X), "violations": int((delta < -1e-9).sum())}
        )
    return pd.DataFrame(rows)


def _basis(meta: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    m = meta.set_index("feature").reindex(features)
    return pd.DataFrame(
        {
            "feature": features,
            "名称": m["label_zh"].to_numpy(),
            "direction": m["direction"].to_numpy(),
            "catalogue basis": m["basis"].to_numpy(),
            "legal basis": m["legal_basis"].to_numpy(),
        }
    )


def _render(ctx: dict) -> str:
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(TEMPLATE).render(**ctx)


def _fairness_table(df: pd.DataFrame) -> str:
    return _table(df) if len(df) else "<p>(no groups)</p>"


def grade_report(store, model, reg, out_dir: str | Path, *, fairness_min_group: int = 30) -> Path:
    """The report of a registered industry grade model version on its hold-out cut-off."""
    from markupsafe import Markup

    from scoring import __version__
    from scoring.evaluation.plots import class_labels, reliability_figure
    from scoring.features.builder import FeatureBuilder
    from scoring.features.industry import load_industries
    from scoring.features.training import training_set
    from scoring.grades.grading import class_calibration, grade_organisations
    from scoring.oversight.fairness import audit, organisation_attributes

    info = model.info_
    ind = load_industries()[info["industry"]]
    hold_cut = dt.date.fromisoformat(info["holdout_cutoff"])
    hold = training_set(
        store, [hold_cut], subjects="organisations", industry=ind.code, label=info.get("label", "outcome")
    )
    X = hold.set_index("subject_id")[model.features_]
    y = hold["outcome"].to_numpy()
    graded = grade_organisations(model, ind, X)
    figs, auc, ks = _roc_ks(y, graded["risk"].to_numpy())
    proba = graded[[f"p_{c}" for c in model.class_names_]].to_numpy()
    per_class, tables = class_calibration(hold["label"], proba, model.class_names_)
    figs["reliability"] = _png(
        reliability_figure(tables, class_labels(model.class_names_), title="calibrated probabilities vs observed")
    )
    contrib = model.contributions(X).drop(columns="bias")
    mean_abs = contrib.abs().mean().sort_values(ascending=False).head(15)
    figs["explain"] = _bar(list(mean_abs.index), mean_abs.to_numpy(), "mean |SHAP| (top 15)", "log-odds")
    dist = (
        graded.groupby("grade")
        .agg(organisations=("risk", "size"), mean_risk=("risk", "mean"))
        .reindex(GRADES)
        .fillna(0)
    )
    dist["observed_outcome_rate"] = pd.Series(y, index=X.index).groupby(graded["grade"]).mean().reindex(GRADES)
    figs["distribution"] = _bar(
        class_labels(GRADES), dist["organisations"].to_numpy(), "organisations per grade (hold-out)"
    )
    mono = _monotonicity(lambda Z: model.margin(Z), X, model.directions or {}, +1)
    meta = FeatureBuilder(store, subjects="organisations", industry=ind.code).meta
    subj = store.sql("SELECT subject_id, subject_type FROM subjects").set_index("subject_id")["subject_type"]
    fair = audit(
        organisation_attributes(X.index.to_series(), subj),
        score=-graded["risk"],
        outcome=y,
        risk=graded["risk"],
        min_group=fairness_min_group,
    )
    title = f"行业信用评价模型报告 · {ind.name_zh} ({ind.code}) · {reg.name} v{reg.version}"
    ctx = _context(title, reg, model.version_, info, auc, ks, hold_cut, len(X), float(y.mean()), figs, __version__)
    ctx |= {
        "calibration_table": Markup(_table(per_class)),
        "explain_title": "SHAP 解释汇总 SHAP summary",
        "explain_table": Markup(
            _table(mean_abs.rename("mean_abs_shap").reset_index().rename(columns={"index": "feature"}))
        ),
        "dist_title": "等级分布 Grade distribution",
        "dist_table": Markup(_table(dist.reset_index())),
        "mono_table": Markup(_table(mono)),
        "mono_ok": bool((mono["violations"] == 0).all()),
        "mono_summary": f"{int((mono['violations'] == 0).sum())} of {len(mono)} constrained features hold on every row",
        "basis_table": Markup(_table(_basis(meta, model.features_))),
        "fairness_table": Markup(_fairness_table(fair)),
        "card": {
            "intended_use": f"{ind.regulator}对{ind.name_zh}开展分级分类监管：按等级确定双随机抽查比例与频次（不作为行政处罚依据）。"
            "Grades organisations of one industry for tiered supervision; not a basis for penalties.",
            "legal_basis": "《社会信用体系建设法》（2026）及行业信用分级分类监管办法；特征仅取自信用信息目录所列公共信用信息（见第6节）。",
            "limits": [
                f"Label: {info.get('label')} — trained on cut-offs {', '.join(info.get('train_cutoffs', []))}, "
                f"calibrated on {info.get('calibration_cutoff')}, checked on {info.get('holdout_cutoff')}.",
                "Vetoes (直接定级) and the upgrade limit override the model; the list shows which applied.",
                "Organisations registered within the new-entrant window get the configured grade, not a model grade.",
                "Evidence per grade rests on one hold-out year; small grades have wide intervals.",
            ],
            "fairness_note": "Outcomes by registration region (USCC digits 3-8) and subject type; attributes used for this audit only.",
        },
    }
    return _write(out_dir, reg, _render(ctx))


def _context(title, reg, content_version, info, auc, ks, holdout, rows, rate, figs, xinyi_version) -> dict:
    return {
        "title": title,
        "auc": auc,
        "ks": ks,
        "holdout": holdout,
        "rows": rows,
        "rate": rate,
        "figs": figs,
        "header": [
            ("registered model", f"{reg.name} v{reg.version}"),
            ("aliases", ", ".join(reg.aliases) or "—"),
            ("content version", content_version),
            ("MLflow run", reg.run_id),
            ("data snapshot (store fingerprint)", info.get("store_fingerprint", "—")),
            ("hold-out cut-off", str(holdout)),
        ],
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "xinyi_version": xinyi_version,
    }


def _write(out_dir, reg, text: str) -> Path:
    from scoring.core.privacy import contains_raw_id

    if contains_raw_id(text):
        raise DataError("a report would contain a raw ID number; refusing to write it")
    out = Path(out_dir) / f"{reg.name}-v{reg.version}"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    path.write_text(text, encoding="utf-8")
    return path


def points_report(store, card, reg, out_dir: str | Path, *, fairness_min_group: int = 30) -> Path:
    """The report of a registered 信义金 card version on its hold-out cut-off."""
    from markupsafe import Markup

    from scoring import __version__
    from scoring.evaluation.metrics import reliability
    from scoring.evaluation.plots import _figure
    from scoring.features.builder import FeatureBuilder
    from scoring.features.training import training_set
    from scoring.oversight.fairness import audit, person_attributes
    from scoring.points.personal import load_card_config

    cfg = load_card_config()
    hold = training_set(store, [cfg.holdout_cutoff], subjects="persons")
    X = hold.set_index("subject_id")[card.features_]
    y = hold["label"].to_numpy()
    points = card.score(X).to_numpy(float)
    risk = card.predict_risk(X) if not getattr(card, "expert_", None) else -points
    figs, auc, ks = _roc_ks(y, risk)
    table, brier, ece = (
        reliability(y, risk) if not getattr(card, "expert_", None) else (pd.DataFrame(), float("nan"), float("nan"))
    )
    fig, ax = _figure(1, 4.2, 3.6)
    a = ax[0][0]
    if len(table):
        top = max(table["predicted"].max(), table["observed"].max()) * 1.05
        a.plot([0, top], [0, top], ls="--", color="#999"), a.plot(table["predicted"], table["observed"], marker="o")
    a.set_xlabel("predicted"), a.set_ylabel("observed"), a.set_title("reliability by risk decile")
    figs["reliability"] = _png(fig)
    items = card.items(X)
    mean_items = items.mean().sort_values(ascending=False)
    figs["explain"] = _bar(list(mean_items.index), mean_items.to_numpy(), "mean points per line item", "points")
    fig, ax = _figure(1, 5.0, 3.4)
    ax[0][0].hist(points, bins=40, color="#1f5fa8"), ax[0][0].set_title("points (hold-out)")
    ax[0][0].set_xlabel("points (0-1000)")
    figs["distribution"] = _png(fig)
    q = pd.Series(points).describe(percentiles=[0.05, 0.25, 0.5, 0.75, 0.95]).to_frame("points").T
    mono = _monotonicity(lambda Z: card.score(Z).to_numpy(float), X, card.directions or {}, -1)
    meta = FeatureBuilder(store, subjects="persons").meta
    fair = audit(
        person_attributes(X.index.to_series(), cfg.holdout_cutoff),
        score=points,
        outcome=y,
        risk=None if getattr(card, "expert_", None) else risk,
        min_group=fairness_min_group,
    )
    title = f"信义金个人积分卡报告 · {reg.name} v{reg.version}"
    info = {"store_fingerprint": store.fingerprint()}
    ctx = _context(
        title,
        reg,
        getattr(card, "version_", "—"),
        info,
        auc,
        ks,
        cfg.holdout_cutoff,
        len(X),
        float(y.mean()),
        figs,
        __version__,
    )
    ctx |= {
        "calibration_table": Markup(_table(table) + f"<p>Brier {brier:.4f} · ECE {ece:.4f}</p>"),
        "explain_title": "逐项解释汇总 Line items (the exact additive explanation)",
        "explain_table": Markup(_table(card.summary())),
        "dist_title": "积分分布 Score distribution (no tiers: 不分等级)",
        "dist_table": Markup(_table(q)),
        "mono_table": Markup(_table(mono)),
        "mono_ok": bool((mono["violations"] == 0).all()),
        "mono_summary": f"{int((mono['violations'] == 0).sum())} of {len(mono)} directed features hold on every row",
        "basis_table": Markup(_table(_basis(meta, card.features_))),
        "fairness_table": Markup(_fairness_table(fair)),
        "card": {
            "intended_use": "信义金：向本人展示信用积分及逐项明细，用于守信激励场景（信义+）；不分等级，不用于惩戒。"
            "A transparent additive points score shown to its subject, item by item; for incentives only.",
            "legal_basis": "个人信息保护法第24条（自动化决策的透明与说明）、第48条（解释说明权）；特征仅取自信用信息目录所列公共信用信息（见第6节）。",
            "limits": [
                "No tier labels are put on a person; scenes use their own thresholds.",
                "Persons under a serious-dishonesty or dishonest-debtor listing are suspended by the gate, not scored.",
                "Positive items can be declined by the person (opt-out).",
                f"Checked on one hold-out cut-off ({cfg.holdout_cutoff}).",
            ],
            "fairness_note": "Sex, age band and region are read from ID numbers for this audit only, never used as features; "
            f"groups under {fairness_min_group} persons are suppressed; only aggregates are shown.",
        },
    }
    return _write(out_dir, reg, _render(ctx))


def attach(tracking_uri: str, run_id: str, path: Path) -> None:
    """Attach a report to the version's MLflow run (artifact folder ``reports/``)."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri).log_artifact(run_id, str(path), "reports")


def write_report(store, model, reg, tracking_uri: str, out_dir: str | Path) -> Path:
    """Write the report of a registered version (``model``: its card or grade model, loaded by the
    caller; ``reg``: its :class:`~scoring.lineage.registry.Registered`) and attach it to its MLflow run."""
    build = grade_report if reg.name.startswith("xinyi-grades-") else points_report
    path = build(store, model, reg, out_dir)
    attach(tracking_uri, reg.run_id, path)
    return path
