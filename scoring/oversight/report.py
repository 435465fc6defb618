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
<p>AUC {{ "%.4f"|format(auc) }} · KS {{ "%.4f"|format(ks) }}（留出期 {{ holdout }}，{{ rows }} 个主体，结果发生率 {{ "%.1f%%"|format(100 * rate) }}）</p>
<div class="figs"><img alt="ROC" src="data:image/png;base64,{{ figs.roc }}"><img alt="KS" src="data:image/png;base64,{{ figs.ks }}"></div>
{% if baseline_table %}<h3>基准模型对比 Baseline comparison</h3>
<p class="note">{{ baseline_note }}</p>
{{ baseline_table }}{% endif %}
<h2>2. 校准 Calibration</h2>
<div class="figs"><img class="wide" alt="reliability" src="data:image/png;base64,{{ figs.reliability }}"></div>
{{ calibration_table }}
<h2>3. {{ explain_title }}</h2>
<div class="figs"><img alt="explanations" src="data:image/png;base64,{{ figs.explain }}"></div>
{{ explain_table }}
<h2>4. {{ dist_title }}</h2>
{% if dist_note %}<p class="note">{{ dist_note }}</p>{% endif %}
{% if shares_summary %}<p class="{{ 'ok' if shares_ok else 'bad' }}">{{ shares_summary }}</p>{% endif %}
<div class="figs"><img alt="distribution" src="data:image/png;base64,{{ figs.distribution }}"></div>
{{ dist_table }}
<h2>5. 单调性检验 Monotonicity check</h2>
<p class="note">{{ mono_note }}</p>
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
<p class="note">生成于 {{ generated }}，xinyi {{ xinyi_version }}。</p>
</body></html>
"""

DIRECTIONS_ZH = {"increases_risk": "增加风险", "decreases_risk": "降低风险", "none": "无方向", "auto": "无方向"}
CONTENDERS_ZH = {  # the graders compared on the hold-out (CONTRACTS14 item 4)
    "lightgbm": "行业模型（LightGBM）",
    "pooled_lightgbm": "全市合并模型",
    "expert_sheet": "专家评分表",
    "ordinal_logistic": "有序逻辑回归",
}
BASELINE_COLUMNS_ZH = {
    "model": "模型",
    "auc": "AUC",
    "brier": "Brier（校准后）",
    "ece": "ECE（校准后）",
    "brier_before": "Brier（校准前）",
    "ece_before": "ECE（校准前）",
    "qwk": "QWK（与专家等级）",
    "fit_seconds": "训练耗时（秒）",
}
GRADE_COLUMNS_ZH = {
    "grade": "信用等级",
    "organisations": "主体数",
    "vetoed": "其中直接定级",
    "new_entrants": "其中新设主体",
    "band_graded": "按分级表定级主体数",
    "share": "占按分级表定级主体比例",
    "target": "目标占比",
    "tolerance": "允许偏差",
    "within_tolerance": "是否在允许偏差内",
    "outcomes": "结果发生数",
    "outcome_rate": "结果发生率",
    "ci": "结果发生率95%置信区间",
    "mean_risk": "平均风险概率",
    "sampling_ratio": "双随机抽查比例",
}
CLASS_COLUMNS_ZH = {
    "class": "类别",
    "observed_share": "实际占比",
    "mean_predicted": "平均预测概率",
    "brier": "Brier",
    "ece": "ECE",
}
MONO_COLUMNS_ZH = {"feature": "特征", "direction": "方向", "step": "增量", "rows": "检验行数", "violations": "违反行数"}
FAIRNESS_COLUMNS_ZH = {
    "attribute": "属性",
    "group": "组别",
    "subjects": "主体数",
    "suppressed": "因人数过少不显示",
    "mean_score": "平均得分",
    "outcome_rate": "结果发生率",
    "mean_predicted": "平均预测概率",
    "auc": "组内AUC",
}


def _cjk_font():
    """A font matplotlib can draw Chinese with (its FontProperties), or None: figures then keep
    ASCII labels and the tables beside them carry the Chinese ones."""
    from matplotlib import font_manager

    for f in font_manager.fontManager.ttflist:
        if any(k in f.name for k in ("CJK", "WenQuanYi", "SimHei", "Source Han")):
            return font_manager.FontProperties(fname=f.fname)
    return None


def _pct(v) -> str:
    return "" if v is None or v != v else f"{100 * v:.1f}%"


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

    fp = _cjk_font()

    def zh(a, title: str, x: str, y: str, en: tuple[str, str, str]) -> None:
        if fp is None:
            a.set_title(en[0]), a.set_xlabel(en[1]), a.set_ylabel(en[2])
        else:
            (
                a.set_title(title, fontproperties=fp),
                a.set_xlabel(x, fontproperties=fp),
                a.set_ylabel(y, fontproperties=fp),
            )

    fpr, tpr, _ = roc_curve(y, risk)
    fig, ax = _figure(1, 4.2, 3.6)
    a = ax[0][0]
    a.plot(fpr, tpr, color="#1f5fa8"), a.plot([0, 1], [0, 1], ls="--", color="#999")
    zh(a, "ROC曲线", "误报率", "检出率", ("ROC", "false positive rate", "true positive rate"))
    roc = _png(fig)
    order = np.argsort(-np.asarray(risk))
    ys = np.asarray(y)[order]
    cb, cg = np.cumsum(ys) / max(ys.sum(), 1), np.cumsum(1 - ys) / max((1 - ys).sum(), 1)
    fig, ax = _figure(1, 4.2, 3.6)
    a = ax[0][0]
    x = np.arange(1, len(ys) + 1) / len(ys)
    names = ("发生结果", "未发生结果") if fp is not None else ("outcome", "no outcome")
    a.plot(x, cb, label=names[0]), a.plot(x, cg, label=names[1]), a.legend(prop=fp)
    zh(
        a,
        "KS曲线",
        "主体占比（风险由高到低）",
        "累计占比",
        ("KS", "share of subjects, riskiest first", "cumulative share"),
    )
    return {"roc": roc, "ks": _png(fig)}, float(roc_auc_score(y, risk)), ks_statistic(np.asarray(y), np.asarray(risk))


def _bar(labels, values, title: str, xlabel: str = "", *, zh: tuple[list[str], str, str] | None = None) -> str:
    """A horizontal bar chart; ``zh``: (labels, title, x label) in Chinese, drawn when a CJK font is there."""
    from scoring.evaluation.plots import _figure

    fp = _cjk_font() if zh is not None else None
    if fp is not None and zh is not None:
        labels, title, xlabel = zh
    fig, ax = _figure(1, 6.0, 0.25 * len(labels) + 1.2)
    a = ax[0][0]
    a.barh(range(len(labels)), values, color="#1f5fa8")
    a.set_yticks(range(len(labels)), labels, fontsize=7, fontproperties=fp), a.invert_yaxis()
    a.set_title(title, fontproperties=fp), a.set_xlabel(xlabel, fontproperties=fp)
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
            "特征": features,
            "名称": m["label_zh"].to_numpy(),
            "方向": m["direction"].map(DIRECTIONS_ZH).fillna(m["direction"]).to_numpy(),
            "信用信息目录依据": m["basis"].to_numpy(),
            "法律依据": m["legal_basis"].to_numpy(),
        }
    )


def _mono_zh(mono: pd.DataFrame) -> pd.DataFrame:
    out = mono.copy()
    if "direction" in out.columns:
        out["direction"] = out["direction"].map(DIRECTIONS_ZH).fillna(out["direction"])
    return out.rename(columns=MONO_COLUMNS_ZH)


def _render(ctx: dict) -> str:
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(TEMPLATE).render(**ctx)


def _fairness_table(df: pd.DataFrame) -> str:
    return _table(df.rename(columns=FAIRNESS_COLUMNS_ZH)) if len(df) else "<p>（无分组）</p>"


def grade_tables(model, ind, graded: pd.DataFrame, outcome) -> tuple[pd.DataFrame, dict]:
    """Per grade on the hold-out: organisations (vetoed and new entrants apart), the share among
    the band-graded organisations against the target and tolerance, the outcome rate with its 95%
    Wilson interval; and a summary (bands applied, whether every share is within its tolerance)."""
    from scoring.evaluation.metrics import wilson
    from scoring.grades.bands import band_graded, resolve_bands, share_table

    bands = resolve_bands(model, ind)
    eligible = band_graded(graded).to_numpy()
    shares = share_table(graded["model_grade"], bands, eligible).set_index("grade")
    y = np.asarray(outcome, int)
    rows = []
    for g in GRADES:
        m = (graded["grade"] == g).to_numpy()
        n, k = int(m.sum()), int(y[m].sum())
        lo, hi = wilson(k, n)
        sh = shares.loc[g]
        rows.append(
            {
                "grade": g,
                "organisations": n,
                "vetoed": int((m & (graded["veto"] != "").to_numpy()).sum()),
                "new_entrants": int((m & graded["new_entrant"].to_numpy(bool)).sum()),
                "band_graded": int(sh["band_graded"]),
                "share": _pct(sh["share"]),
                "target": _pct(sh["target"]),
                "tolerance": "" if sh["tolerance"] != sh["tolerance"] else f"±{100 * sh['tolerance']:.1f}个百分点",
                "within_tolerance": {True: "是", False: "否"}.get(sh["within_tolerance"], ""),
                "outcomes": k,
                "outcome_rate": _pct(k / n) if n else "",
                "ci": f"{_pct(lo)} – {_pct(hi)}" if n else "",
                "mean_risk": float(graded.loc[m, "risk"].mean()) if n else float("nan"),
                "sampling_ratio": _pct(ind.supervision[g].sampling_ratio),
            }
        )
    checked = [v for v in shares["within_tolerance"] if v is not None]
    return pd.DataFrame(rows), {
        "bands": bands,
        "within": all(checked) if checked else None,
        "missed": [g for g, v in shares["within_tolerance"].items() if v is False],
        "band_graded": int(eligible.sum()),
        "vetoed": int((graded["veto"] != "").sum()),
        "new_entrants": int(graded["new_entrant"].sum()),
    }


def baseline_table(evidence: dict | None) -> pd.DataFrame:
    """The fit's comparison of graders on the same hold-out (``evidence["baselines"]``), in Chinese."""
    rows = list((evidence or {}).get("baselines", []))
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    df["model"] = df["model"].map(lambda m: CONTENDERS_ZH.get(m, m))
    cols = [c for c in BASELINE_COLUMNS_ZH if c in df.columns]
    return df[cols].rename(columns=BASELINE_COLUMNS_ZH)


def grade_report(
    store, model, reg, out_dir: str | Path, *, fairness_min_group: int = 30, evidence: dict | None = None
) -> Path:
    """The report of a registered industry grade model version on its hold-out cut-off, in the
    regulator's language: grades 优秀..差, every grade's outcome rate with its 95% interval and its
    share against the target share, and (``evidence``: the fit's logged evidence) the baseline
    comparison on the same hold-out."""
    from markupsafe import Markup

    from scoring import __version__
    from scoring.evaluation.plots import class_labels, reliability_figure
    from scoring.features.builder import FeatureBuilder
    from scoring.features.industry import load_industries
    from scoring.features.training import training_set
    from scoring.grades.bands import bands_text
    from scoring.grades.grading import class_calibration, grade_organisations
    from scoring.oversight.fairness import audit, organisation_attributes

    info = model.info_
    ind = load_industries()[info["industry"]]
    hold_cut = dt.date.fromisoformat(info["holdout_cutoff"])
    hold = training_set(
        store, [hold_cut], subjects="organisations", industry=ind.code, label=info.get("label", "outcome")
    )
    Xall = hold.set_index("subject_id")
    X = Xall[model.features_]
    y = hold["outcome"].to_numpy()
    reg_on = store.sql("SELECT subject_id, registered_on FROM subjects WHERE subject_type <> 'person'")
    graded = grade_organisations(
        model, ind, Xall, registered_on=reg_on.set_index("subject_id")["registered_on"], as_of=hold_cut
    )
    figs, auc, ks = _roc_ks(y, graded["risk"].to_numpy())
    proba = graded[[f"p_{c}" for c in model.class_names_]].to_numpy()
    per_class, tables = class_calibration(hold["label"], proba, model.class_names_)
    fig = reliability_figure(tables, class_labels(model.class_names_), title="calibrated probabilities vs observed")
    fp = _cjk_font()
    if fp is not None:  # Chinese class titles where a CJK font can draw them
        for a, c in zip(fig.axes, model.class_names_):
            a.set_title(str(c), fontproperties=fp, fontsize=9), a.set_xlabel("预测概率", fontproperties=fp)
        fig.axes[0].set_ylabel("实际占比", fontproperties=fp)
        fig.suptitle("校准后预测概率与实际占比", fontproperties=fp)
    figs["reliability"] = _png(fig)
    contrib = model.contributions(X).drop(columns="bias")
    mean_abs = contrib.abs().mean().sort_values(ascending=False).head(15)
    meta = FeatureBuilder(store, subjects="organisations", industry=ind.code).meta
    names = meta.set_index("feature")["label_zh"]
    figs["explain"] = _bar(
        list(mean_abs.index),
        mean_abs.to_numpy(),
        "mean |SHAP| (top 15)",
        "log-odds",
        zh=([str(names.get(f, f)) for f in mean_abs.index], "平均|SHAP|（前15个特征）", "对数几率"),
    )
    dist, shares = grade_tables(model, ind, graded, y)
    figs["distribution"] = _bar(
        class_labels(GRADES),
        dist["organisations"].to_numpy(),
        "organisations per grade (hold-out)",
        zh=(list(GRADES), "各等级主体数（留出期）", "主体数"),
    )
    mono = _monotonicity(lambda Z: model.margin(Z), X, model.directions or {}, +1)
    subj = store.sql("SELECT subject_id, subject_type FROM subjects").set_index("subject_id")["subject_type"]
    fair = audit(
        organisation_attributes(X.index.to_series(), subj),
        score=-graded["risk"],
        outcome=y,
        risk=graded["risk"],
        min_group=fairness_min_group,
    )
    base = baseline_table(evidence)
    bands = shares["bands"]
    if shares["within"] is None:
        shares_summary = ""
    elif shares["within"]:
        shares_summary = "各等级占比均在目标占比的允许偏差内。"
    else:
        shares_summary = f"占比超出目标占比允许偏差的等级：{'、'.join(shares['missed'])}（见下表）。"
    title = f"行业信用评价模型报告 · {ind.name_zh}（{ind.code}）· {reg.name} v{reg.version}"
    ctx = _context(title, reg, model.version_, info, auc, ks, hold_cut, len(X), float(y.mean()), figs, __version__)
    ctx["header"] += [("分级表", bands_text(bands))]
    ctx |= {
        "calibration_table": Markup(_table(per_class.rename(columns=CLASS_COLUMNS_ZH))),
        "explain_title": "SHAP 解释汇总 SHAP summary",
        "explain_table": Markup(
            _table(
                pd.DataFrame(
                    {
                        "特征": mean_abs.index,
                        "名称": [names.get(f, f) for f in mean_abs.index],
                        "平均|SHAP|（对数几率）": mean_abs.to_numpy(),
                    }
                )
            )
        ),
        "baseline_table": Markup(_table(base)) if len(base) else "",
        "baseline_note": "同一留出期上各评价模型的区分能力与校准（本次拟合记录的对比；AUC越高越好，Brier与ECE越低越好，"
        "QWK为与专家等级的二次加权Kappa）。",
        "dist_title": "等级分布 Grade distribution",
        "dist_note": (
            f"留出期 {hold_cut}：按分级表定级 {shares['band_graded']} 个主体，直接定级 {shares['vetoed']} 个、"
            f"新设主体 {shares['new_entrants']} 个另计（不计入目标占比）。分级表：{bands_text(bands)}。"
            "结果发生率的区间为95% Wilson置信区间。"
        ),
        "shares_summary": shares_summary,
        "shares_ok": bool(shares["within"]),
        "dist_table": Markup(_table(dist.rename(columns=GRADE_COLUMNS_ZH))),
        "mono_note": "对每个有单调约束的特征，在每一行留出期数据上增加一个单位（或其四分位距，取较大者）："
        "增加风险的特征不得使风险降低，降低风险的特征反之。",
        "mono_table": Markup(_table(_mono_zh(mono))),
        "mono_ok": bool((mono["violations"] == 0).all()),
        "mono_summary": f"{len(mono)} 个有约束的特征中 {int((mono['violations'] == 0).sum())} 个在每一行上成立",
        "basis_table": Markup(_table(_basis(meta, model.features_))),
        "fairness_table": Markup(_fairness_table(fair)),
        "card": {
            "intended_use": f"{ind.regulator}对{ind.name_zh}开展分级分类监管：按等级确定双随机抽查比例与频次（不作为行政处罚依据）。",
            "legal_basis": "《社会信用体系建设法》（2026）及行业信用分级分类监管办法；特征仅取自信用信息目录所列公共信用信息（见第6节）。",
            "limits": [
                f"标签：{'下一期行业信用评价等级' if info.get('label') == 'expert_grade' else '12个月内发生严重违法失信'}；"
                f"训练基准日 {'、'.join(info.get('train_cutoffs', []))}，校准基准日 {info.get('calibration_cutoff')}，"
                f"检验（留出期）基准日 {info.get('holdout_cutoff')}。",
                "直接定级与升级限制优先于模型；名单注明所适用的规则。",
                "新设立主体（新设期内）按配置的等级定级，不采用模型等级。",
                "各等级的证据仅基于一个留出年度；主体数少的等级置信区间较宽。",
            ],
            "fairness_note": "按注册地区（统一社会信用代码第3-8位）与主体类型比较结果；这些属性仅用于本审计。",
        },
    }
    return _write(out_dir, reg, _render(ctx))


def _context(title, reg, content_version, info, auc, ks, holdout, rows, rate, figs, xinyi_version) -> dict:
    header = [
        ("注册模型", f"{reg.name} v{reg.version}"),
        ("别名", ", ".join(reg.aliases) or "—"),
        ("内容版本", content_version),
        ("MLflow运行ID", reg.run_id),
        ("数据快照（存储指纹）", info.get("store_fingerprint", "—")),
        ("留出期基准日", str(holdout)),
    ]
    if info.get("contender_zh"):
        header.append(("评价模型", str(info["contender_zh"])))
    if info.get("selection"):
        header.append(("选用依据", str(info["selection"])))
    return {
        "title": title,
        "auc": auc,
        "ks": ks,
        "holdout": holdout,
        "rows": rows,
        "rate": rate,
        "figs": figs,
        "header": header,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "xinyi_version": xinyi_version,
        "baseline_table": "",
        "dist_note": "",
        "shares_summary": "",
        "mono_note": "对每个有方向的特征，在每一行留出期数据上增加一个单位（或其四分位距，取较大者）："
        "增加风险的特征不得使积分上升，降低风险的特征反之。",
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
        "mono_table": Markup(_table(_mono_zh(mono))),
        "mono_ok": bool((mono["violations"] == 0).all()),
        "mono_summary": f"{len(mono)} 个有方向的特征中 {int((mono['violations'] == 0).sum())} 个在每一行上成立",
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


def logged_evidence(tracking_uri: str, run_id: str) -> dict | None:
    """The evidence a grade fit logged to its MLflow run (``evidence/evidence.json``), or None."""
    import json
    import tempfile

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        with tempfile.TemporaryDirectory() as d:
            p = MlflowClient(tracking_uri).download_artifacts(run_id, "evidence/evidence.json", d)
            return json.loads(Path(p).read_text(encoding="utf-8"))
    except (MlflowException, OSError, ValueError):  # no evidence logged: a report without the comparison
        return None


def write_report(store, model, reg, tracking_uri: str, out_dir: str | Path) -> Path:
    """Write the report of a registered version (``model``: its card or grade model, loaded by the
    caller; ``reg``: its :class:`~scoring.lineage.registry.Registered`) and attach it to its MLflow run.
    A grade report shows the baseline comparison its fit logged to the run."""
    if reg.name.startswith("xinyi-grades-"):
        path = grade_report(store, model, reg, out_dir, evidence=logged_evidence(tracking_uri, reg.run_id))
    else:
        path = points_report(store, model, reg, out_dir)
    attach(tracking_uri, reg.run_id, path)
    return path
