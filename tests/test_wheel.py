"""Installable anywhere: the built wheel, installed non-editable into a fresh venv, runs from another
folder with its bundled configs and sample, and writes only where it is told to.

How the test gets there, and why:

* the wheel is built from the checkout by ``python -m build`` when it is installed (it builds the
  sdist first and then the wheel from the unpacked sdist, so the sdist is checked too), otherwise by
  ``pip wheel --no-deps`` from a clean copy of the checkout (pip builds in the source tree; the copy
  keeps ``build/`` out of the checkout). Either way in pip's isolated build environment, exactly as
  ``pip install .`` would;
* the fresh venv gets the wheel with ``--no-deps --no-index``: nothing is downloaded. Its
  dependencies come from the environment running the tests through a ``.pth`` file naming that
  environment's site-packages. A ``.pth`` path is appended to ``sys.path`` after the venv's own
  site-packages, and ``.pth`` files inside it are not processed, so the test environment's editable
  install of xinyi stays inactive and ``import scoring`` finds the installed wheel (checked). A venv
  ``--system-site-packages`` would not do: the dependencies live in the test venv, not the system;
* the commands run with the fresh venv's ``scoring`` script, in an empty folder outside the checkout,
  without ``XINYI_CONFIGS`` / ``XINYI_SAMPLE``; the package folder and the current folder must be
  unchanged afterwards, and the checkout must have no new file (outside hidden folders and work/).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Collection
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = {"scoring/_bundled/configs/catalog.yaml", "scoring/_bundled/sample/manifest.json"}
# not watched in the checkout: hidden folders (VCS, virtual envs, tool caches), build output and the
# work folder that `make demo` and the notebooks use
_NOT_WATCHED = {"work", "__pycache__", "build", "dist"}
_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "work", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "mlruns"
)


def _run(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    if env is None:  # the fresh install's own defaults: nothing a test of this session pointed elsewhere
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "XINYI_STORE")}
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, (
        f"{' '.join(map(str, args))} exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    )
    return p


def _snapshot(root: Path, skip: Collection[str] = ()) -> dict[str, tuple[int, int]]:
    """Every file below ``root`` (relative path -> size, mtime) except under the ``skip`` names."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".") and not d.endswith(".egg-info")]
        for f in filenames:
            p = Path(dirpath) / f
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _changes(before: dict, after: dict) -> list[str]:
    return sorted(
        [f"+ {k}" for k in after.keys() - before.keys()]
        + [f"- {k}" for k in before.keys() - after.keys()]
        + [f"~ {k}" for k in before.keys() & after.keys() if before[k] != after[k]]
    )


def _build(out: Path, scratch: Path) -> tuple[Path, Path | None]:
    """The wheel (and the sdist it was built from, when ``build`` is available)."""
    if importlib.util.find_spec("build") is not None:
        _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=scratch, timeout=900)
        return next(out.glob("xinyi-*.whl")), next(out.glob("xinyi-*.tar.gz"))
    src = scratch / "src"
    shutil.copytree(ROOT, src, ignore=_COPY_IGNORE)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(src)], cwd=scratch, timeout=900)
    return next(out.glob("xinyi-*.whl")), None


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv folder, site-packages of the venv, the wheel, the sdist or None)."""
    d = tmp_path_factory.mktemp("wheel")
    (d / "scratch").mkdir()
    wheel, sdist = _build(d / "dist", d / "scratch")
    venv = d / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=d)
    py = venv / "bin" / "python"
    purelib = Path(
        _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=d).stdout.strip()
    )
    outer = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (purelib / "_xinyi_test_dependencies.pth").write_text("\n".join(outer) + "\n")
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", str(wheel)], cwd=d)
    return venv, purelib, wheel, sdist


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XINYI_CONFIGS", "XINYI_SAMPLE", "PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # so that a write into the package is an output, not a .pyc
    return env


def test_the_wheel_carries_configs_sample_license_and_types(installed):
    _, _, wheel, sdist = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert BUNDLED <= names
    assert "scoring/py.typed" in names
    # the service's pages and the serving database's migrations (package data, not modules)
    for folder in ("scoring/service/templates", "scoring/service/static", "scoring/serving/migrations"):
        committed_files = {
            str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        }
        assert committed_files and committed_files <= names, sorted(committed_files - names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    committed = {
        str(p.relative_to(ROOT / "configs"))
        for p in (ROOT / "configs").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert committed == {
        n.removeprefix("scoring/_bundled/configs/") for n in names if n.startswith("scoring/_bundled/configs/")
    }
    sample = {
        str(p.relative_to(ROOT / "data" / "sample")) for p in (ROOT / "data" / "sample").rglob("*") if p.is_file()
    }
    assert sample == {
        n.removeprefix("scoring/_bundled/sample/") for n in names if n.startswith("scoring/_bundled/sample/")
    }
    if sdist is None:
        pytest.skip("the sdist is checked when `build` is installed (pip cannot build an sdist)")
    members = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert {"LICENSE", "setup.py", "configs/catalog.yaml", "data/sample/manifest.json"} <= members
    assert {f"configs/{n}" for n in committed} <= members


def test_installed_package_runs_from_another_folder(installed, tmp_path):
    venv, purelib, _, _ = installed
    scoring = str(venv / "bin" / "scoring")
    pkg = purelib / "scoring"
    assert all((purelib / n).is_file() for n in BUNDLED)
    cwd, work = tmp_path / "elsewhere", tmp_path / "x"
    cwd.mkdir()
    env = _env()
    where = _run([str(venv / "bin" / "python"), "-c", "import scoring; print(scoring.__file__)"], cwd, env)
    assert Path(where.stdout.strip()).parent == pkg, "the test environment's xinyi was imported, not the wheel"
    before_pkg, before_checkout = _snapshot(pkg), _snapshot(ROOT, _NOT_WATCHED)

    out = _run([scoring, "--help"], cwd, env).stdout
    assert "demo" in out and "catalog" in out
    out = _run([scoring, "catalog"], cwd, env).stdout
    assert "信用信息目录" in out and "ADM_PENALTY" in out
    # XINYI_CONFIGS overrides the bundled configs
    mine = tmp_path / "my_configs"
    shutil.copytree(pkg / "_bundled" / "configs", mine)
    cat = mine / "catalog.yaml"
    cat.write_text(cat.read_text(encoding="utf-8").replace('version: "2026.1"', 'version: "2099.9"'), encoding="utf-8")
    assert "2099.9" in _run([scoring, "catalog"], cwd, {**env, "XINYI_CONFIGS": str(mine)}).stdout

    _run([scoring, "demo", "--workdir", str(work)], cwd, env, timeout=3600)
    for pattern in [
        "store.duckdb",
        "mlflow.db",
        "reports/quality_report.json",
        "features/persons_*.parquet",
        "models/points_card.json",
        "models/grades/*.json",
        "scores/*.csv",
        "grades/*.xlsx",
        "reports/justifications.json",
        "reports/monitoring.json",
        "reports/*/report.html",
    ]:
        assert list(work.glob(pattern)), f"scoring demo wrote no {pattern} into --workdir"

    assert _changes(before_pkg, _snapshot(pkg)) == [], "something was written into the installed package"
    # new files only: the checkout's own files may be edited while the test runs
    new = [c for c in _changes(before_checkout, _snapshot(ROOT, _NOT_WATCHED)) if c.startswith("+ ")]
    assert new == [], "something was written into the checkout"
    assert list(cwd.iterdir()) == [], "scoring demo --workdir wrote into the current folder"


def test_installed_version(installed, tmp_path):
    """``scoring --version`` names the installed version (checked once the CLI lists the flag)."""
    venv, _, wheel, _ = installed
    scoring = str(venv / "bin" / "scoring")
    if "--version" not in _run([scoring, "--help"], tmp_path, _env()).stdout:
        pytest.skip("the CLI has no --version flag yet")
    version = wheel.name.split("-")[1]
    assert version in _run([scoring, "--version"], tmp_path, _env()).stdout
