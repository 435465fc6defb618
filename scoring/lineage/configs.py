"""Config bundles (配置版本): the configs a result was produced with, kept by content hash.

A **bundle** is every YAML file of a configs folder (the catalogue, the feature sets, the industries
with their bands and vetoes, grading.yaml, labels.yaml, the 信义金 gate, card and explanation
configs, scenes, ingest and monitoring) — all of them, because a file left out is a file that can
change a result unseen — except ``sample/`` (the sample generator's profiles, which no score or grade
reads) and ``access/`` (the platform service's roles and limits). Each file is kept with its sha256;
the bundle's hash is the sha256 over the sorted ``path, sha256`` pairs, so the same files give the
same hash on any machine and one changed byte gives another.

Where bundles are kept:

* **the store** (tables ``config_files`` and ``publication_configs``, :mod:`scoring.archive.store`):
  every publication records the bundle in force when it was published, with the files' content, so
  ``scoring justify`` re-derives with exactly those configs (:func:`materialise`, then
  :func:`scoring.core.resources.using_configs`) even after today's configs changed or lost an
  industry;
* **MLflow**: every fit run logs the bundle it was fitted with (:func:`log_bundle`: the files under
  ``config_bundle/``, a ``manifest.json``, the tag ``xinyi.config_bundle``), so justify shows the
  fit-time, publish-time and today's bundles side by side.

:func:`difference` compares two bundles file by file and, for YAML files, key by key
(``industries/construction.yaml: vetoes[serious_dishonesty] removed``).

No raw ID number may enter a bundle (a bundle goes to MLflow and into justify's output): a config
file holding one is refused (:func:`capture`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scoring.archive.store import Store
from scoring.core.errors import ConfigError, NotFoundError, StoreError
from scoring.core.privacy import contains_raw_id, scrub
from scoring.core.resources import configs_dir, using_configs

#: Folders of a configs folder that no published result reads (left out of bundles): the sample
#: generator's profiles and the platform service's access rules (configs/access: roles, limits, retention).
EXCLUDED = ("sample", "access")
#: Suffixes of the files a bundle holds.
SUFFIXES = (".yaml", ".yml")
#: The MLflow artefact folder and tag of a fit run's bundle.
ARTIFACT_DIR = "config_bundle"
TAG = "xinyi.config_bundle"


@dataclass(frozen=True)
class ConfigBundle:
    """The files of a configs folder (relative POSIX path -> bytes) and their hashes."""

    files: dict[str, bytes] = field(repr=False)
    source: str = ""  # where it came from: a folder, ``store``, ``mlflow run <id>``

    @property
    def shas(self) -> dict[str, str]:
        return {p: hashlib.sha256(b).hexdigest() for p, b in sorted(self.files.items())}

    @property
    def hash(self) -> str:
        return bundle_hash(self.shas)

    def manifest(self) -> dict:
        return {"bundle": self.hash, "files": self.shas}


def bundle_hash(shas: dict[str, str]) -> str:
    """sha256 over the sorted ``path \\t sha256`` lines: independent of order, folder and machine."""
    h = hashlib.sha256(b"xinyi config bundle 1\n")
    for p in sorted(shas):
        h.update(f"{p}\t{shas[p]}\n".encode())
    return h.hexdigest()


def _bundle_paths(folder: Path) -> Iterator[tuple[str, Path]]:
    for q in sorted(folder.rglob("*")):
        if not q.is_file() or q.suffix.lower() not in SUFFIXES:
            continue
        rel = q.relative_to(folder)
        if rel.parts[0] in EXCLUDED or any(part.startswith(".") for part in rel.parts):
            continue
        yield rel.as_posix(), q


def capture(folder: str | Path | None = None) -> ConfigBundle:
    """The bundle of ``folder`` (default: the configs in force, :func:`scoring.core.resources.configs_dir`).
    A file holding an unmasked ID number is refused: bundles go to MLflow and into justify's output."""
    d = configs_dir(folder)
    if not d.is_dir():
        raise NotFoundError(f"{d}: no configs folder here; give a copy of xinyi's configs/")
    files: dict[str, bytes] = {}
    for rel, q in _bundle_paths(d):
        try:
            data = q.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{q}: cannot read: {exc.strerror or exc}") from None
        if contains_raw_id(data.decode("utf-8", errors="replace")):
            raise ConfigError(
                f"{q}: holds an unmasked ID number (GB 11643); configs are recorded with every publication "
                "and logged to MLflow: remove it (configs name rules, never persons)"
            )
        files[rel] = data
    if not files:
        raise ConfigError(f"{d}: no config files (*.yaml) in this folder")
    return ConfigBundle(files, source=str(d))


def current_hash(folder: str | Path | None = None) -> str:
    """The hash of the configs in force (配置版本), e.g. for a grade list's 说明."""
    return capture(folder).hash


def materialise(bundle: ConfigBundle, folder: str | Path) -> Path:
    """Write the bundle's files under ``folder`` (created; must be empty or absent) and return it."""
    d = Path(folder)
    if d.exists() and any(d.iterdir()):
        raise StoreError(f"{d}: not empty; a bundle is written into a new folder")
    for rel, data in bundle.files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def in_force(bundle: ConfigBundle) -> Iterator[Path]:
    """``with in_force(bundle) as folder:`` the bundle written to a temporary folder and in force for
    every config loader (:func:`scoring.core.resources.using_configs`) for the block; removed after."""
    with tempfile.TemporaryDirectory(prefix="xinyi-configs-") as d:
        folder = materialise(bundle, Path(d) / "configs")
        with using_configs(folder):
            yield folder


# -- the store ------------------------------------------------------------------------------
def _has_table(store: Store, name: str) -> bool:
    return store._has_table(name)


def keep(store: Store, bundle: ConfigBundle) -> str:
    """Keep the bundle's files in the store (once per bundle hash); returns the hash. Runs inside
    the caller's transaction when there is one."""
    h = bundle.hash
    have = store.con.execute("SELECT count(*) FROM config_files WHERE bundle_hash = ?", [h]).fetchall()[0][0]
    if not have:
        shas = bundle.shas
        store.con.executemany(
            "INSERT INTO config_files VALUES (?, ?, ?, ?)",
            [[h, p, shas[p], bundle.files[p]] for p in sorted(bundle.files)],
        )
    return h


def record_publication(store: Store, publication_id: str, bundle: ConfigBundle) -> str:
    """Record that ``publication_id`` was published with ``bundle`` in force (and keep its files)."""
    h = keep(store, bundle)
    store.con.execute(
        "INSERT INTO publication_configs VALUES (?, ?, ?)",
        [publication_id, h, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
    )
    return h


def publication_bundle_hash(store: Store, publication_id: str) -> str | None:
    """The bundle hash a publication recorded; None for a publication from before bundles."""
    if not _has_table(store, "publication_configs"):
        return None
    rows = store.con.execute(
        "SELECT bundle_hash FROM publication_configs WHERE publication_id = ?", [publication_id]
    ).fetchall()
    return str(rows[0][0]) if rows else None


def from_store(store: Store, bundle_hash_: str) -> ConfigBundle:
    """The bundle kept in the store under ``bundle_hash_``; its files are checked against the hash."""
    rows = (
        store.con.execute(
            "SELECT path, sha256, content FROM config_files WHERE bundle_hash = ? ORDER BY path", [bundle_hash_]
        ).fetchall()
        if _has_table(store, "config_files")
        else []
    )
    if not rows:
        raise NotFoundError(f"{store.path}: no config bundle {bundle_hash_[:16]}… kept in this store")
    files = {str(p): bytes(c) for p, _, c in rows}
    b = ConfigBundle(files, source="store")
    if b.hash != bundle_hash_ or any(b.shas[str(p)] != s for p, s, _ in rows):
        raise StoreError(f"{store.path}: config bundle {bundle_hash_[:16]}… does not match its hash (altered)")
    return b


# -- MLflow ---------------------------------------------------------------------------------
def log_bundle(tracking_uri: str, run_id: str, bundle: ConfigBundle | None = None) -> str:
    """Log ``bundle`` (default: the configs in force) to a run: the files under ``config_bundle/``,
    ``config_bundle/manifest.json`` and the tag ``xinyi.config_bundle``. Returns the bundle hash.
    A finished run can be given (the fit workflows call this right after logging the fit)."""
    from mlflow import MlflowClient

    from scoring.lineage.tracking import quiet

    b = bundle or capture()
    with quiet(), tempfile.TemporaryDirectory() as d:
        folder = materialise(b, Path(d) / ARTIFACT_DIR)
        (folder / "manifest.json").write_text(json.dumps(b.manifest(), indent=1, sort_keys=True), encoding="utf-8")
        client = MlflowClient(tracking_uri)
        client.log_artifacts(run_id, str(folder), ARTIFACT_DIR)
        client.set_tag(run_id, TAG, b.hash)
    return b.hash


def run_bundle_hash(tracking_uri: str, run_id: str) -> str | None:
    """The bundle a fit run logged (its tag), None when it logged none (a run from before bundles)."""
    from mlflow import MlflowClient

    from scoring.lineage.tracking import quiet

    if not run_id:
        return None
    try:
        with quiet():
            return MlflowClient(tracking_uri).get_run(run_id).data.tags.get(TAG)
    except Exception:  # a run that is gone: nothing to show, justify still re-derives
        return None


def from_run(tracking_uri: str, run_id: str) -> ConfigBundle:
    """The bundle a fit run logged (downloaded from its artefacts), checked against its manifest."""
    import mlflow

    from scoring.lineage.tracking import quiet, using_tracking_uri

    with tempfile.TemporaryDirectory() as d, quiet(), using_tracking_uri(tracking_uri):
        try:
            local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=ARTIFACT_DIR, dst_path=d))
        except Exception as exc:
            raise NotFoundError(f"MLflow run {run_id}: no config bundle logged ({exc})") from None
        try:
            manifest = json.loads((local / "manifest.json").read_text(encoding="utf-8"))
            files = {p: (local / p).read_bytes() for p in manifest["files"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NotFoundError(f"MLflow run {run_id}: the logged config bundle is incomplete ({exc})") from None
    b = ConfigBundle(files, source=f"mlflow run {run_id}")
    if b.hash != manifest["bundle"]:
        raise StoreError(f"MLflow run {run_id}: config bundle does not match its manifest (altered)")
    return b


# -- differences ----------------------------------------------------------------------------
#: Files a kind of publication never reads (fnmatch patterns): a change to them is listed, marked
#: as not read (everything else counts as read: a file not named here may change a result).
NOT_READ = {
    "score_snapshot": (
        "industries/*",
        "features/*",
        "!features/person.yaml",
        "grading.yaml",
        "points/expert_organisation.yaml",
    ),
    "grade_list": (
        "features/person.yaml",
        "points/card.yaml",
        "points/gate.yaml",
        "points/expert_person.yaml",
        "scenes.yaml",
    ),
}


def read_by(kind: str, path: str) -> bool:
    """Whether a publication of ``kind`` reads the config file ``path`` (True unless :data:`NOT_READ` says not)."""
    import fnmatch

    pats = NOT_READ.get(kind, ())
    if any(fnmatch.fnmatchcase(path, p[1:]) for p in pats if p.startswith("!")):
        return True
    return not any(fnmatch.fnmatchcase(path, p) for p in pats if not p.startswith("!"))


_ID_KEYS = ("code", "name", "set", "feature", "type", "record_type", "id", "key")


def _identity(*lists: list) -> str | None:
    """The key that names each item of lists of mappings (``code``, ``name``, ...), if one does:
    present in every item, a string or a number, unique within each list."""
    items = [x for xs in lists for x in xs]
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for k in _ID_KEYS:
        if not all(isinstance(x.get(k), str | int) for x in items):
            continue
        if all(len({x[k] for x in xs}) == len(xs) for xs in lists):
            return k
    return None


def _walk(old: Any, new: Any, where: str, out: list[dict]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            sub = f"{where}.{k}" if where else str(k)
            if k not in new:
                out.append({"key": sub, "change": "removed", "old": old[k], "new": None})
            elif k not in old:
                out.append({"key": sub, "change": "added", "old": None, "new": new[k]})
            else:
                _walk(old[k], new[k], sub, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        ident = _identity(old, new)
        if ident is not None:
            a = {x[ident]: x for x in old}
            b = {x[ident]: x for x in new}
            for k in list(a) + [k for k in b if k not in a]:
                sub = f"{where}[{k}]"
                if k not in b:
                    out.append({"key": sub, "change": "removed", "old": a[k], "new": None})
                elif k not in a:
                    out.append({"key": sub, "change": "added", "old": None, "new": b[k]})
                else:
                    _walk(a[k], b[k], sub, out)
            return
    out.append({"key": where or "<root>", "change": "changed", "old": old, "new": new})


def _parse(data: bytes) -> tuple[bool, Any]:
    try:
        return True, yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return False, None


def difference(old: ConfigBundle, new: ConfigBundle) -> list[dict]:
    """What changed from ``old`` to ``new``: one entry per file added, removed or changed (with its
    sha256 before and after), and for a changed YAML file the changed keys with old and new values."""
    a, b = old.shas, new.shas
    out: list[dict] = []
    for p in sorted(set(a) | set(b)):
        if p not in b:
            out.append({"file": p, "change": "removed", "old_sha256": a[p], "new_sha256": None, "keys": []})
        elif p not in a:
            out.append({"file": p, "change": "added", "old_sha256": None, "new_sha256": b[p], "keys": []})
        elif a[p] != b[p]:
            keys: list[dict] = []
            ok_a, x = _parse(old.files[p])
            ok_b, y = _parse(new.files[p])
            if ok_a and ok_b:
                _walk(x, y, "", keys)
            out.append({"file": p, "change": "changed", "old_sha256": a[p], "new_sha256": b[p], "keys": keys})
    return out


def _short(v: Any, limit: int = 160) -> str:
    s = json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    return scrub(s if len(s) <= limit else s[: limit - 1] + "…")


def difference_lines(diff: list[dict]) -> list[str]:
    """One readable line per change: ``industries/construction.yaml: vetoes[serious_dishonesty] removed``
    (a file marked ``read: False``, see :func:`read_by`, says that it is not read)."""
    lines = []
    for f in diff:
        tail = " [not read by this kind of publication]" if f.get("read") is False else ""
        if f["change"] != "changed":
            lines.append(f"{f['file']}: file {f['change']}{tail}")
        elif not f["keys"]:
            lines.append(f"{f['file']}: changed (no key differs: comments or layout; or not YAML){tail}")
        for k in f["keys"]:
            if k["change"] == "removed":
                lines.append(f"{f['file']}: {k['key']} removed (was {_short(k['old'])}){tail}")
            elif k["change"] == "added":
                lines.append(f"{f['file']}: {k['key']} added ({_short(k['new'])}){tail}")
            else:
                lines.append(f"{f['file']}: {k['key']} changed {_short(k['old'])} -> {_short(k['new'])}{tail}")
    return lines
