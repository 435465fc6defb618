"""The working-day calendar (工作日): holidays and 调休 as data, deadlines never into an unknown year."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.core.errors import ConfigError
from scoring.core.workdays import CalendarError, load_calendar

D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def cal():
    return load_calendar()


def test_spring_festival_2026_with_make_up_days(cal):
    # 春节 2026-02-15..23 off; Saturday 2026-02-14 and Saturday 2026-02-28 are working days
    assert cal.is_working_day(D("2026-02-14")) and cal.is_working_day(D("2026-02-28"))
    assert not any(cal.is_working_day(D("2026-02-15") + dt.timedelta(days=i)) for i in range(9))
    assert not cal.is_working_day(D("2026-02-21"))  # a Saturday inside the holiday
    # an objection raised on Friday 2026-02-13: day 1 is the make-up Saturday, then the holiday
    assert cal.add(D("2026-02-13"), 1) == D("2026-02-14")
    assert cal.add(D("2026-02-13"), 5) == D("2026-02-27")  # 14 (Sat), 24, 25, 26, 27
    assert cal.add(D("2026-02-13"), 6) == D("2026-02-28")  # the second make-up Saturday
    assert cal.between(D("2026-02-13"), D("2026-02-28")) == 6


def test_deadline_across_a_year_end(cal):
    # 2025-12-29 (Mon) + 5 working days: 30, 31, [1-3 Jan off], 4 Jan (make-up Sunday), 5, 6 Jan
    assert cal.add(D("2025-12-29"), 5) == D("2026-01-06")
    assert cal.is_working_day(D("2026-01-04"))  # a Sunday, worked (调休)
    assert cal.between(D("2025-12-29"), D("2026-01-06")) == 5


def test_a_year_the_calendar_does_not_know_is_refused_naming_the_file(cal):
    with pytest.raises(CalendarError, match=r"2027.*configs/calendars/2027\.yaml"):
        cal.add(D("2026-12-28"), 5)  # runs into 2027
    with pytest.raises(CalendarError, match="2027.yaml"):
        cal.is_working_day(D("2027-01-04"))
    assert cal.add(D("2026-12-21"), 5) == D("2026-12-28")  # within 2026: fine


def test_national_day_2025_and_make_up_saturday(cal):
    assert not cal.is_working_day(D("2025-10-08"))
    assert cal.is_working_day(D("2025-10-11")) and cal.is_working_day(D("2025-09-28"))
    assert cal.add(D("2025-09-30"), 1) == D("2025-10-09")


@settings(max_examples=200, deadline=None)
@given(day=st.dates(D("2024-01-01"), D("2026-09-30")), n=st.integers(0, 40))
def test_add_and_between_agree(day, n):
    cal = load_calendar()
    end = cal.add(day, n)
    assert cal.between(day, end) == n
    if n:
        assert cal.is_working_day(end)
        assert cal.add(day, n - 1) < end  # monotone in n
    assert end.year <= 2026


def _copy(tmp_path):
    dst = tmp_path / "calendars"
    shutil.copytree(load_calendar().folder, dst)
    return dst


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("[2026-01-04,", "[2026-01-05,"), "already a working day"),
        (lambda t: t.replace("[2026-01-04,", "[2026-01-04, 2026-01-04,"), "listed twice"),
        (lambda t: t.replace("[2026-01-04,", "[2026-02-21,"), "also a holiday"),
        (lambda t: t.replace("from: 2026-06-19, to: 2026-06-21", "from: 2026-06-21, to: 2026-06-19"), "before"),
        (lambda t: t.replace("from: 2026-04-04, to: 2026-04-06", "from: 2026-02-20, to: 2026-02-21"), "in both"),
    ],
)
def test_bad_calendar_files_are_refused_precisely(tmp_path, edit, message):
    folder = _copy(tmp_path)
    f = folder / "2026.yaml"
    f.write_text(edit(f.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as exc:
        load_calendar(folder)
    assert "2026.yaml" in str(exc.value)


def test_a_file_named_for_another_year_is_refused(tmp_path):
    folder = _copy(tmp_path)
    (folder / "2026.yaml").rename(folder / "2028.yaml")
    with pytest.raises(ConfigError, match=r"2028\.yaml: year: 2026 does not match the file name"):
        load_calendar(folder)


def test_adding_a_year_is_a_file(tmp_path):
    folder = _copy(tmp_path)
    (folder / "2027.yaml").write_text(
        "year: 2027\nsource: test\nholidays:\n  - {name: 元旦, from: 2027-01-01, to: 2027-01-01}\n", encoding="utf-8"
    )
    assert load_calendar(folder).add(D("2026-12-28"), 5) == D("2027-01-05")
