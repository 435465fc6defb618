"""Deliberately bad rows for the synthetic archive: a handful of every kind the quarantine must catch.

Each planted row has exactly one defect, so its expected reason is known. Rows are appended to the
end of their file; ``truth/planted_errors.csv`` lists file, table, row (1-based data row, header
excluded), key and expected reason. Rows expected to be *accepted* with a warning (allow-listed
legacy USCCs, 15-digit ID numbers) are listed too, with ``expect = accepted``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scoring.core.errors import DataError
from scoring.core.identifiers import check_uscc, complete_id_number, complete_uscc

if TYPE_CHECKING:
    from scoring.sample.generator import Population
    from scoring.sample.profiles import SampleProfile

LEGACY_ALLOWED = ["91350203M0001QAY9B", "91350100M0001TGQXM"]
_STATUS_FIRST = ("repaired_on", "objection_raised_on", "revoked_on", "list_exit_on")
_STATUSES = (
    "repaired_on",
    "objection_raised_on",
    "objection_resolved_on",
    "objection_outcome",
    "revoked_on",
    "list_exit_on",
)


def _shift(date_str: str, days: int) -> str:
    return (dt.date.fromisoformat(date_str) + dt.timedelta(days=days)).isoformat()


class _Planter:
    def __init__(self, subjects: pd.DataFrame, records: dict[str, pd.DataFrame], export: dt.date, rng):
        self.subjects = subjects
        self.records = records  # file name -> frame
        self.base = {"subjects.parquet": len(subjects), **{k: len(v) for k, v in records.items()}}
        self.new_rows: dict[str, list[dict]] = {k: [] for k in self.base}
        self.truth: list[dict] = []
        self.export = export
        self.rng = rng
        self.serial = 0
        self.known = set(subjects["subject_id"])

    # -- helpers ---------------------------------------------------------------------------
    def add(self, file: str, row: dict, reason: str, key: str, expect: str = "quarantine") -> None:
        self.new_rows[file].append(row)
        table = "subjects" if file.startswith("subjects") else "records"
        self.truth.append(
            {
                "file": file,
                "table": table,
                "row": self.base[file] + len(self.new_rows[file]),
                "key": key,
                "reason": reason,
                "expect": expect,
            }
        )

    def next_id(self) -> str:
        self.serial += 1
        return f"RBAD{self.serial:06d}"

    def fresh_doc(self) -> str:
        return f"金信核〔2099〕{self.serial:04d}号"

    def fresh_uscc(self, prefix: str = "91", region: str = "330702") -> str:
        while True:
            body = prefix + region + "".join(self.rng.choice(list("0123456789"), 8))
            mat = np.frombuffer(body.encode(), dtype=np.uint8).reshape(1, 16)
            code = complete_uscc(mat)[0]
            if code not in self.known:
                self.known.add(code)
                return code

    def fresh_person_id(self) -> str:
        while True:
            body = (
                "330702"
                + f"{self.rng.integers(1950, 2000)}0{self.rng.integers(1, 9)}1{self.rng.integers(0, 9)}"
                + f"{self.rng.integers(0, 1000):03d}"
            )
            code = complete_id_number(np.frombuffer(body.encode(), dtype=np.uint8).reshape(1, 17))[0]
            if code not in self.known:
                self.known.add(code)
                return code

    def template(self, file: str, rtype: str, clean: bool = True, org: bool | None = None) -> dict:
        """A random row of ``rtype`` to plant a defect on; ``clean``: one without statuses (repair,
        objection, revocation, list exit). When a rare type (a realistic profile's) has no clean row,
        any row of the type is taken and its statuses cleared, which keeps it valid."""
        df = self.records[file]
        m = df["record_type"] == rtype
        if org is not None:
            is_org = ~df["subject_id"].str.fullmatch(r"\d{17}[\dX]")
            m &= is_org if org else ~is_org
        of_type = m
        if clean:
            for c in _STATUS_FIRST:
                m &= df[c].isna()
        rows = df[m]
        if rows.empty and clean and of_type.any():
            row = df[of_type].iloc[int(self.rng.integers(0, int(of_type.sum())))].to_dict()
            row.update(dict.fromkeys(_STATUSES))
            return row
        if rows.empty:
            raise DataError(f"the sample has no {rtype} record to plant an error on; generate a larger sample")
        return rows.iloc[int(self.rng.integers(0, len(rows)))].to_dict()

    def variant(self, file: str, rtype: str, clean: bool = True, org: bool | None = None, **changes) -> dict:
        row = self.template(file, rtype, clean, org)
        row["record_id"] = self.next_id()
        if row.get("document_no") is not None and not pd.isna(row["document_no"]):
            row["document_no"] = self.fresh_doc()
        row.update(changes)
        return row

    def subject_row(self, kind: str) -> dict:
        s = self.subjects
        rows = s[s["subject_type"] == kind]
        return rows.iloc[int(self.rng.integers(0, len(rows)))].to_dict()


def plant(
    subjects: pd.DataFrame,
    records: pd.DataFrame,
    extra: dict[str, pd.DataFrame],
    prof: SampleProfile,
    orgs: Population,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame], pd.DataFrame]:
    """Append planted bad rows; return (subjects, records, extra, planted truth frame)."""
    E = prof.export_date
    files = {"records.parquet": records, **extra}
    p = _Planter(subjects, files, E, rng)
    S = "subjects.parquet"
    R = "records.parquet"

    # ---- subjects --------------------------------------------------------------------------
    for _ in range(3):
        row = p.subject_row("enterprise")
        good = p.fresh_uscc()
        bad = good[:-1] + ("A" if good[-1] != "A" else "B")
        row.update(subject_id=bad, name=row["name"] + "分公司")
        p.add(S, row, "BAD_USCC", bad)
    pilot = "91330702M0001AB12C"
    if check_uscc([pilot])[0] == 0:  # pragma: no cover - make sure it fails the check
        pilot = pilot[:-1] + "D"
    row = p.subject_row("enterprise")
    row.update(subject_id=pilot, name="试点代码未登记企业")
    p.add(S, row, "BAD_USCC", pilot)
    for code in LEGACY_ALLOWED:
        row = p.subject_row("enterprise")
        row.update(subject_id=code, region_code=code[2:8], name="早期试点代码企业")
        p.add(S, row, "legacy_uscc", code, expect="accepted")
    for body in ("330702" + "650312" + "123", "330703" + "580101" + "456"):  # 15-digit IDs, built in parts
        row = p.subject_row("person")
        row.update(subject_id=body, name="一代证持有人")
        p.add(S, row, "id_15_digit", body, expect="accepted")
    for _ in range(3):
        row = p.subject_row("person")
        good = p.fresh_person_id()
        bad = good[:-1] + ("0" if good[-1] != "0" else "1")
        row.update(subject_id=bad)
        p.add(S, row, "BAD_ID_NUMBER", bad)
    for stype in ("公司", "partnership"):
        row = p.subject_row("enterprise")
        row.update(subject_id=p.fresh_uscc(), subject_type=stype)
        p.add(S, row, "BAD_SUBJECT_TYPE", row["subject_id"])
    for region in ("3307", "33O702"):
        row = p.subject_row("enterprise")
        row.update(subject_id=p.fresh_uscc(), region_code=region)
        p.add(S, row, "BAD_REGION", row["subject_id"])
    for _ in range(2):
        row = p.subject_row("person")
        row.update(subject_id=p.fresh_person_id(), name="  ")
        p.add(S, row, "MISSING_REQUIRED", row["subject_id"])
    for _ in range(2):
        row = p.subject_row("enterprise")
        p.add(S, dict(row), "DUPLICATE_EXACT", row["subject_id"])
    for _ in range(2):
        row = p.subject_row("enterprise")
        row.update(name=row["name"] + "(更名)")
        p.add(S, row, "DUPLICATE_SUBJECT", row["subject_id"])
    for rep in ("12345", "11010519491231002Y"):
        row = p.subject_row("enterprise")
        row.update(subject_id=p.fresh_uscc(), legal_rep_id=rep)
        p.add(S, row, "BAD_LINK", row["subject_id"])
    for days in (30, 200):
        row = p.subject_row("enterprise")
        row.update(subject_id=p.fresh_uscc(), registered_on=(E + dt.timedelta(days=days)).isoformat())
        p.add(S, row, "DATE_AFTER_EXPORT", row["subject_id"])
    for bad in ("2019-02-29", "19-3-2020"):
        row = p.subject_row("enterprise")
        row.update(subject_id=p.fresh_uscc(), registered_on=bad)
        p.add(S, row, "BAD_DATE", row["subject_id"])
    for bad in ("85A4", "851"):
        row = p.subject_row("enterprise")
        row.update(subject_id=p.fresh_uscc(), industry_code=bad)
        p.add(S, row, "BAD_INDUSTRY", row["subject_id"])
    row = p.subject_row("person")
    row.update(subject_id=p.fresh_person_id(), positive_opt_out="maybe")
    p.add(S, row, "BAD_VALUE", row["subject_id"])

    # ---- records.parquet ---------------------------------------------------------------------
    def rec(reason: str, row: dict, file: str = R) -> None:
        p.add(file, row, reason, str(row["record_id"]))

    for bad in ("2023-02-30", "20231345"):
        rec("BAD_DATE", p.variant(R, "ADM_PENALTY", event_date=bad))
    rec("DATE_AFTER_EXPORT", p.variant(R, "VOL_DONATION", event_date=(E + dt.timedelta(days=10)).isoformat()))
    t = p.variant(R, "ADM_PENALTY", org=True)
    while t["severity"] == "minor":
        t = p.variant(R, "ADM_PENALTY", org=True)
    t["repaired_on"] = (E + dt.timedelta(days=5)).isoformat()
    rec("DATE_AFTER_EXPORT", t)
    reg = dict(zip(subjects["subject_id"], subjects["registered_on"]))
    for _ in range(2):
        t = p.variant(R, "ADM_INSPECTION_PASS", org=True)
        t["event_date"] = _shift(reg[t["subject_id"]], -400)
        rec("EVENT_BEFORE_REGISTRATION", t)
    for code in ("JAYWALKING", "PROPERTY_FEE_ARREARS", "GARBAGE_SORTING"):
        rec("UNKNOWN_RECORD_TYPE", p.variant(R, "ADM_PENALTY", record_type=code))
    ent = subjects[(subjects["subject_type"] == "enterprise") & (subjects["registered_on"] < "2015-01-01")]
    t = p.variant(R, "QUAL_TITLE", subject_id=ent["subject_id"].iloc[0])
    rec("TYPE_NOT_ALLOWED", t)
    person = subjects[subjects["subject_type"] == "person"]["subject_id"].iloc[5]
    rec("TYPE_NOT_ALLOWED", p.variant(R, "ABN_OPERATION_LIST", subject_id=person))
    rec("BAD_SEVERITY", p.variant(R, "ADM_PENALTY", severity="extreme"))
    rec("BAD_SEVERITY", p.variant(R, "COM_MADE", severity="serious"))
    rec("BAD_SEVERITY", p.variant(R, "SDL_SERIOUS_DISHONEST", severity="轻微"))
    for _ in range(2):
        rec("UNKNOWN_SUBJECT", p.variant(R, "VOL_DONATION", subject_id=p.fresh_uscc()))
    recs = files[R]
    for i in rng.choice(len(recs), 3, replace=False):
        row = recs.iloc[int(i)].to_dict()
        p.add(R, row, "DUPLICATE_EXACT", str(row["record_id"]))
    for _ in range(2):
        t = p.template(R, "ADM_PENALTY", org=True)
        t["amount"] = "99999"
        rec("DUPLICATE_RECORD_ID", t)
    for _ in range(2):
        t = p.template(R, "ADM_PENALTY_SAMR")
        t["record_id"] = p.next_id()
        rec("DUPLICATE_DOCUMENT", t)
    rec("MISSING_REQUIRED", p.variant(R, "ADM_PENALTY", document_no=None))
    rec("MISSING_REQUIRED", p.variant(R, "ADM_PENALTY", agency=""))
    rec("MISSING_REQUIRED", p.variant(R, "CON_PERFORMED", subject_id=None))
    t = p.variant(R, "CON_BREACH")
    t.update(
        objection_raised_on=_shift(t["event_date"], 10),
        objection_resolved_on=_shift(t["event_date"], 5),
        objection_outcome="rejected",
    )
    rec("BAD_STATUS", t)
    t = p.variant(R, "ADM_PENALTY", severity="general")
    t["repaired_on"] = _shift(t["event_date"], -5)
    rec("BAD_STATUS", t)
    t = p.variant(R, "ABN_OPERATION_LIST")
    t["list_exit_on"] = _shift(t["list_entry_on"], -10)
    rec("BAD_STATUS", t)
    rec("BAD_AMOUNT", p.variant(R, "ADM_PENALTY", amount="-500"))
    rec("BAD_AMOUNT", p.variant(R, "VOL_DONATION", amount="abc"))
    rec("BAD_GRADE", p.variant(R, "EVAL_TAX_GRADE", grade="E"))
    rec("BAD_GRADE", p.variant(R, "EVAL_INDUSTRY_GRADE", grade="AAA"))

    # ---- other formats -------------------------------------------------------------------------
    C, V = "records_court.csv", "records_volunteer.xlsx"
    if C in files:
        rec("BAD_DATE", p.variant(C, "JUD_ENFORCEMENT", event_date="2023-13-01"), C)
        row = files[C].iloc[3].to_dict()
        p.add(C, row, "DUPLICATE_EXACT", str(row["record_id"]))
        rec("MISSING_REQUIRED", p.variant(C, "JUD_ENFORCEMENT", document_no=None), C)
    if V in files:
        rec("BAD_AMOUNT", p.variant(V, "VOL_SERVICE_HOURS", amount="-3"), V)
        rec("UNKNOWN_SUBJECT", p.variant(V, "VOL_SERVICE_HOURS", subject_id=p.fresh_person_id()), V)
        rec("MISSING_REQUIRED", p.variant(V, "VOL_SERVICE_HOURS", amount=None), V)

    def grow(df: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
        if not rows:
            return df
        add = pd.DataFrame(rows, columns=df.columns).astype(object)
        return pd.concat([df.astype(object), add], ignore_index=True)

    subjects = grow(subjects, p.new_rows[S])
    records = grow(files[R], p.new_rows[R])
    extra = {k: grow(v, p.new_rows[k]) for k, v in extra.items()}
    return subjects, records, extra, pd.DataFrame(p.truth)
