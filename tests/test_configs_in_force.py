"""Config bundles (配置版本): the configs in force are captured by content hash, every loader reads the
folder put in force (never a stale cached config), and an industry added by config is fitted,
published and justified after its configs folder is gone."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scoring.archive.store import open_store
from scoring.cli import app
from scoring.core.errors import ConfigError
from scoring.core.privacy import contains_raw_id
from scoring.core.resources import configs_dir, using_configs
from scoring.features.definitions import load_feature_set
from scoring.features.industry import load_industries
from scoring.lineage.configs import capture, difference, difference_lines, from_run, read_by, run_bundle_hash
from scoring.lineage.justify import to_text, verify_publication
from scoring.lineage.publish import publication

AS_OF = "2026-06-30"
RAW_ID = "11010519491231002X"  # a valid GB 11643 number (DOMAIN.md): must never enter a bundle


def _copy(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    shutil.copytree(configs_dir(), d)
    return d


def _rewrite_same_size_and_time(p: Path, text: str) -> None:
    """Rewrite ``p`` with ``text`` padded (a YAML comment) to the old size and the old mtime: what a
    cache keyed by modification time and size cannot see."""
    st = p.stat()
    data = text.encode("utf-8")
    pad = st.st_size - len(data) - 2
    assert pad >= 0
    data += b"\n#" + b"x" * pad
    assert len(data) == st.st_size
    p.write_bytes(data)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_size == st.st_size and p.stat().st_mtime_ns == st.st_mtime_ns


def _drop_veto(text: str, code: str) -> str:
    return "\n".join(line for line in text.splitlines() if f"code: {code}," not in line) + "\n"


def _add_industry(d: Path) -> None:
    """A new industry ``installation`` (建筑安装企业) taking two GB/T 4754 classes from construction,
    with its own feature set."""
    c = (d / "industries" / "construction.yaml").read_text(encoding="utf-8")
    classes = 'gbt4754: ["4710", "4790", "4811"]'
    assert classes in c
    (d / "industries" / "construction.yaml").write_text(c.replace(classes, 'gbt4754: ["4811"]'), encoding="utf-8")
    new = (
        c.replace("code: construction", "code: installation")
        .replace("name_zh: 建筑施工企业", "name_zh: 建筑安装企业")
        .replace(classes, 'gbt4754: ["4710", "4790"]')
    )
    (d / "industries" / "installation.yaml").write_text(new, encoding="utf-8")
    f = (d / "features" / "construction.yaml").read_text(encoding="utf-8")
    f = f.replace("set: construction", "set: installation").replace("industry: construction", "industry: installation")
    (d / "features" / "installation.yaml").write_text(f, encoding="utf-8")


def test_bundle_hash_is_stable_for_the_same_files_and_changes_with_one_byte(tmp_path):
    a, b = _copy(tmp_path, "a"), _copy(tmp_path, "b")
    ba, bb = capture(a), capture(b)
    assert ba.hash == bb.hash == capture(a).hash == capture().hash  # any folder, any call: the same files
    assert ba.files == bb.files and "catalog.yaml" in ba.files and "industries/construction.yaml" in ba.files
    assert not any(p.startswith("sample/") for p in ba.files)  # the generator's profiles are not configs in force
    (b / "sample" / "realistic.yaml").write_text("changed: true\n", encoding="utf-8")
    assert capture(b).hash == ba.hash
    p = b / "points" / "gate.yaml"
    data = bytearray(p.read_bytes())
    data[-1:] = b" " if data[-1:] != b" " else b"\t"  # one byte
    p.write_bytes(bytes(data))
    changed = capture(b)
    assert changed.hash != ba.hash
    assert [f["file"] for f in difference(ba, changed)] == ["points/gate.yaml"]
    assert difference_lines(difference(ba, changed)) == [
        "points/gate.yaml: changed (no key differs: comments or layout; or not YAML)"
    ]
    assert difference(ba, bb) == []


def test_difference_lists_files_and_keys(tmp_path):
    a, b = _copy(tmp_path, "a"), _copy(tmp_path, "b")
    p = b / "industries" / "construction.yaml"
    p.write_text(_drop_veto(p.read_text(encoding="utf-8"), "serious_dishonesty"), encoding="utf-8")
    g = b / "grading.yaml"
    grading = yaml.safe_load(g.read_text(encoding="utf-8"))
    key = next(k for k, v in grading.items() if isinstance(v, int | float) and not isinstance(v, bool))
    grading[key] = grading[key] + 1
    g.write_text(yaml.safe_dump(grading, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (b / "scenes.yaml").unlink()
    (b / "industries" / "new.yaml").write_text("code: new\n", encoding="utf-8")
    diff = {f["file"]: f for f in difference(capture(a), capture(b))}
    assert set(diff) == {"industries/construction.yaml", "grading.yaml", "scenes.yaml", "industries/new.yaml"}
    assert diff["scenes.yaml"]["change"] == "removed" and diff["industries/new.yaml"]["change"] == "added"
    [veto] = diff["industries/construction.yaml"]["keys"]
    assert veto["key"] == "vetoes[serious_dishonesty]" and veto["change"] == "removed"
    assert veto["old"]["feature"] == "serious_dishonesty_active"
    assert diff["grading.yaml"]["keys"] == [
        {"key": key, "change": "changed", "old": grading[key] - 1, "new": grading[key]}
    ]
    lines = difference_lines(difference(capture(a), capture(b)))
    assert any(x.startswith("industries/construction.yaml: vetoes[serious_dishonesty] removed (was ") for x in lines)
    assert f"grading.yaml: {key} changed {grading[key] - 1} -> {grading[key]}" in lines
    assert "scenes.yaml: file removed" in lines and "industries/new.yaml: file added" in lines


def test_caches_never_serve_a_stale_config(tmp_path, monkeypatch):
    a, b = _copy(tmp_path, "a"), _copy(tmp_path, "b")
    _add_industry(b)
    default = load_industries()
    assert "serious_dishonesty" in {v.code for v in default["construction"].vetoes}
    with using_configs(a):
        assert configs_dir() == a.resolve()
        assert "serious_dishonesty" in {v.code for v in load_industries()["construction"].vetoes}
        label = load_feature_set("construction").features[-1].label_zh
        p = a / "industries" / "construction.yaml"
        _rewrite_same_size_and_time(p, _drop_veto(p.read_text(encoding="utf-8"), "serious_dishonesty"))
        assert "serious_dishonesty" not in {v.code for v in load_industries()["construction"].vetoes}
        f = a / "features" / "construction.yaml"
        text = f.read_text(encoding="utf-8")
        _rewrite_same_size_and_time(f, text.replace("拖欠农民工工资失信名单次数", "欠薪名单次数"))
        assert load_feature_set("construction").features[-1].label_zh != label
        with using_configs(b):  # nested: b in force, then a again
            inds = load_industries()
            assert set(inds["installation"].gbt4754) == {"4710", "4790"} and set(inds["construction"].gbt4754) == {
                "4811"
            }
            assert load_feature_set("installation").industry == "installation"
        assert "installation" not in load_industries()
        assert "serious_dishonesty" not in {v.code for v in load_industries()["construction"].vetoes}
    assert load_industries() == default and configs_dir() != a.resolve()  # the block ended: today's again
    monkeypatch.setenv("XINYI_CONFIGS", str(a))
    assert "serious_dishonesty" not in {v.code for v in load_industries()["construction"].vetoes}
    with using_configs(b):  # the folder in force wins over the environment
        assert "installation" in load_industries()
    monkeypatch.delenv("XINYI_CONFIGS")
    assert load_industries() == default


def test_no_raw_id_number_enters_a_bundle(tmp_path):
    for rel, data in capture().files.items():
        assert not contains_raw_id(data.decode("utf-8")), rel
    a = _copy(tmp_path, "a")
    p = a / "scenes.yaml"
    p.write_text(p.read_text(encoding="utf-8") + f"# 联系人 {RAW_ID}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        capture(a)
    assert "scenes.yaml" in str(err.value) and RAW_ID not in str(err.value) and "ID number" in str(err.value)


def test_the_global_configs_option_is_in_force_for_one_command(tmp_path):
    a = _copy(tmp_path, "a")
    p = a / "catalog.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace('version: "2026.1"', 'version: "2099.9"'), encoding="utf-8")
    r = CliRunner().invoke(app, ["--configs", str(a), "catalog"])
    assert r.exit_code == 0 and "2099.9" in r.output, r.output
    assert configs_dir() != a.resolve()  # nothing leaks into the next command
    r = CliRunner().invoke(app, ["catalog"])
    assert r.exit_code == 0 and "2099.9" not in r.output
    r = CliRunner().invoke(app, ["--configs", str(tmp_path / "missing"), "catalog"])
    assert r.exit_code == 2 and "no configs folder" in r.output


@pytest.fixture(scope="module")
def added_industry(sample_store, tmp_path_factory):
    """An industry added by config (``installation``), fitted, registered and its grade list
    published with ``scoring --configs DIR``; then the configs folder is removed."""
    src, _ = sample_store
    d = tmp_path_factory.mktemp("added-industry")
    store = d / "store.duckdb"
    shutil.copy(src, store)
    uri = f"sqlite:///{d / 'mlflow.db'}"
    mine = d / "my-configs"
    shutil.copytree(configs_dir(), mine)
    _add_industry(mine)
    bundle = capture(mine)
    base = ["--store", str(store), "--tracking-uri", uri, "--json"]
    run = CliRunner()
    r = run.invoke(
        app, ["--configs", str(mine), "grades", "fit", "--industry", "installation", "--out", str(d / "m.json"), *base]
    )
    assert r.exit_code == 0, r.output
    r = run.invoke(
        app,
        ["--configs", str(mine), "grades", "list", "--industry", "installation", "--as-of", AS_OF]
        + ["--out", str(d / "list.xlsx"), "--publish", *base],
    )
    assert r.exit_code == 0, r.output
    pub = json.loads(r.stdout)["publication"]
    shutil.rmtree(mine)
    return d, store, uri, pub, bundle


def test_an_industry_added_by_config_is_justified_after_its_configs_are_gone(added_industry, monkeypatch):
    d, store, uri, pub, bundle = added_industry
    monkeypatch.delenv("XINYI_CONFIGS", raising=False)
    assert "installation" not in load_industries()  # today's configs lack it
    assert pub["config_bundle"] == bundle.hash != capture().hash
    with open_store(store, read_only=True) as st:
        rows = st.sql(
            "SELECT subject_id, result FROM published_results WHERE publication_id = ? ORDER BY subject_id",
            [pub["publication_id"]],
        )
        assert publication(st, pub["publication_id"])["config_bundle"] == bundle.hash
        v = verify_publication(st, pub["publication_id"], tracking_uri=uri)
    assert len(rows) > 500 and v["all_match"] and v["matched"] == v["rows"] == len(rows), v
    sid = rows["subject_id"].iloc[0]
    r = CliRunner().invoke(
        app, ["justify", sid, "--as-of", AS_OF, "--store", str(store), "--tracking-uri", uri, "--json"]
    )
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert j["match"] and j["published"] == j["rederived"] == rows["result"].iloc[0]
    c = j["configs"]
    assert c["in_force"] == "publication" and c["published"] == c["fit"] == bundle.hash and c["today"] != bundle.hash
    assert "industries/installation.yaml: file removed" in c["changes"]
    assert "features/installation.yaml: file removed" in c["changes"]
    assert any(x.startswith("industries/construction.yaml: gbt4754 changed") for x in c["changes"])
    notes = pd.read_excel(d / "list.xlsx", sheet_name="说明", engine="openpyxl").set_index("项目")["内容"]
    assert notes["配置版本"] == bundle.hash and "installation" in notes["行业"]
    for out in (r.stdout, to_text(j)):
        assert not contains_raw_id(out)


def test_the_fit_run_logs_its_bundle_to_mlflow_without_raw_ids(added_industry, tmp_path):
    import mlflow

    from scoring.lineage.tracking import using_tracking_uri

    d, store, uri, pub, bundle = added_industry
    assert run_bundle_hash(uri, pub["run_id"]) == bundle.hash
    logged = from_run(uri, pub["run_id"])
    assert logged.hash == bundle.hash and logged.files == bundle.files
    with using_tracking_uri(uri):
        local = Path(
            mlflow.artifacts.download_artifacts(
                run_id=pub["run_id"], artifact_path="config_bundle", dst_path=str(tmp_path)
            )
        )
    files = sorted(p for p in local.rglob("*") if p.is_file())
    assert (local / "industries" / "installation.yaml").is_file() and (local / "manifest.json").is_file()
    assert json.loads((local / "manifest.json").read_text(encoding="utf-8"))["bundle"] == bundle.hash
    assert len(files) == len(bundle.files) + 1
    for p in files:  # the bundle's artefacts (the model file's LightGBM text is the fit's, not the bundle's)
        assert not contains_raw_id(p.read_text(encoding="utf-8")), p


def test_changes_to_files_a_publication_does_not_read_are_marked():
    assert read_by("grade_list", "industries/construction.yaml") and read_by("grade_list", "grading.yaml")
    assert read_by("score_snapshot", "points/gate.yaml") and read_by("score_snapshot", "features/person.yaml")
    assert not read_by("score_snapshot", "industries/construction.yaml")
    assert not read_by("score_snapshot", "features/construction.yaml")
    assert not read_by("grade_list", "points/gate.yaml")
    assert read_by("some_new_kind", "points/gate.yaml")  # unknown: counted as read
    diff = [
        {"file": "industries/construction.yaml", "change": "changed", "read": False, "keys": []},
        {"file": "points/gate.yaml", "change": "removed", "read": True, "keys": []},
    ]
    assert difference_lines(diff) == [
        "industries/construction.yaml: changed (no key differs: comments or layout; or not YAML)"
        " [not read by this kind of publication]",
        "points/gate.yaml: file removed",
    ]


def test_the_store_views_follow_the_catalogue_in_force(sample_store, tmp_path):
    """The publicity periods a store's views were made with follow the catalogue's content: an
    edited copy that keeps the catalogue's version string is not served the old periods."""
    from scoring.archive.catalog import load_catalog
    from scoring.features.builder import prepare_views

    a = _copy(tmp_path, "a")
    p = a / "catalog.yaml"
    text = p.read_text(encoding="utf-8")
    assert text.count("serious: {min: 6m, max: 3y}") >= 1
    p.write_text(text.replace("serious: {min: 6m, max: 3y}", "serious: {min: 6m, max: 2y}", 1), encoding="utf-8")
    path, _ = sample_store
    query = "SELECT * FROM xinyi_periods ORDER BY ALL"
    with open_store(path, read_only=True) as st:
        today = load_catalog()
        prepare_views(st, today)
        before = st.sql(query)
        with using_configs(a):
            edited = load_catalog()
            assert edited.version == today.version
            prepare_views(st, edited)
            during = st.sql(query)
        prepare_views(st, load_catalog())
        after = st.sql(query)
    assert not before.equals(during) and before.equals(after)
