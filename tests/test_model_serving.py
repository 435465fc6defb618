"""The registered models are what publication is: loaded by ``mlflow.pyfunc`` in a fresh process
(with nothing installed beyond the model's requirements) and served by ``mlflow models serve`` on
loopback, the 信义金 card and the construction grade model give exactly the rows that
``points score --publish`` and ``grades list --publish`` publish; nothing is pickled; a copied or
moved work folder loads its own models; registering and loading print nothing."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.archive.store import open_store
from scoring.cli import app
from scoring.core.privacy import contains_raw_id
from scoring.grades.model import load_grader  # any grader: the champion may be any contender
from scoring.lineage.publish import grade_rows, score_rows
from scoring.lineage.registry import (
    POINTS_NAME,
    grades_name,
    load_pyfunc,
    load_registered,
    model_path,
    register,
    relocate,
)
from scoring.lineage.serving import model_input
from scoring.lineage.tracking import log_run
from scoring.points.card import PointsCard

AS_OF = "2026-06-30"
INDUSTRY = "construction"
GRADES = grades_name(INDUSTRY)
WAIT = 240  # seconds a subprocess or a server may take at most


def _register_both(work: Path, card_file: Path, grade_file: Path, store: Path, *, features_only: bool = False) -> str:
    """Log a run per model into ``work``'s tracking store and register both as champions; the
    example is the model's input frame, or (``features_only``) the feature table as the CLI passes it."""
    uri = f"sqlite:///{work / 'mlflow.db'}"
    art = work / "mlartifacts"
    with open_store(store, read_only=True) as st:
        card, model = PointsCard.load(card_file), load_grader(grade_file)
        for name, path, kind, obj in ((POINTS_NAME, card_file, "card", card), (GRADES, grade_file, "grade", model)):
            rid = log_run(
                uri, name, f"{kind}-test", tags={}, params={}, metrics={}, texts={"note.txt": kind}, artifacts=art
            )
            # the example carries a suspended person, so the input example shows the gate
            example = model_input(st, obj, AS_OF, industry=INDUSTRY if kind == "grade" else None)
            if features_only:
                example = example.drop(columns=["suspended", "suspension_reason", "suspended_until"], errors="ignore")
                example = example.drop(columns=["previous_grade", "registered_on", "as_of"], errors="ignore")
            elif kind == "card":
                example = example.sort_values("suspended", ascending=False, kind="stable")
            register(uri, name=name, model_path=path, kind=kind, run_id=rid, example=example, aliases=("champion",))
    return uri


@pytest.fixture(scope="module")
def work(registered, tmp_path_factory):
    """A work folder (store copy, mlflow.db, mlartifacts) with the sample's card and construction
    grade model registered as champions, and the CLI's publications of both as of AS_OF."""
    store_src, fitted_uri = registered
    fitted = Path(fitted_uri.removeprefix("sqlite:///")).parent  # the fixture saved the model files there
    d = tmp_path_factory.mktemp("served")
    store = d / "store.duckdb"
    shutil.copy(store_src, store)
    uri = _register_both(d, fitted / "card.json", fitted / f"{INDUSTRY}.json", store)
    run = CliRunner()
    base = ["--store", str(store), "--tracking-uri", uri, "--as-of", AS_OF, "--publish", "--json"]
    r = run.invoke(app, ["points", "score", "--alias", "champion", *base])
    assert r.exit_code == 0, r.output
    points_pub = json.loads(r.stdout)["publication"]
    r = run.invoke(app, ["grades", "list", "--industry", INDUSTRY, "--out", str(d / "list.xlsx"), *base])
    assert r.exit_code == 0, r.output
    grades_pub = json.loads(r.stdout)["publication"]["publication_id"]
    with open_store(store, read_only=True) as st:
        published = {
            kind: st.sql("SELECT subject_id, result, detail FROM published_results WHERE publication_id = ?", [pid])
            for kind, pid in (("card", points_pub), ("grade", grades_pub))
        }
        card, _ = load_registered(uri, POINTS_NAME)
        model, _ = load_registered(uri, GRADES)
        inputs = {"card": model_input(st, card, AS_OF), "grade": model_input(st, model, AS_OF, industry=INDUSTRY)}
    return {"dir": d, "uri": uri, "published": published, "inputs": inputs}


def _rows(kind: str, inputs: pd.DataFrame, out: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Publication rows (subject -> result, detail as stored) of a pyfunc output for ``inputs``."""
    out = out.set_axis(inputs.index, axis=0)
    rows = score_rows(out.assign(subject_id=inputs.index)) if kind == "card" else grade_rows(out)
    return {
        s: (r, json.dumps(d, ensure_ascii=False, sort_keys=True))
        for s, r, d in zip(rows["subject_id"], rows["result"], rows["detail"])
    }


def _published(work: dict, kind: str) -> dict[str, tuple[str, str]]:
    p = work["published"][kind]
    return {s: (r, d) for s, r, d in zip(p["subject_id"], p["result"], p["detail"])}


def _model_name(kind: str) -> str:
    return POINTS_NAME if kind == "card" else GRADES


def _check_sample(work: dict) -> None:
    """The comparison is worth making: suspended persons and vetoed organisations are in it."""
    pts = work["published"]["card"]
    assert (pts["result"] == "suspended").sum() > 10 and (pts["result"] != "suspended").sum() > 1000
    assert pts["detail"].str.contains('"suspended_until": "20').any()  # a suspension with an end date
    grades = work["published"]["grade"]
    assert grades["detail"].str.contains('"veto": "[a-z]', regex=True).sum() > 10
    assert set(grades["result"]) <= {"优秀", "良好", "中等", "较差", "差"} and len(set(grades["result"])) >= 4


# A fresh interpreter that may import only the standard library, the model's requirements and what
# they require (and the shipped ``scoring`` package): the environment a fresh virtualenv would have.
FRESH = textwrap.dedent(
    """
    import importlib.abc, importlib.metadata as md, re, sys
    from packaging.requirements import Requirement

    uri, inp, outp = sys.argv[1:4]

    def canon(n):
        return re.sub(r"[-_.]+", "-", n).lower()

    import mlflow.pyfunc  # noqa: E402  (mlflow itself is a requirement of every logged model)

    reqs = [l.strip() for l in open(mlflow.pyfunc.get_model_dependencies(uri)) if l.strip() and not l.startswith("#")]
    allowed, todo = set(), [canon(Requirement(r).name) for r in reqs]
    while todo:
        n = todo.pop()
        if n in allowed:
            continue
        allowed.add(n)
        try:
            todo += [canon(Requirement(r).name) for r in md.requires(n) or []
                     if Requirement(r).marker is None or Requirement(r).marker.evaluate({"extra": ""})]
        except md.PackageNotFoundError:
            pass
    owners = md.packages_distributions()
    blocked = []

    class OnlyRequirements(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            dists = owners.get(top, [])
            if name == top and top != "scoring" and dists and not any(canon(d) in allowed for d in dists):
                blocked.append(top)
                raise ModuleNotFoundError(f"{top} is not in the model's environment", name=top)
            return None

    assert "scoring" not in sys.modules
    sys.meta_path.insert(0, OnlyRequirements())
    import pandas as pd

    model = mlflow.pyfunc.load_model(uri)
    import scoring

    X = pd.read_parquet(inp)
    out = model.predict(X)
    sig = model.metadata.signature
    assert sig.inputs.input_names() == list(X.columns), "input signature"
    assert sig.outputs.input_names() == list(out.columns), "output signature"
    out.to_parquet(outp)
    print(scoring.__file__)
    print(sorted(set(blocked)), file=sys.stderr)
    """
)


def _fresh_predict(uri: str, tracking_uri: str, X: pd.DataFrame, tmp: Path) -> tuple[pd.DataFrame, str]:
    (tmp / "fresh.py").write_text(FRESH, encoding="utf-8")
    X.to_parquet(tmp / "in.parquet")
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONNOUSERSITE": "1"}
    p = subprocess.run(
        [sys.executable, str(tmp / "fresh.py"), uri, str(tmp / "in.parquet"), str(tmp / "out.parquet")],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=tmp,
        env=env,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    return pd.read_parquet(tmp / "out.parquet"), p.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["card", "grade"])
def test_pyfunc_in_a_fresh_process_gives_the_published_rows(work, kind, tmp_path):
    _check_sample(work)
    X = work["inputs"][kind]
    assert not contains_raw_id(" ".join(map(str, X.columns)))
    out, scoring_file = _fresh_predict(f"models:/{_model_name(kind)}@champion", work["uri"], X, tmp_path)
    # the package that scored is the copy shipped inside the model, not the installed one
    assert Path(scoring_file).is_relative_to(work["dir"] / "mlartifacts") and "/code/scoring/" in scoring_file
    assert _rows(kind, X, out) == _published(work, kind)
    if kind == "card":
        suspended = out[out["status"] == "suspended"]
        assert len(suspended) and suspended["points"].isna().all() and suspended["reason"].notna().all()
        assert out.loc[out["status"] == "scored", "points"].notna().all()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(model_uri: str, tracking_uri: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    out = open(log, "w")
    proc = subprocess.Popen(
        [*cmd, "-h", "127.0.0.1", "-p", str(port), "-w", "1"], stdout=out, stderr=subprocess.STDOUT, env=env
    )
    out.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError("mlflow models serve did not start: " + log.read_text()[-3000:])
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["card", "grade"])
def test_mlflow_models_serve_gives_the_published_rows(work, kind, tmp_path):
    X = work["inputs"][kind]
    proc, url = _serve(f"models:/{_model_name(kind)}@champion", work["uri"], tmp_path / "serve.log")
    try:
        payload = {"dataframe_split": X.reset_index(drop=True).to_dict(orient="split")}
        del payload["dataframe_split"]["index"]
        req = urllib.request.Request(
            f"{url}/invocations",
            data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=WAIT) as r:
                body = json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise AssertionError(exc.read().decode()[-3000:]) from None
    finally:
        _stop(proc)
    out = pd.DataFrame(body["predictions"])
    assert len(out) == len(X)
    assert _rows(kind, X, out) == _published(work, kind)


def test_no_pickle_in_the_logged_models(work):
    for kind in ("card", "grade"):
        where = Path(model_path(work["uri"], _model_name(kind)))
        assert where.is_relative_to(work["dir"]) and (where / "MLmodel").exists()
        files = [f for f in where.rglob("*") if f.is_file()]
        assert files and not [f for f in files if f.suffix in (".pkl", ".pickle", ".joblib", ".pyc", ".cloudpickle")]
        # no file is a pickle stream (protocol 2+ starts with 0x80)
        assert not [f for f in files if f.read_bytes()[:1] == b"\x80"]
        mlmodel = (where / "MLmodel").read_text(encoding="utf-8")
        assert "python_model:" not in mlmodel and "model_code_path" in mlmodel
        reqs = (where / "requirements.txt").read_text(encoding="utf-8").split()
        assert not [r for r in reqs if r.lower().startswith(("xinyi", "scoring"))]
        assert all("==" in r for r in reqs)
        assert {r.split("==")[0] for r in reqs} >= {"mlflow", "pandas", "numpy", "lightgbm", "pydantic"}
        assert (where / "artifacts" / "model.json").exists() and (where / "code" / "scoring" / "__init__.py").exists()
        shipped = [f for f in (where / "code").rglob("*") if f.is_file()]
        assert shipped and all(f.suffix == ".py" or f.name == "py.typed" for f in shipped)  # source only
        # the input example holds feature values and gate/rule state, never a subject
        assert not contains_raw_id((where / "input_example.json").read_text(encoding="utf-8"))


def work_inputs_sample(store: Path, uri: str) -> pd.DataFrame:
    card, _ = load_registered(uri, POINTS_NAME)
    with open_store(store, read_only=True) as st:
        return model_input(st, card, AS_OF).head(50)


def test_registering_and_loading_print_nothing(registered, tmp_path, capfd, caplog):
    store_src, fitted_uri = registered
    fitted = Path(fitted_uri.removeprefix("sqlite:///")).parent
    capfd.readouterr()
    # an application's own log handler (e.g. the CLI's) sees nothing from MLflow above DEBUG either
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO)
    saved, root.handlers = root.handlers, [caplog.handler, handler]  # (a CLI run may leave a closed stream)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with caplog.at_level(logging.DEBUG, logger="scoring.lineage"):
                uri = _register_both(
                    tmp_path, fitted / "card.json", fitted / f"{INDUSTRY}.json", store_src, features_only=True
                )
            load_registered(uri, GRADES)
            load_pyfunc(uri, POINTS_NAME).predict(work_inputs_sample(store_src, uri))
    finally:
        root.handlers = saved
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert [str(w.message) for w in caught] == []
    # MLflow's chatter went to the log at DEBUG, and the input examples validated against the signatures
    debug = [r.getMessage() for r in caplog.records if r.name.startswith("scoring.lineage")]
    assert any("registered model" in m for m in debug)
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name.startswith("scoring.lineage"))
    assert not [r for r in caplog.records if r.name.startswith(("mlflow", "alembic"))]
    assert not [m for m in debug if "Failed to validate" in m or "Traceback" in m]


@pytest.mark.slow
def test_a_moved_work_folder_loads_its_own_models(registered, tmp_path):
    """Register into a folder, move it elsewhere (the original is gone): xinyi loads the models from
    the new place; MLflow's models:/ URIs work there once relocate() has rewritten the locations."""
    store_src, fitted_uri = registered
    fitted = Path(fitted_uri.removeprefix("sqlite:///")).parent
    old = tmp_path / "work"
    old.mkdir()
    _register_both(old, fitted / "card.json", fitted / f"{INDUSTRY}.json", store_src)
    new = tmp_path / "elsewhere" / "copied work"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    uri = f"sqlite:///{new / 'mlflow.db'}"
    model, reg = load_registered(uri, GRADES)
    assert reg.version == "1" and model.version_ == load_grader(fitted / f"{INDUSTRY}.json").version_
    card, _ = load_registered(uri, POINTS_NAME)
    assert card.to_dict() == PointsCard.load(fitted / "card.json").to_dict()
    with open_store(store_src, read_only=True) as st:
        X = model_input(st, card, AS_OF)
    X = pd.concat([X[X["suspended"]].head(20), X[~X["suspended"]].head(180)])
    expected = _rows("card", X, load_pyfunc(uri, POINTS_NAME).predict(X))
    assert any(r == "suspended" for r, _ in expected.values())
    here = model_path(uri, POINTS_NAME)
    assert Path(here).is_relative_to(new)
    got, _ = _fresh_predict(here, uri, X, tmp_path)
    assert _rows("card", X, got) == expected
    # MLflow's own models:/ resolution still points at the old folder, until relocate()
    import mlflow
    from mlflow.exceptions import MlflowException

    from scoring.lineage.tracking import using_tracking_uri

    with using_tracking_uri(uri), pytest.raises((MlflowException, OSError)):
        mlflow.pyfunc.load_model(f"models:/{POINTS_NAME}@champion")
    assert relocate(uri) > 0 and relocate(uri) == 0
    got, _ = _fresh_predict(f"models:/{POINTS_NAME}@champion", uri, X, tmp_path)
    assert _rows("card", X, got) == expected
    rid = mlflow.MlflowClient(uri).get_model_version(GRADES, "1").run_id
    with using_tracking_uri(uri):
        assert mlflow.artifacts.load_text(f"runs:/{rid}/note.txt") == "grade"  # run artifacts too


def test_a_copied_work_folder_writes_into_itself(registered, tmp_path):
    """A run logged in a copy of a work folder (the original still there) lands in the copy."""
    import mlflow

    store_src, fitted_uri = registered
    fitted = Path(fitted_uri.removeprefix("sqlite:///")).parent
    original = tmp_path / "original"
    original.mkdir()
    _register_both(original, fitted / "card.json", fitted / f"{INDUSTRY}.json", store_src)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    uri = f"sqlite:///{copy / 'mlflow.db'}"
    before = sorted(p.name for p in (original / "mlartifacts").iterdir())
    rid = log_run(uri, POINTS_NAME, "in-the-copy", tags={}, params={}, metrics={}, texts={"note.txt": "copy"})
    assert sorted(p.name for p in (original / "mlartifacts").iterdir()) == before
    assert (copy / "mlartifacts" / rid / "artifacts" / "note.txt").read_text(encoding="utf-8") == "copy"
    assert (
        mlflow.MlflowClient(uri).get_run(rid).info.artifact_uri == (copy / "mlartifacts" / rid / "artifacts").as_uri()
    )
    assert relocate(uri) == 0
