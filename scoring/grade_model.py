"""The industry grade model (行业信用评价模型): one latent risk score, calibrated, then graded.

* LightGBM (binary, the outcome label) with monotone constraints from the feature directions
  (``increases_risk`` -> +1, ``decreases_risk`` -> -1, overridable per industry): more penalties
  can never lower the risk;
* isotonic calibration of the margin on a held-out fold -> calibrated probability of the outcome,
  which the industry's band table turns into 优秀..差 (:mod:`scoring.supervision` adds the new
  entrant rule, the upgrade limit and the vetoes);
* TreeSHAP contributions from LightGBM (``pred_contrib``), which sum exactly to the margin;
* saved as LightGBM's text model plus JSON (no pickle), printable as a table.

This module is the model core; tuning, tracking, lists and explanations build on it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

FORMAT = "xinyi.grade_model/1"


class GradeModel:
    """Constructor arguments are stored as given; validation happens in :meth:`fit`."""

    def __init__(self, directions: dict[str, str] | None = None, n_estimators: int = 150,
                 learning_rate: float = 0.05, num_leaves: int = 15, min_child_samples: int = 30,
                 reg_lambda: float = 1.0, seed: int = 0):
        self.directions = directions
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.seed = seed

    def _params(self) -> dict:
        return {"objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples, "lambda_l2": self.reg_lambda, "seed": self.seed,
                "deterministic": True, "force_row_wise": True, "num_threads": 2, "verbose": -1,
                "monotone_constraints_method": "advanced"}

    def fit(self, X: pd.DataFrame, y, X_cal: pd.DataFrame, y_cal, callbacks: list | None = None) -> "GradeModel":
        """Train on (X, y) and calibrate on (X_cal, y_cal). ``callbacks`` (LightGBM callbacks, e.g.
        for pruning during tuning) see the AUC on the calibration fold after every round."""
        import lightgbm as lgb
        from sklearn.isotonic import IsotonicRegression

        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a pandas DataFrame of features")
        dirs = dict(self.directions or {})
        bad = {f: d for f, d in dirs.items() if d not in ("increases_risk", "decreases_risk", "none")}
        if bad:
            raise ValueError(f"directions must be increases_risk, decreases_risk or none: {bad}")
        self.features_ = list(X.columns)
        self.monotone_ = [{"increases_risk": 1, "decreases_risk": -1}.get(dirs.get(f, "none"), 0) for f in self.features_]
        # LightGBM's monotone constraints do not bind missing values, so constrained features are
        # imputed (training median) before training and prediction
        self.impute_ = {f: float(np.nanmedian(X[f])) if X[f].notna().any() else 0.0
                        for f, mono in zip(self.features_, self.monotone_) if mono and X[f].isna().any()}
        params = self._params() | {"monotone_constraints": self.monotone_}
        data = lgb.Dataset(self._matrix(X), label=np.asarray(y, float), feature_name=self.features_,
                           free_raw_data=False)
        if callbacks:
            valid = lgb.Dataset(self._matrix(X_cal), label=np.asarray(y_cal, float), reference=data)
            self.booster_ = lgb.train(params | {"metric": "auc"}, data, num_boost_round=self.n_estimators,
                                      valid_sets=[valid], valid_names=["calibration"], callbacks=callbacks)
        else:
            self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        margin = self.margin(X_cal)
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        iso.fit(margin, np.asarray(y_cal, float))
        self.cal_x_ = [float(v) for v in iso.X_thresholds_]
        self.cal_y_ = [float(v) for v in iso.y_thresholds_]
        return self

    # -- prediction ----------------------------------------------------------------------------
    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return X[self.features_].fillna(self.impute_).to_numpy(float)

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        """The latent risk score (log-odds before calibration)."""
        return self.booster_.predict(self._matrix(X), raw_score=True)

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the outcome (isotonic on the held-out fold; monotone in the margin)."""
        return np.interp(self.margin(X), self.cal_x_, self.cal_y_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """TreeSHAP values per feature plus ``bias``; each row sums exactly to :meth:`margin`."""
        c = self.booster_.predict(self._matrix(X), pred_contrib=True)
        return pd.DataFrame(c, index=X.index, columns=self.features_ + ["bias"])

    # -- tables and persistence ----------------------------------------------------------------
    def build_table(self) -> pd.DataFrame:
        """Per feature: monotone constraint and gain importance."""
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.DataFrame({"feature": self.features_, "monotone": self.monotone_, "gain": gain}) \
            .sort_values("gain", ascending=False, ignore_index=True)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "params": {"directions": dict(self.directions or {}), "n_estimators": self.n_estimators,
                                             "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                                             "min_child_samples": self.min_child_samples,
                                             "reg_lambda": self.reg_lambda, "seed": self.seed},
                "features": self.features_, "monotone": self.monotone_, "impute": self.impute_,
                "calibration": {"x": self.cal_x_, "y": self.cal_y_},
                "booster": self.booster_.model_to_string()}
        p.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "GradeModel":
        import lightgbm as lgb

        d = json.loads(Path(path).read_text(encoding="utf-8"))
        if d.get("format") != FORMAT:
            raise ValueError(f"{path}: not a grade model file (format {d.get('format')!r})")
        m = cls(**d["params"])
        m.features_, m.monotone_, m.impute_ = d["features"], d["monotone"], d["impute"]
        m.cal_x_, m.cal_y_ = d["calibration"]["x"], d["calibration"]["y"]
        m.booster_ = lgb.Booster(model_str=d["booster"])
        return m
