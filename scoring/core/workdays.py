"""工作日 — the working-day calendar behind every deadline in working days (信用异议, 信用修复).

The State Council publishes each year's public holidays and make-up working days (调休) late in the
year before; ``configs/calendars/<year>.yaml`` keeps one year each, as data. A day is a working day
when it is a Monday to Friday that is not a holiday, or a make-up working day. A deadline is never
counted into a year the calendar does not know: :class:`CalendarError` says which file to add.

Counting rule: ``n`` working days after a day are counted from the next working day, so a case
submitted on a Friday with 5 working days is due on the next Friday (no holidays between).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.core.config import config_dir, files_signature, load_model
from scoring.core.errors import ConfigError

ONE = dt.timedelta(days=1)


class CalendarError(ConfigError):
    """A date in a year the working-day calendar does not know."""


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: str = Field(min_length=1)
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> "Holiday":
        if self.end < self.start:
            raise ValueError(f"{self.name}: 'to' ({self.end}) is before 'from' ({self.start})")
        return self

    def days(self) -> Iterator[dt.date]:
        d = self.start
        while d <= self.end:
            yield d
            d += ONE


class YearCalendar(BaseModel):
    """One year's 节假日安排: holidays (inclusive ranges) and make-up working days (调休上班)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    year: int = Field(ge=1949, le=9999)
    source: str = Field(min_length=1)
    holidays: list[Holiday]
    make_up_working_days: list[dt.date] = []

    @field_validator("make_up_working_days")
    @classmethod
    def _weekends(cls, v: list[dt.date]) -> list[dt.date]:
        seen: set[dt.date] = set()
        for d in v:
            if d in seen:
                raise ValueError(f"{d} is listed twice")
            seen.add(d)
            if d.weekday() < 5:
                raise ValueError(
                    f"{d} is a {d.strftime('%A')}, already a working day: a make-up working day is a weekend day"
                )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "YearCalendar":
        seen: dict[dt.date, str] = {}
        for h in self.holidays:
            for d in h.days():
                if d.year != self.year:
                    raise ValueError(f"holidays: {h.name}: {d} is not in {self.year}")
                if d in seen:
                    raise ValueError(f"holidays: {d} is in both {seen[d]} and {h.name}")
                seen[d] = h.name
        for d in self.make_up_working_days:
            if d.year != self.year:
                raise ValueError(f"make_up_working_days: {d} is not in {self.year}")
            if d in seen:
                raise ValueError(f"make_up_working_days: {d} is also a holiday ({seen[d]})")
        return self


class WorkingCalendar:
    """The working days of the years in ``configs/calendars/`` (one file a year)."""

    def __init__(self, years: dict[int, YearCalendar], folder: Path):
        self.years, self.folder = years, folder
        self._off = {d for y in years.values() for h in y.holidays for d in h.days()}
        self._on = {d for y in years.values() for d in y.make_up_working_days}

    def __repr__(self) -> str:
        return f"WorkingCalendar(years={sorted(self.years)}, folder={str(self.folder)!r})"

    def _known(self, d: dt.date) -> None:
        if d.year not in self.years:
            known = ", ".join(str(y) for y in sorted(self.years)) or "none"
            raise CalendarError(
                f"the working-day calendar does not know {d.year} (date {d}; known years: {known}): add "
                f"{self.folder / f'{d.year}.yaml'} with that year's public holidays and make-up working days "
                "(国务院办公厅关于部分节假日安排的通知), then restart the service"
            )

    def is_working_day(self, d: dt.date) -> bool:
        self._known(d)
        if d in self._on:
            return True
        return d.weekday() < 5 and d not in self._off

    def add(self, start: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``start`` (n >= 1; n = 0 gives ``start`` itself)."""
        if n < 0:
            raise ValueError("n must be 0 or more working days")
        d, left = start, n
        while left:
            d += ONE
            if self.is_working_day(d):
                left -= 1
        return d

    def between(self, a: dt.date, b: dt.date) -> int:
        """Working days after ``a`` up to and including ``b`` (0 when b <= a)."""
        n, d = 0, a
        while d < b:
            d += ONE
            if self.is_working_day(d):
                n += 1
        return n


def load_calendar(folder: str | Path | None = None) -> WorkingCalendar:
    """Every ``<year>.yaml`` of ``folder`` (default ``configs/calendars``), validated; a file whose
    ``year`` is not its name is an error."""
    p = Path(folder) if folder is not None else config_dir() / "calendars"
    return _load(str(p), files_signature(p))


@lru_cache(maxsize=8)
def _load(folder: str, _signature: tuple) -> WorkingCalendar:
    p = Path(folder)
    if not p.is_dir():
        raise ConfigError(f"{p}: the working-day calendar folder is missing: add one <year>.yaml per year")
    years: dict[int, YearCalendar] = {}
    for f in sorted(p.glob("*.yaml")):
        cal = load_model(YearCalendar, f)
        if f.stem != str(cal.year):
            raise ConfigError(f"{f}: year: {cal.year} does not match the file name (name it {cal.year}.yaml)")
        years[cal.year] = cal
    return WorkingCalendar(years, p)
