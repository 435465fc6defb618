"""The README documents what the code does: every archive column and every quarantine reason, and
every command it shows runs as written after the main job."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.archive.reasons import REASON_TEXT, REASONS_RECORDS, REASONS_SUBJECTS
from scoring.archive.schema import TABLES
from scoring.core.privacy import contains_raw_id

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.smoke
def test_every_column_is_documented():
    for table, cols in TABLES.items():
        for c in cols:
            assert f"| `{c.name}` | {c.zh} | {c.dtype} | {c.required} |" in README, (table, c.name)


def test_every_reason_is_documented_and_used():
    assert set(REASON_TEXT) == set(REASONS_SUBJECTS) | set(REASONS_RECORDS)
    for reason in REASON_TEXT:
        assert f"| `{reason}` |" in README, reason


def test_quick_start_has_two_commands():
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert [c.split("#")[0].strip() for c in commands] == ["make demo", "make test"]


def readme_commands() -> list[tuple[str, list[str]]]:
    """Every ``scoring ...`` line of the README's bash blocks, in order, with the shell variables
    assigned before it in its block (``PERSON=$(...)``)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        assigned: list[str] = []
        for line in block.splitlines():
            s = line.strip()
            if re.match(r"[A-Z_]+=", s):
                assigned.append(s)
            elif s.startswith("scoring "):
                out.append((s, list(assigned)))
    return out


def test_readme_commands_have_no_placeholders():
    commands = readme_commands()
    assert len(commands) >= 25
    for cmd, _ in commands:
        code = cmd.split(" #")[0]
        assert not re.search(r"\[|\]|\.\.\.|\b(FILE|PATH|CODE|ID|ID_NUMBER|SUBJECT|URI|NAME|VERSION)\b|<|\|", code), cmd
        assert not contains_raw_id(code), cmd


def test_every_readme_command_works_as_written_after_the_main_job(demo_run):
    """After ``scoring demo --workdir work`` (the session's main job), every command the README shows
    runs as written from the folder holding ``work/`` and ``data/sample``: exit code 0, no traceback,
    no raw ID number in what it prints. One test, so the commands run in the README's order."""
    root, _, _ = demo_run
    if not (root / "data" / "sample").exists():
        shutil.copytree(ROOT / "data" / "sample", root / "data" / "sample")
    env = {k: v for k, v in os.environ.items() if k not in ("XINYI_STORE", "MLFLOW_TRACKING_URI")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    failures = []
    for cmd, assigned in readme_commands():
        proc = subprocess.run(
            ["bash", "-c", "\n".join([*assigned, cmd])], cwd=root, env=env, capture_output=True, text=True
        )
        said = proc.stdout + proc.stderr
        if proc.returncode != 0 or "Traceback" in said or contains_raw_id(said):
            failures.append(f"{cmd}\n  exit {proc.returncode}: {said[-1500:]}")
    assert not failures, "\n".join(failures)
