"""实际占比 (realised prevalences) of a generated archive, measured from its files, against a profile's targets.

The measures are read from the archive as written (``subjects.parquet``, the record files and
``truth/``), independently of the generator's internals, with DuckDB over the Parquet files (bounded
memory on large archives). A record counts as present whatever its later status; the serious-dishonesty
list share counts the subjects *on* a list at the export date (entered, not exited, not revoked).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from scoring.core.errors import InputFileError
from scoring.features.industry import GRADES, GRADES_EN

if TYPE_CHECKING:
    from scoring.sample.profiles import SampleProfile

# 严重失信主体名单: the lists of the national 全国失信惩戒措施基础清单 that the catalogue holds —
# 严重失信主体名单 (C06: SDL_*), and the court's 失信被执行人名单 (C02), which the basic list counts too.
SERIOUS_LISTS = ("SDL_SERIOUS_DISHONEST", "SDL_TAX_MAJOR_CASE", "SDL_WAGE_ARREARS", "JUD_DISHONEST_DEBTOR")

# the three publicity regimes of the administrative-penalty rule (configs/catalog.yaml, admin_penalty)
REGIMES = {"2019": "ndrc_2019_527", "2023": "ndrc_order_58", "2026": "ndrc_order_36"}

MEASURES: dict[str, str] = {
    "serious_list_all": "严重失信名单主体占比 (all subjects, listed at the export date)",
    "serious_list_persons": "严重失信名单主体占比 (natural persons)",
    "serious_list_organisations": "严重失信名单主体占比 (organisations)",
    "persons_no_record": "无任何记录的自然人占比 (persons with no record at all)",
    "persons_few_records": "记录不超过2条的自然人占比 (persons with 0-2 records)",
    "persons_records_mean": "自然人平均记录数 (records per person)",
    "persons_records_p99": "自然人记录数99分位 (99th percentile of records per person)",
    "persons_top1pct_share": "最活跃1%自然人的记录占比 (share of person records held by the top 1%)",
    "persons_penalty": "有行政处罚的自然人占比 (persons with an ADM_PENALTY)",
    "persons_enforcement": "有被执行人信息的自然人占比 (persons with a JUD_ENFORCEMENT)",
    "persons_breach": "有合同违约的自然人占比 (persons with a CON_BREACH)",
    "organisations_penalty": "有行政处罚的组织占比 (organisations with ADM_PENALTY or ADM_PENALTY_SAMR)",
    **{
        f"true_grade_{en}": f"真实行业信用等级 {zh} 占比 (share of graded organisations)"
        for zh, en in zip(GRADES, GRADES_EN)
    },
    **{
        f"recorded_grade_{en}": f"最近一次行业信用评价 {zh} 占比 (latest EVAL_INDUSTRY_GRADE)"
        for zh, en in zip(GRADES, GRADES_EN)
    },
    "outcome_persons": "自然人结果发生率 (truth: outcome within the horizon)",
    "outcome_organisations": "组织结果发生率 (truth: outcome within the horizon)",
    **{f"penalties_regime_{y}": f"{y} 公示期制度下的行政处罚占比 (ADM_PENALTY by regime)" for y in REGIMES},
}


@dataclass
class Prevalence:
    """The realised measures of one archive (``values``) and the counts they rest on."""

    folder: Path
    persons: int
    organisations: int
    records: int
    values: dict[str, float]
    penalties_by_regime: dict[str, int]

    def to_dict(self) -> dict:
        return {
            "folder": str(self.folder),
            "persons": self.persons,
            "organisations": self.organisations,
            "records": self.records,
            "values": self.values,
            "penalties_by_regime": self.penalties_by_regime,
        }


def _records_relation(con: duckdb.DuckDBPyConnection, folder: Path, files: list[str]) -> str:
    """Create the view ``recs`` over every record file of the archive; return its SQL name."""
    from scoring.archive.schema import RECORD_COLUMNS

    cols = ["subject_id", "record_type", "event_date", "grade", "revoked_on", "list_entry_on", "list_exit_on"]
    parts = []
    parquet = folder / "records.parquet"
    if not parquet.exists():
        raise InputFileError(f"{parquet}: no records file; is {folder} an archive written by `scoring sample`?")
    parts.append(f"SELECT {', '.join(cols)} FROM read_parquet('{parquet.as_posix()}')")
    zh = {c.zh: c.name for c in RECORD_COLUMNS}
    for i, f in enumerate(x for x in files if x not in ("subjects.parquet", "records.parquet")):
        p = folder / f
        if p.suffix == ".csv":
            df = pd.read_csv(p, dtype=str).rename(columns=zh)
        else:
            df = pd.read_excel(p, dtype=str, engine="calamine")
        df = df.reindex(columns=cols).astype(object)
        for c in ("event_date", "revoked_on", "list_entry_on", "list_exit_on"):
            df[c] = df[c].str.replace("/", "-", regex=False)
        con.register(f"extra_{i}", df)
        parts.append(f"SELECT {', '.join(cols)} FROM extra_{i}")
    con.execute("CREATE OR REPLACE TEMP VIEW recs AS " + " UNION ALL ".join(parts))
    return "recs"


def measure(folder: str | Path) -> Prevalence:
    """Measure the realised prevalences of the archive in ``folder`` (see :data:`MEASURES`)."""
    from scoring.archive.catalog import load_catalog

    out = Path(folder)
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        raise InputFileError(f"{manifest_path}: no manifest; is {out} an archive written by `scoring sample`?")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    export = dt.date.fromisoformat(manifest["export_date"])
    cat = load_catalog()
    con = duckdb.connect()
    try:
        _records_relation(con, out, list(manifest.get("files", [])))
        con.execute(
            f"CREATE TEMP TABLE subj AS SELECT subject_id, subject_type = 'person' AS is_person "
            f"FROM read_parquet('{(out / 'subjects.parquet').as_posix()}')"
        )
        n_persons, n_orgs = con.execute(
            "SELECT count(*) FILTER (WHERE is_person), count(*) FILTER (WHERE NOT is_person) FROM subj"
        ).fetchone() or (0, 0)
        n_records = (con.execute("SELECT count(*) FROM recs").fetchone() or (0,))[0]
        v: dict[str, float] = {}

        # records per person (0 for persons without any)
        counts = con.execute(
            "SELECT coalesce(c.n, 0) AS n FROM subj s LEFT JOIN "
            "(SELECT subject_id, count(*) AS n FROM recs GROUP BY subject_id) c USING (subject_id) WHERE s.is_person"
        ).df()["n"]
        if len(counts):
            v["persons_no_record"] = float((counts == 0).mean())
            v["persons_few_records"] = float((counts <= 2).mean())
            v["persons_records_mean"] = float(counts.mean())
            v["persons_records_p99"] = float(counts.quantile(0.99))
            top = counts.sort_values(ascending=False).head(max(1, len(counts) // 100)).sum()
            v["persons_top1pct_share"] = float(top / counts.sum()) if counts.sum() else 0.0

        def touched(types: tuple[str, ...], persons: bool) -> float:
            den = n_persons if persons else n_orgs
            if not den:
                return 0.0
            q = (
                "SELECT count(DISTINCT r.subject_id) FROM recs r JOIN subj s USING (subject_id) "
                "WHERE s.is_person = ? AND r.record_type IN (SELECT unnest(?))"
            )
            return float((con.execute(q, [persons, list(types)]).fetchone() or (0,))[0]) / den

        v["persons_penalty"] = touched(("ADM_PENALTY",), True)
        v["persons_enforcement"] = touched(("JUD_ENFORCEMENT",), True)
        v["persons_breach"] = touched(("CON_BREACH",), True)
        v["organisations_penalty"] = touched(("ADM_PENALTY", "ADM_PENALTY_SAMR"), False)

        # on a serious-dishonesty list at the export date
        default_months = {c: cat.rule(c).default_months for c in SERIOUS_LISTS if c in cat}
        case = " ".join(f"WHEN '{c}' THEN {m}" for c, m in default_months.items() if m is not None)
        exit_default = f"CASE record_type {case} ELSE NULL END" if case else "NULL"
        listed = con.execute(
            f"""
            WITH l AS (
              SELECT subject_id, record_type,
                     TRY_CAST(coalesce(list_entry_on, event_date) AS DATE) AS entry,
                     TRY_CAST(list_exit_on AS DATE) AS exit_on,
                     TRY_CAST(revoked_on AS DATE) AS revoked
              FROM recs WHERE record_type IN (SELECT unnest(?))
            ), on_list AS (
              SELECT DISTINCT subject_id FROM l
              WHERE entry <= ?::DATE
                AND coalesce(exit_on, entry + to_months(({exit_default})::INTEGER), DATE '9999-12-31') > ?::DATE
                AND (revoked IS NULL OR revoked > ?::DATE)
            )
            SELECT count(*) FILTER (WHERE s.is_person), count(*) FILTER (WHERE NOT s.is_person)
            FROM on_list JOIN subj s USING (subject_id)
            """,
            [list(default_months), export, export, export],
        ).fetchone() or (0, 0)
        lp, lo = listed
        v["serious_list_all"] = (lp + lo) / max(1, n_persons + n_orgs)
        v["serious_list_persons"] = lp / max(1, n_persons)
        v["serious_list_organisations"] = lo / max(1, n_orgs)

        # the latest recorded industry grade of each organisation
        latest = con.execute(
            "SELECT grade FROM (SELECT subject_id, grade, row_number() OVER (PARTITION BY subject_id "
            "ORDER BY event_date DESC) AS k FROM recs WHERE record_type = 'EVAL_INDUSTRY_GRADE') WHERE k = 1"
        ).df()["grade"]
        for zh, en in zip(GRADES, GRADES_EN):
            v[f"recorded_grade_{en}"] = float((latest == zh).mean()) if len(latest) else 0.0

        # penalties by publicity regime
        rule = cat.rule("ADM_PENALTY")
        days = con.execute(
            "SELECT TRY_CAST(event_date AS DATE) AS d, count(*) AS n FROM recs WHERE record_type = 'ADM_PENALTY' "
            "GROUP BY 1"
        ).df()
        by_regime = dict.fromkeys(REGIMES.values(), 0)
        for d, n in days.itertuples(index=False):
            if pd.isna(d):
                continue
            code = rule.regime_for(pd.Timestamp(d).date()).code
            by_regime[code] = by_regime.get(code, 0) + int(n)
        total_pen = sum(by_regime.values())
        for y, code in REGIMES.items():
            v[f"penalties_regime_{y}"] = by_regime.get(code, 0) / total_pen if total_pen else 0.0
    finally:
        con.close()

    # the truth written beside the archive
    tp, to = out / "truth" / "persons.parquet", out / "truth" / "organisations.parquet"
    if tp.exists():
        v["outcome_persons"] = float(pd.read_parquet(tp, columns=["outcome"])["outcome"].mean())
    if to.exists():
        orgs = pd.read_parquet(to, columns=["outcome", "true_grade"])
        v["outcome_organisations"] = float(orgs["outcome"].mean())
        graded = orgs["true_grade"].dropna()
        for zh, en in zip(GRADES, GRADES_EN):
            v[f"true_grade_{en}"] = float((graded == zh).mean()) if len(graded) else 0.0
    return Prevalence(out, int(n_persons), int(n_orgs), int(n_records), v, by_regime)


@dataclass
class Check:
    """One measure against its target."""

    measure: str
    label: str
    realised: float | None
    value: float | None
    low: float | None
    high: float | None
    source: str
    ok: bool | None  # None: no target


def compare(prev: Prevalence, profile: SampleProfile) -> list[Check]:
    """Each measure of ``prev`` beside the target ``profile`` sets for it (if any)."""
    out = []
    for m, label in MEASURES.items():
        t = profile.targets.get(m)
        r = prev.values.get(m)
        out.append(
            Check(
                m,
                label,
                r,
                t.value if t else None,
                t.low if t else None,
                t.high if t else None,
                t.source if t else "",
                (t.holds(r) if r is not None else False) if t else None,
            )
        )
    return out
