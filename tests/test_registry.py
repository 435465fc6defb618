"""The MLflow registry round trip against a real `mlflow server` on loopback: register (with a
signature), alias, load by alias, score (the pyfunc gives the graded frame of a grade list) — and
the champion/challenger switch decides what scores."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from scoring.archive.store import open_store
from scoring.features.builder import FeatureBuilder
from scoring.grades.grading import fit_industry, run_championship
from scoring.grades.lists import grade_population
from scoring.lineage.publish import grade_rows
from scoring.lineage.registry import grades_name, load_registered, register, resolve, set_alias
from scoring.lineage.serving import model_input
from scoring.lineage.tracking import log_grade_fit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    log = open(d / "server.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{d / 'db.sqlite'}",
            "--artifacts-destination",
            str(d / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError("mlflow server did not start: " + (d / "server.log").read_text()[-2000:])
        time.sleep(0.5)
    yield uri
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_registry_round_trip_on_a_real_server(mlflow_server, sample_store, tmp_path):
    from mlflow import MlflowClient

    path, _ = sample_store
    with open_store(path, read_only=True) as st:
        model, ev = fit_industry(st, "food")
        X = FeatureBuilder(st, subjects="organisations", industry="food").at("2025-06-30").values
        f = model.save(tmp_path / "food.json")
        run_id = log_grade_fit(model, ev, st, tracking_uri=mlflow_server, model_path=f)
    name = grades_name("food")
    v1 = register(mlflow_server, name=name, model_path=f, kind="grade", run_id=run_id, example=X, aliases=("champion",))
    # a second, different version becomes the challenger: another contender of the same fit
    # (the champion may be any grader of the protocol; LightGBM with other parameters differs from it)
    with open_store(path, read_only=True) as st:
        ch = run_championship(st, "food", params={"n_estimators": 60, "num_leaves": 7})
    other = ch.contenders["lightgbm"].grader
    assert other is not None and other.version_ != model.version_
    f2 = other.save(tmp_path / "food2.json")
    v2 = register(
        mlflow_server, name=name, model_path=f2, kind="grade", run_id=run_id, example=X, aliases=("challenger",)
    )
    assert (v1.version, v2.version) == ("1", "2")
    mv = MlflowClient(mlflow_server).get_model_version(name, "1")
    assert mv.run_id == run_id
    champ, reg = load_registered(mlflow_server, name, alias="champion")
    assert reg.version == "1" and champ.version_ == model.version_
    rows = X[model.features_].head(50)
    assert np.array_equal(champ.predict_proba(rows), model.predict_proba(rows))
    # the pyfunc flavour scores through MLflow with its signature: the graded frame of a grade list
    import mlflow

    from scoring.lineage.tracking import using_tracking_uri

    with using_tracking_uri(mlflow_server):  # never leave MLFLOW_TRACKING_URI set for later tests
        pyf = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    with open_store(path, read_only=True) as st:
        inputs = model_input(st, model, "2025-06-30", industry="food")
        graded = grade_population(st, model, "2025-06-30", industry="food").graded
    sig = pyf.metadata.signature
    assert sig.inputs.input_names() == list(inputs.columns) and sig.inputs.input_names()[: len(model.features_)] == (
        model.features_
    )
    out = pyf.predict(inputs).set_axis(inputs.index, axis=0)
    assert sig.outputs.input_names() == list(out.columns) and "grade" in out.columns
    assert grade_rows(out).to_dict("records") == grade_rows(graded).to_dict("records")  # what is published
    assert np.array_equal(out[[f"p_{c}" for c in model.class_names_]].to_numpy(), model.predict_proba(inputs))
    # promoting the challenger switches what scores
    set_alias(mlflow_server, name, "champion", v2.version)
    champ2, reg2 = load_registered(mlflow_server, name, alias="champion")
    assert reg2.version == "2" and champ2.version_ == other.version_ != model.version_
    with pytest.raises(LookupError, match="no alias 'nope'"):
        resolve(mlflow_server, name, alias="nope")
