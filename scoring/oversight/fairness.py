"""Fairness audit (公平性审计) of a model's outcomes by sex, age band and region.

These attributes are read from ID numbers (GB 11643: region = the first six digits, birth date =
digits 7-14, sex = the parity of digit 17; the region of an organisation is its USCC's
registration-authority code) **for this audit only**: they are never features (configs that try are
refused by :mod:`scoring.core.lawful`), and only group aggregates leave this module — no ID, no row.
Groups smaller than ``min_group`` are suppressed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

AGE_BANDS = [(18, 30, "18-29"), (30, 45, "30-44"), (45, 60, "45-59"), (60, 200, "60+")]


def person_attributes(ids: pd.Series, as_of: dt.date) -> pd.DataFrame:
    """sex, age band and region (county code) of 18-digit ID numbers; unknown where not readable."""
    s = ids.astype(str)
    ok = s.str.fullmatch(r"\d{17}[\dXx]")
    birth = pd.to_datetime(s.str[6:14].where(ok), format="%Y%m%d", errors="coerce")
    age = (pd.Timestamp(as_of) - birth).dt.days / 365.25
    band = pd.Series("unknown", index=ids.index, dtype=object)
    for lo, hi, name in AGE_BANDS:
        band[(age >= lo) & (age < hi)] = name
    band[age < 18] = "under 18"
    sex = pd.Series(
        np.where(
            s.str[16].str.isdigit() & ok,
            np.where(pd.to_numeric(s.str[16], errors="coerce") % 2 == 1, "male", "female"),
            "unknown",
        ),
        index=ids.index,
    )
    region = s.str[:6].where(ok, "unknown")
    return pd.DataFrame({"sex": sex, "age_band": band, "region": region}, index=ids.index)


def organisation_attributes(ids: pd.Series, subject_type: pd.Series | None = None) -> pd.DataFrame:
    s = ids.astype(str)
    out = pd.DataFrame({"region": s.str[2:8]}, index=ids.index)
    if subject_type is not None:
        out["subject_type"] = subject_type.reindex(ids.index).to_numpy()
    return out


def audit(attributes: pd.DataFrame, *, score, outcome, risk=None, min_group: int = 30) -> pd.DataFrame:
    """Per attribute and group: subjects, mean score, observed outcome rate, mean predicted risk,
    and AUC within the group; groups below ``min_group`` are suppressed."""
    from sklearn.metrics import roc_auc_score

    base = pd.DataFrame({"score": np.asarray(score, float), "y": np.asarray(outcome, int)}, index=attributes.index)
    if risk is not None:
        base["risk"] = np.asarray(risk, float)
    rows = []
    for attr in attributes.columns:
        for g, d in base.groupby(attributes[attr].to_numpy()):
            n = len(d)
            if n < min_group:
                rows.append({"attribute": attr, "group": g, "subjects": n, "suppressed": True})
                continue
            auc = roc_auc_score(d["y"], -d["score"]) if 0 < d["y"].mean() < 1 else float("nan")
            rows.append(
                {
                    "attribute": attr,
                    "group": g,
                    "subjects": n,
                    "suppressed": False,
                    "mean_score": float(d["score"].mean()),
                    "outcome_rate": float(d["y"].mean()),
                    "mean_predicted": float(d["risk"].mean()) if "risk" in d else float("nan"),
                    "auc": float(auc),
                }
            )
    return pd.DataFrame(rows)
