"""The models-from-code file of every registered xinyi model (MLflow ``python_model=<this file>``).

MLflow copies this file into the logged model and runs it when the model is loaded
(``mlflow.pyfunc.load_model``, ``mlflow models serve``); the ``scoring`` package itself travels with
the model (``code_paths``) and the card or grade model travels as its JSON file (LightGBM's text
model inside), so nothing is pickled and the environment needs only packages an index has.
xinyi never imports this module for itself: :mod:`scoring.lineage.serving` holds the logic.
"""

from __future__ import annotations

from typing import Any

import mlflow.models
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext


class XinyiModel(PythonModel):
    """A registered 信义金 card or industry grade model: the published output for its input."""

    def load_context(self, context: PythonModelContext) -> None:
        from scoring.lineage.serving import load_scorer

        self._scorer = load_scorer(context.artifacts, context.model_config)

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        return self._scorer(model_input)


if __name__ != "scoring.lineage.model_code":  # run by MLflow as a model file, not imported
    mlflow.models.set_model(XinyiModel())
