"""The README documents what the code does: every archive column and every quarantine reason."""

from pathlib import Path

import pytest

from scoring.archive.reasons import REASON_TEXT, REASONS_RECORDS, REASONS_SUBJECTS
from scoring.archive.schema import TABLES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


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
