"""``scoring sample``: a synthetic credit archive (信用档案) with a known truth.

Every subject has a latent trustworthiness ``z`` (higher = more trustworthy) that drifts slowly.
Yearly record counts are Poisson, with rates that rise (negative records) or fall (positive ones)
as ``z`` falls; severities, repairs, objections, commitments kept and volunteering follow from ``z``
too. Organisations belong to industries from seed 000's 专栏3 and have a true grade (优秀..差);
every subject has an outcome: a serious violation or new serious dishonesty within the horizon
after the cut-off. The truth is written beside the archive in ``truth/``.

The rates, shares and time spans come from a profile (``configs/sample/<name>.yaml``, see
:mod:`scoring.sample.profiles`): ``realistic`` (the default: a city platform's prevalences, a
per-subject activity multiplier with a long tail, the true grades in Zhejiang's shares) or ``stress``
(many events, for tests that need them; the original profile, whose output for a seed is unchanged).

Deterministic by seed; records stream to Parquet chunk by chunk, so 100 million records fit in
bounded memory. With ``plant_errors`` a handful of deliberately bad rows of every kind are added
and listed in ``truth/planted_errors.csv`` (for the quarantine to catch).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scoring.archive.catalog import Catalog, Polarity, load_catalog
from scoring.core.dates import add_months
from scoring.core.identifiers import complete_id_number, complete_uscc
from scoring.features.industry import GRADES, Industry, load_industries
from scoring.sample.profiles import (
    DEFAULT_PROFILE,
    IndustryProfile,
    Process,
    SampleProfile,
    load_profile,
    resolve_profile,
)

__all__ = [
    "DEFAULT_PROFILE",
    "GRADES",
    "IndustryProfile",
    "Process",
    "SampleProfile",
    "SampleResult",
    "generate_sample",
    "load_profile",
]

EPOCH = dt.date(1970, 1, 1)
GRADE_CUTS = (1.28, 0.25, -0.67, -1.4)  # z above cut -> grade; shares about 10/30/35/17/8 %
RECORD_GRADE_NOISE = 0.5  # sd of the assessor's noise on z in a recorded EVAL_INDUSTRY_GRADE
# The stress profile reproduces the generator's output from before profiles existed, file for file
# (byte for byte but for the Excel file's creation time), so its manifest carries no "profile" key;
# every other profile's manifest names it.
LEGACY_PROFILE = "stress"


# --------------------------------------------------------------------------------------------
# names and agencies
_SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志斌宇浩凯晨欣怡佳琪子涵雨轩梓萱"
)
_WORDS = list("康宁安泰和顺福瑞祥德嘉华盛兴隆恒信诚达通利丰源鑫晟博睿")
_SUFFIX = {
    "elderly_care": ["养老院", "颐养中心", "老年公寓"],
    "travel_agency": ["旅行社有限公司", "国际旅行社有限公司"],
    "construction": ["建设有限公司", "建筑工程有限公司"],
    "medical": ["医院", "诊所", "门诊部"],
    "food": ["食品有限公司", "食品厂"],
    "property_services": ["物业管理有限公司", "物业服务有限公司"],
    None: ["人民政府办公室", "管理局"],
}
PERSON_AGENCIES = ["金华市公安局", "金华市综合行政执法局", "金华市生态环境局", "金华市交通运输局"]
COURTS = ["金华市中级人民法院", "金华市婺城区人民法院", "义乌市人民法院", "东阳市人民法院", "永康市人民法院"]
FIXED_AGENCY = {
    "ADM_PENALTY_SAMR": "金华市市场监督管理局",
    "ADM_COERCION": "金华市综合行政执法局",
    "ADM_SAFETY_ACCIDENT": "金华市应急管理局",
    "ADM_TAX_ARREARS": "国家税务总局金华市税务局",
    "EVAL_TAX_GRADE": "国家税务总局金华市税务局",
    "SDL_TAX_MAJOR_CASE": "国家税务总局金华市税务局",
    "ADM_REWARD": "金华市人民政府",
    "ADM_RIGHTEOUS_ACT": "金华市公安局",
    "REG_ESTABLISH": "金华市市场监督管理局",
    "REG_CHANGE": "金华市市场监督管理局",
    "QUAL_TITLE": "金华市人力资源和社会保障局",
    "QUAL_PRACTICE": "金华市人力资源和社会保障局",
    "QUAL_REVOKED": "金华市人力资源和社会保障局",
    "ABN_OPERATION_LIST": "金华市市场监督管理局",
    "ABN_INDIVIDUAL_STATUS": "金华市市场监督管理局",
    "SDL_SERIOUS_DISHONEST": "金华市发展和改革委员会",
    "SDL_WAGE_ARREARS": "金华市人力资源和社会保障局",
    "CON_PERFORMED": "金华市公共资源交易中心",
    "CON_BREACH": "金华市公共资源交易中心",
    "COM_MADE": "金华市发展和改革委员会",
    "COM_KEPT": "金华市发展和改革委员会",
    "COM_BROKEN": "金华市发展和改革委员会",
    "HON_NATIONAL": "中央精神文明建设指导委员会",
    "HON_PROVINCIAL": "浙江省人民政府",
    "HON_MUNICIPAL": "金华市人民政府",
    "HON_COUNTY": "金华市婺城区人民政府",
    "VOL_SERVICE_HOURS": "金华市志愿服务联合会",
    "VOL_DONATION": "金华市慈善总会",
    "VOL_SELF_REPORTED": "金华市社会信用体系建设领导小组办公室",
}
DOC_PREFIX = {
    "金华市市场监督管理局": "金市监罚",
    "金华市民政局": "金民罚",
    "金华市文化广电旅游局": "金文旅罚",
    "金华市住房和城乡建设局": "金建罚",
    "金华市卫生健康委员会": "金卫罚",
    "金华市应急管理局": "金应急罚",
    "国家税务总局金华市税务局": "金税",
    "金华市公安局": "金公",
    "金华市综合行政执法局": "金综执罚",
    "金华市生态环境局": "金环罚",
    "金华市交通运输局": "金交罚",
    "金华市人民政府": "金政",
    "金华市人力资源和社会保障局": "金人社",
    "金华市发展和改革委员会": "金发改信",
    "金华市公共资源交易中心": "金资交",
    "中央精神文明建设指导委员会": "文明委",
    "浙江省人民政府": "浙政",
    "金华市婺城区人民政府": "婺政",
}
COURT_PREFIX = "(2020)浙07执"
PERSON_REGIONS_OTHER = ["110105", "440524", "320102", "510104", "350203"]
USCC_PREFIX = {
    "enterprise": "91",
    "individual_business": "92",
    "social_organisation": "52",
    "public_institution": "12",
    "government_body": "11",
}
_ORG_CHARS = np.frombuffer(b"0123456789ABCDEFGHJKLMNPQRTUWXY", dtype=np.uint8)


def _days(d: dt.date) -> int:
    return (d - EPOCH).days


def _date_strings(days: np.ndarray) -> pa.Array:
    """int days since 1970 (negative = missing) -> 'YYYY-MM-DD' strings or nulls."""
    mask = days < 0
    arr = pa.array(np.where(mask, 0, days).astype(np.int32), type=pa.date32(), mask=mask)
    return arr.cast(pa.string())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _grade_of(z: np.ndarray, cuts: tuple[float, ...] = GRADE_CUTS) -> np.ndarray:
    idx = np.zeros(len(z), dtype=np.int64)
    for cut in cuts:
        idx += z <= cut
    return idx  # 0 = 优秀 .. 4 = 差


def _share_cuts(z: np.ndarray, shares: dict[str, float]) -> tuple[float, ...]:
    """z cuts (descending) that give the population ``z`` the grade ``shares`` (优秀 first)."""
    upper = np.cumsum([shares[g] for g in GRADES])[:-1]  # share at or above each grade
    return tuple(float(c) for c in np.quantile(z, 1 - upper))


def _activity(rng: np.random.Generator, shape: float | None, n: int) -> np.ndarray | None:
    """Gamma(shape, 1/shape) activity multipliers (mean 1); None when the profile has none."""
    return None if shape is None else rng.gamma(shape, 1.0 / shape, n)


# --------------------------------------------------------------------------------------------
@dataclass
class Population:
    """Subjects of one kind, with their latent truth (arrays aligned by index)."""

    ids: np.ndarray
    subject_type: np.ndarray  # str codes
    z0: np.ndarray  # latent trustworthiness at the export date
    drift: np.ndarray  # yearly drift: z(t) = z0 - drift * years_before_export
    registered: np.ndarray  # days since epoch; -1 for persons
    industry: np.ndarray  # industry code or "" (persons, government)
    is_person: bool
    extra: dict = field(default_factory=dict)
    activity: np.ndarray | None = None  # per-subject rate multiplier (profile.activity), or None
    engagement: np.ndarray | None = None  # own multiplier of positive records (activity.positive: own)

    def __len__(self) -> int:
        return len(self.ids)


def _unique_codes(make: Callable[[int], np.ndarray], n: int) -> np.ndarray:
    codes = make(n)
    while True:
        _, first = np.unique(codes, return_index=True)
        dup = np.setdiff1d(np.arange(len(codes)), first)
        if len(dup) == 0:
            return codes
        codes[dup] = make(len(dup))


def _make_persons(rng: np.random.Generator, n: int, prof: SampleProfile) -> Population:
    regions = list(prof.regions) * 4 + PERSON_REGIONS_OTHER
    e = prof.export_date

    def make(k: int) -> np.ndarray:
        reg = np.array(regions)[rng.integers(0, len(regions), k)]
        age_days = rng.integers(18 * 365, 80 * 365, k)
        birth = pd.to_datetime(_days(e) - age_days, unit="D").strftime("%Y%m%d").to_numpy()
        seq = rng.integers(0, 1000, k)
        first17 = np.char.add(np.char.add(reg.astype("U6"), birth.astype("U8")), np.char.zfill(seq.astype("U3"), 3))
        mat = np.array(first17.tolist(), dtype="S17").view(np.uint8).reshape(-1, 17)
        return complete_id_number(mat).astype(object)

    ids = _unique_codes(make, n)
    z0 = rng.standard_normal(n)
    surname = np.array(_SURNAMES)[rng.integers(0, len(_SURNAMES), n)]
    g1 = np.array(_GIVEN)[rng.integers(0, len(_GIVEN), n)]
    g2 = np.where(rng.random(n) < 0.6, np.array(_GIVEN)[rng.integers(0, len(_GIVEN), n)], "")
    names = np.char.add(np.char.add(surname, g1), g2)
    region_live = np.array(list(prof.regions))[rng.integers(0, len(prof.regions), n)]
    pop = Population(
        ids=ids,
        subject_type=np.full(n, "person", dtype=object),
        z0=z0,
        drift=rng.normal(0, prof.drift_sd, n),
        registered=np.full(n, -1, dtype=np.int64),
        industry=np.full(n, "", dtype=object),
        is_person=True,
        extra={"name": names, "region": region_live, "opt_out": rng.random(n) < prof.opt_out_share},
    )
    # drawn last, and only when the profile asks for it, so profiles without one draw as before
    pop.activity = _activity(rng, prof.activity.person_shape if prof.activity else None, n)
    if prof.activity and prof.activity.positive == "own":
        pop.engagement = _activity(rng, prof.activity.person_positive_shape or prof.activity.person_shape, n)
    return pop


def _make_orgs(
    rng: np.random.Generator, n: int, prof: SampleProfile, persons: Population, industries: dict[str, Industry]
) -> Population:
    e = _days(prof.export_date)
    codes = list(prof.industries)
    shares = np.array([prof.industries[c].share for c in codes])
    shares = shares / shares.sum() * (1 - prof.government_share)
    pick = rng.choice(len(codes) + 1, size=n, p=np.append(shares, prof.government_share))
    industry = np.array(codes + [""], dtype=object)[pick]
    stype = np.full(n, "government_body", dtype=object)
    gbt = np.full(n, "9221", dtype=object)
    for i, c in enumerate(codes):
        m = pick == i
        types = list(prof.industries[c].types)
        p = np.array([prof.industries[c].types[t] for t in types])
        stype[m] = np.array([t.value for t in types], dtype=object)[rng.choice(len(types), m.sum(), p=p / p.sum())]
        classes = industries[c].gbt4754
        gbt[m] = np.array(classes, dtype=object)[rng.integers(0, len(classes), m.sum())]
    region = np.array(list(prof.regions))[rng.integers(0, len(prof.regions), n)]

    def make(k: int, st=stype, reg=region) -> np.ndarray:
        # codes for the first k organisations (or k replacements: random rows of the same mix)
        rows = rng.integers(0, n, k) if k != n else np.arange(n)
        prefix = np.array([USCC_PREFIX[t] for t in st[rows]], dtype="S2").view(np.uint8).reshape(-1, 2)
        regm = np.array(reg[rows].tolist(), dtype="S6").view(np.uint8).reshape(-1, 6)
        org = _ORG_CHARS[rng.integers(0, 10, (k, 8))]
        letters = rng.random((k, 8)) < 0.08
        org[letters] = _ORG_CHARS[rng.integers(10, 31, letters.sum())]
        return complete_uscc(np.concatenate([prefix, regm, org], axis=1)).astype(object)

    ids = _unique_codes(make, n)
    rep = rng.integers(0, len(persons), n)
    r = prof.org_person_correlation
    shift = np.array([prof.industries[c].shift if c else 0.0 for c in industry])
    z0 = r * persons.z0[rep] + np.sqrt(1 - r * r) * rng.standard_normal(n) + shift
    new = rng.random(n) < prof.new_entrant_share
    registered = np.where(new, e - rng.integers(10, 365, n), e - rng.integers(365, 25 * 365, n))
    word = np.char.add(
        np.array(_WORDS)[rng.integers(0, len(_WORDS), n)], np.array(_WORDS)[rng.integers(0, len(_WORDS), n)]
    )
    suffix = np.array([_SUFFIX[c or None][i % len(_SUFFIX[c or None])] for i, c in enumerate(industry)])
    district = np.array([prof.regions[x] for x in region])
    names = np.char.add(np.char.add(np.char.add("金华市", district), word), suffix)
    controller = np.where(
        rng.random(n) < 0.3, persons.ids[rng.integers(0, len(persons), n)], np.array(None, dtype=object)
    )
    pop = Population(
        ids=ids,
        subject_type=stype,
        z0=z0,
        drift=rng.normal(0, prof.drift_sd, n),
        registered=registered,
        industry=industry,
        is_person=False,
        extra={"name": names, "region": region, "gbt": gbt, "rep": persons.ids[rep], "controller": controller},
    )
    pop.activity = _activity(rng, prof.activity.org_shape if prof.activity else None, n)
    if prof.activity and prof.activity.positive == "own":
        pop.engagement = _activity(rng, prof.activity.org_shape, n)
    return pop


# --------------------------------------------------------------------------------------------
class _Ids:
    """Global counters: record ids and document serials are unique across chunks."""

    def __init__(self, seed: int):
        self.next = 1
        self.tag = f"{seed % 10000:04d}"

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return out


def _agency(code: str, pop: Population, idx: np.ndarray, prof: SampleProfile, rng) -> np.ndarray:
    n = len(idx)
    if code.startswith("JUD_"):
        return np.array(COURTS, dtype=object)[rng.integers(0, len(COURTS), n)]
    if code in FIXED_AGENCY and code not in ("REG_ESTABLISH", "REG_CHANGE"):
        return np.full(n, FIXED_AGENCY[code], dtype=object)
    if pop.is_person:
        if code in ("ADM_LICENCE",):
            return np.full(n, "金华市市场监督管理局", dtype=object)
        return np.array(PERSON_AGENCIES, dtype=object)[rng.integers(0, len(PERSON_AGENCIES), n)]
    ind = pop.industry[idx]
    out = np.array([prof.industries[c].agency if c else "金华市人民政府" for c in ind], dtype=object)
    if code in ("REG_ESTABLISH", "REG_CHANGE"):
        st = pop.subject_type[idx]
        out = np.where(
            st == "social_organisation",
            "金华市民政局",
            np.where(
                np.isin(st, ["public_institution", "government_body"]),
                "中共金华市委机构编制委员会办公室",
                "金华市市场监督管理局",
            ),
        ).astype(object)
    return out


def _doc_numbers(agency: np.ndarray, year: np.ndarray, serial: np.ndarray, court: bool) -> pa.Array:
    if court:
        prefix = pa.array(np.full(len(agency), "("), type=pa.string())
        return pc.binary_join_element_wise(
            prefix,
            pa.array(year.astype(str)),
            pa.array(np.full(len(agency), ")浙07执")),
            pa.array(serial.astype(str)),
            pa.array(np.full(len(agency), "号")),
            "",
        )
    pre = pa.array([DOC_PREFIX.get(a, "金信") for a in agency], type=pa.string())
    return pc.binary_join_element_wise(
        pre,
        pa.array(np.full(len(agency), "〔")),
        pa.array(year.astype(str)),
        pa.array(np.full(len(agency), "〕")),
        pa.array(serial.astype(str)),
        pa.array(np.full(len(agency), "号")),
        "",
    )


class _Generator:
    def __init__(self, prof: SampleProfile, catalog: Catalog, rng: np.random.Generator, seed: int):
        from scoring.features.training import load_outcome

        self.prof, self.cat, self.rng = prof, catalog, rng
        self.outcome = load_outcome()
        self.ids = _Ids(seed)
        self.E = _days(prof.export_date)
        self.T = _days(add_months(prof.export_date, -self.outcome.horizon_months))
        self.start = self.E - int(prof.history_years * 365.25)
        self.n_buckets = prof.history_years
        self.truth_cuts: tuple[float, ...] = GRADE_CUTS  # true grade (truth/organisations.parquet)
        self.record_cuts: tuple[float, ...] = GRADE_CUTS  # recorded grade (z plus the assessor's noise)

    def set_grade_shares(self, orgs: Population) -> None:
        """Cuts so that the graded organisations' true grades follow ``profile.grade_shares``.

        Computed once on the whole population (its z at the cut-off), before records are made; the
        recorded grades get cuts widened for the assessor's noise, so they follow the shares too.
        """
        shares = self.prof.grade_shares
        graded = orgs.industry != ""
        if shares is None or not graded.any():
            return
        z = self.z_at(orgs, np.flatnonzero(graded), np.full(int(graded.sum()), self.T))
        self.truth_cuts = _share_cuts(z, shares)
        m, s = float(z.mean()), float(z.std()) or 1.0
        widen = np.sqrt(s * s + RECORD_GRADE_NOISE**2) / s
        self.record_cuts = tuple(m + (c - m) * widen for c in self.truth_cuts)

    # the event-year buckets end at the export date: bucket k covers (E-(k+1)y, E-ky]
    def bucket(self, k: int) -> tuple[int, int]:
        return self.E - int((k + 1) * 365.25), self.E - int(k * 365.25)

    def z_at(self, pop: Population, idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        return pop.z0[idx] - pop.drift[idx] * (self.E - day) / 365.25

    def _rate(self, code: str, pop: Population) -> np.ndarray:
        p = self.prof.processes[code]
        base = p.person if pop.is_person else p.org
        rate = np.full(len(pop), base)
        if not pop.is_person:
            mult = {c: ip.multipliers.get(code, 1.0) for c, ip in self.prof.industries.items()}
            rate = rate * np.array([mult.get(c, 1.0) for c in pop.industry])
        allowed = {t.value for t in self.cat[code].subject_types}
        rate[~np.isin(pop.subject_type, list(allowed))] = 0.0
        own = pop.engagement is not None and self.cat[code].polarity is Polarity.positive
        scale = pop.engagement if own else pop.activity
        if scale is not None:
            rate = rate * scale
        return rate

    def _sign(self, code: str) -> float:
        pol = self.cat[code].polarity
        return -1.0 if pol is Polarity.negative else 1.0

    def events(self, code: str, pop: Population) -> tuple[np.ndarray, np.ndarray]:
        """Subject indices and event days of one Poisson process over all year buckets."""
        p = self.prof.processes[code]
        rate = self._rate(code, pop)
        live = np.flatnonzero(rate > 0)
        if len(live) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        subj, days = [], []
        reg = pop.registered[live]
        for k in range(self.n_buckets):
            lo, hi = self.bucket(k)
            eff_lo = np.maximum(lo, reg)
            expo = np.clip(hi - eff_lo, 0, None) / 365.25
            mid = (eff_lo + hi) // 2
            z = self.z_at(pop, live, mid)
            lam = rate[live] * expo * np.exp(self._sign(code) * p.z_effect * z)
            cnt = self.rng.poisson(lam)
            if cnt.sum() == 0:
                continue
            who = np.repeat(np.arange(len(live)), cnt)
            span = np.maximum(hi - eff_lo[who], 1)
            d = eff_lo[who] + 1 + (self.rng.random(len(who)) * span).astype(np.int64)
            subj.append(live[who])
            days.append(np.minimum(d, hi))
        if not subj:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(subj), np.concatenate(days)

    def p_outcome(self, pop: Population) -> np.ndarray:
        """True probability of an outcome event within the horizon after the cut-off."""
        lam = np.zeros(len(pop))
        ot = self.outcome
        frac = (self.E - self.T) / 365.25
        mid = np.full(len(pop), (self.T + self.E) // 2)
        for code in ot.serious_of + ot.any_of:
            if code not in self.prof.processes:
                continue
            p = self.prof.processes[code]
            rate = self._rate(code, pop)
            z = self.z_at(pop, np.arange(len(pop)), mid)
            active = pop.registered <= self.T
            lam_c = rate * frac * np.exp(self._sign(code) * p.z_effect * z) * active
            if code in ot.serious_of:
                lam_c = lam_c * self._p_serious(code, z)
            lam += lam_c
        return 1 - np.exp(-lam)

    def _p_serious(self, code: str, z: np.ndarray) -> np.ndarray:
        sev = [s.value for s in self.cat[code].severities]
        if sev == ["serious"]:
            return np.ones(len(z))
        if "serious" not in sev:
            return np.zeros(len(z))
        return np.clip(self.prof.processes[code].serious * np.exp(-0.8 * z), 0, 0.9)

    # -- one chunk of subjects -> one table of records -------------------------------------
    def records(self, pop: Population) -> pa.Table:
        cols: list[dict] = []
        for code in self.prof.processes:
            if code in ("EVAL_TAX_GRADE", "EVAL_INDUSTRY_GRADE"):
                continue
            idx, day = self.events(code, pop)
            if len(idx):
                cols.append(self._fill(code, pop, idx, day))
        if not pop.is_person:
            cols += self._registrations(pop)
            cols += self._grades(pop)
        made = [c for c in cols if c["record_type"][0] == "COM_MADE"] if cols else []
        for c in made:
            cols.append(self._followups(pop, c))
        cols = [c for c in cols if len(c["record_type"])]
        if not cols:
            return _empty_records()
        out = {k: np.concatenate([c[k] for c in cols]) for k in cols[0] if k not in ("document_no",)}
        doc = pa.concat_arrays([c["document_no"] for c in cols])
        return _to_table(out, doc)

    def _fill(self, code: str, pop: Population, idx: np.ndarray, day: np.ndarray) -> dict:
        rt, rng, n = self.cat[code], self.rng, len(idx)
        p = self.prof.processes.get(code, Process())
        z = self.z_at(pop, idx, day)
        rid = self.ids.take(n)
        sev = np.full(n, None, dtype=object)
        names = [s.value for s in rt.severities]
        if names:
            ps = self._p_serious(code, z)
            u = rng.random(n)
            pm = p.minor if "minor" in names else 0.0
            sev[:] = "general" if "general" in names else names[0]
            if "minor" in names:
                sev[u < pm] = "minor"
            if "serious" in names:
                sev[u > 1 - ps] = "serious"
        amount = np.full(n, np.nan)
        if p.amount is not None:
            amount = rng.lognormal(p.amount[0], p.amount[1], n)
            amount = amount * np.where(sev == "serious", 5.0, np.where(sev == "minor", 0.2, 1.0))
            amount = np.round(amount, 1 if code == "VOL_SERVICE_HOURS" else 0)
        agency = _agency(code, pop, idx, self.prof, rng)
        year = (pd.to_datetime(day, unit="D").year).to_numpy()
        doc = (
            _doc_numbers(agency, year, rid, code.startswith("JUD_"))
            if rt.requires_document
            else pa.nulls(n, pa.string())
        )
        none = np.full(n, -1, dtype=np.int64)
        rec = {
            "record_id": rid,
            "subject_id": pop.ids[idx],
            "record_type": np.full(n, code, dtype=object),
            "event_date": day,
            "agency": agency,
            "severity": sev,
            "amount": amount,
            "grade": np.full(n, None, dtype=object),
            "related": np.full(n, -1, dtype=np.int64),
            "repaired_on": none.copy(),
            "objection_raised_on": none.copy(),
            "objection_resolved_on": none.copy(),
            "objection_outcome": np.full(n, None, dtype=object),
            "revoked_on": none.copy(),
            "list_entry_on": none.copy(),
            "list_exit_on": none.copy(),
            "document_no": doc,
        }
        if rt.polarity is Polarity.negative:
            self._statuses(code, rec, z, day)
        return rec

    def _statuses(self, code: str, rec: dict, z: np.ndarray, day: np.ndarray) -> None:
        rt, rng, n, E = self.cat[code], self.rng, len(day), self.E
        if rt.list_type:
            rec["list_entry_on"] = day.copy()
            if code in self.prof.list_exits:
                le = self.prof.list_exits[code]
                p_exit, lo, hi = le.p, le.min_days, le.max_days
            elif code == "JUD_DISHONEST_DEBTOR":
                p_exit, lo, hi = 0.6, 30, 700
            elif code.startswith("ABN_"):
                p_exit, lo, hi = 0.8, 20, 400
            else:
                p_exit, lo, hi = 0.3, 365, 1100
            leave = day + rng.integers(lo, hi, n)
            ok = (rng.random(n) < p_exit * _sigmoid(0.5 + z)) & (leave <= E)
            rec["list_exit_on"] = np.where(ok, leave, -1)
            return
        if rt.repairable:
            sev = rec["severity"]
            wait = np.where((sev == "serious") | (code == "ADM_PENALTY_SAMR"), 366, 92)
            when = day + wait + rng.integers(0, 365, n)
            ok = (rng.random(n) < 0.6 * _sigmoid(0.3 + z)) & (when <= E) & (sev != "minor")
            rec["repaired_on"] = np.where(ok, when, -1)
        raised = day + rng.integers(1, 60, n)
        disputed = (rng.random(n) < self.prof.objection_rate) & (raised <= E)
        resolved = raised + rng.integers(1, 10, n)
        decided = disputed & (resolved <= E)
        rec["objection_raised_on"] = np.where(disputed, raised, -1)
        rec["objection_resolved_on"] = np.where(decided, resolved, -1)
        upheld = rng.random(n) < self.prof.objection_upheld
        rec["objection_outcome"] = np.where(
            decided, np.where(upheld, "upheld", "rejected"), np.array(None, dtype=object)
        ).astype(object)
        revoked = day + rng.integers(10, 200, n)
        rv = (rng.random(n) < self.prof.revocation_rate) & (revoked <= E) & ~disputed
        rec["revoked_on"] = np.where(rv, revoked, -1)

    def _registrations(self, pop: Population) -> list[dict]:
        idx = np.arange(len(pop))
        rec = self._fill("REG_ESTABLISH", pop, idx, pop.registered.copy()) if "REG_ESTABLISH" in self.cat else None
        return [rec] if rec else []

    def _grades(self, pop: Population) -> list[dict]:
        out = []
        first_year = dt.date.fromordinal(EPOCH.toordinal() + self.start).year + 1
        for code, month, day_of_month in (("EVAL_TAX_GRADE", 4, 20), ("EVAL_INDUSTRY_GRADE", 12, 15)):
            if code not in self.prof.processes:
                continue
            allowed = np.isin(pop.subject_type, [t.value for t in self.cat[code].subject_types])
            if code == "EVAL_INDUSTRY_GRADE":
                allowed &= pop.industry != ""
            for year in range(first_year, self.prof.export_date.year + 1):
                d = _days(dt.date(year, month, day_of_month))
                if d > self.E:
                    continue
                idx = np.flatnonzero(allowed & (pop.registered < d - 180))
                if len(idx) == 0:
                    continue
                rec = self._fill(code, pop, idx, np.full(len(idx), d))
                z = self.z_at(pop, idx, rec["event_date"]) + self.rng.normal(0, RECORD_GRADE_NOISE, len(idx))
                if code == "EVAL_TAX_GRADE":
                    g = np.select([z > 0.9, z > -0.4, z > -1.4], ["A", "B", "C"], "D").astype(object)
                    g[pop.registered[idx] > d - 365] = "M"
                else:
                    g = np.array(GRADES, dtype=object)[_grade_of(z, self.record_cuts)]
                rec["grade"] = g
                out.append(rec)
        return out

    def _followups(self, pop: Population, made: dict) -> dict:
        rng, n = self.rng, len(made["record_id"])
        sid = made["subject_id"]
        pos = {s: i for i, s in enumerate(pop.ids)} if n else {}
        idx = np.array([pos[s] for s in sid], dtype=np.int64)
        when = made["event_date"] + rng.integers(30, 400, n)
        has = (rng.random(n) < 0.85) & (when <= self.E)
        idx, when, parent = idx[has], when[has], made["record_id"][has]
        z = self.z_at(pop, idx, when)
        kept = rng.random(len(idx)) < _sigmoid(1.5 + 1.5 * z)
        parts = []
        for code, m in (("COM_KEPT", kept), ("COM_BROKEN", ~kept)):
            if m.sum():
                rec = self._fill(code, pop, idx[m], when[m])
                rec["related"] = parent[m]
                parts.append(rec)
        if not parts:
            return {k: v[:0] for k, v in made.items()}
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "document_no"}
        out["document_no"] = pa.concat_arrays([p["document_no"] for p in parts])
        return out


RECORD_ORDER = [
    "record_id",
    "subject_id",
    "record_type",
    "event_date",
    "document_no",
    "agency",
    "severity",
    "amount",
    "grade",
    "related_record_id",
    "repaired_on",
    "objection_raised_on",
    "objection_resolved_on",
    "objection_outcome",
    "revoked_on",
    "list_entry_on",
    "list_exit_on",
]


def _rid(ids: np.ndarray, tag: str) -> pa.Array:
    mask = ids < 0
    s = pc.utf8_lpad(pa.array(np.where(mask, 0, ids)).cast(pa.string()), 10, "0")
    out = pc.binary_join_element_wise(pa.array(np.full(len(ids), "R" + tag)), s, "")
    return pc.if_else(pa.array(mask), pa.nulls(len(ids), pa.string()), out)


def _to_table(rec: dict, doc: pa.Array, tag: str = "") -> pa.Table:
    n = len(rec["record_id"])
    amount = rec["amount"]
    amt = pa.array(amount, mask=np.isnan(amount)).cast(pa.string())
    data = {
        "record_id": rec["record_id"],
        "subject_id": pa.array(rec["subject_id"], type=pa.string()),
        "record_type": pa.array(rec["record_type"], type=pa.string()),
        "event_date": _date_strings(rec["event_date"]),
        "document_no": doc,
        "agency": pa.array(rec["agency"], type=pa.string()),
        "severity": pa.array(rec["severity"], type=pa.string()),
        "amount": amt,
        "grade": pa.array(rec["grade"], type=pa.string()),
        "related_record_id": rec["related"],
        "objection_outcome": pa.array(rec["objection_outcome"], type=pa.string()),
    }
    for k in (
        "repaired_on",
        "objection_raised_on",
        "objection_resolved_on",
        "revoked_on",
        "list_entry_on",
        "list_exit_on",
    ):
        data[k] = _date_strings(rec[k])
    assert all(len(v) == n for v in data.values())
    return pa.table({k: data[k] for k in RECORD_ORDER})


def _empty_records() -> pa.Table:
    return pa.table(
        {
            k: pa.array([], type=pa.int64() if k in ("record_id", "related_record_id") else pa.string())
            for k in RECORD_ORDER
        }
    )


def _finish_ids(tbl: pa.Table, tag: str) -> pa.Table:
    """Turn numeric record ids into their string form."""
    rid = _rid(tbl.column("record_id").to_numpy(), tag)
    rel = tbl.column("related_record_id").to_numpy()
    tbl = tbl.set_column(0, "record_id", rid)
    return tbl.set_column(tbl.schema.get_field_index("related_record_id"), "related_record_id", _rid(rel, tag))


def _subjects_table(persons: Population, orgs: Population) -> pa.Table:
    def part(pop: Population) -> dict:
        n = len(pop)
        if pop.is_person:
            return {
                "subject_id": pop.ids,
                "subject_type": pop.subject_type,
                "name": pop.extra["name"],
                "industry_code": np.full(n, None, dtype=object),
                "region_code": pop.extra["region"],
                "registered_on": np.full(n, None, dtype=object),
                "legal_rep_id": np.full(n, None, dtype=object),
                "actual_controller_id": np.full(n, None, dtype=object),
                "positive_opt_out": np.where(pop.extra["opt_out"], "true", "false"),
            }
        return {
            "subject_id": pop.ids,
            "subject_type": pop.subject_type,
            "name": pop.extra["name"],
            "industry_code": pop.extra["gbt"],
            "region_code": pop.extra["region"],
            "registered_on": _date_strings(pop.registered).to_numpy(zero_copy_only=False),
            "legal_rep_id": pop.extra["rep"],
            "actual_controller_id": pop.extra["controller"],
            "positive_opt_out": np.full(n, None, dtype=object),
        }

    a, b = part(persons), part(orgs)
    return pa.table(
        {
            k: pa.array(
                np.concatenate([np.asarray(a[k], dtype=object), np.asarray(b[k], dtype=object)]).tolist(),
                type=pa.string(),
            )
            for k in a
        }
    )


@dataclass
class SampleResult:
    out: Path
    persons: int
    organisations: int
    records: int
    files: list[str]
    planted: int
    seconds: float

    def to_dict(self) -> dict:
        return {
            "out": str(self.out),
            "persons": self.persons,
            "organisations": self.organisations,
            "records": self.records,
            "files": self.files,
            "planted_errors": self.planted,
            "seconds": round(self.seconds, 2),
        }


def generate_sample(
    out: str | Path,
    *,
    seed: int = 0,
    persons: int = 20_000,
    organisations: int = 5_000,
    mixed_formats: bool = False,
    plant_errors: bool = False,
    chunk_subjects: int = 50_000,
    profile: str | Path | SampleProfile | None = None,
    catalog: Catalog | None = None,
    progress: Callable[[str], None] | None = None,
) -> SampleResult:
    """Write a synthetic archive to ``out``: subjects, records, manifest.json and truth/.

    ``mixed_formats``: court records go to a CSV with Chinese headers and volunteer hours to an
    Excel file, as different source systems would deliver them (small archives only).
    ``plant_errors``: add bad rows of every kind, listed in truth/planted_errors.csv.
    ``profile``: a profile name (``"realistic"``, ``"stress"``: ``configs/sample/<name>.yaml``), a path
    to a profile file, or a :class:`SampleProfile`; default :data:`DEFAULT_PROFILE` (``"realistic"``).
    """
    t0 = time.perf_counter()
    say = progress or (lambda m: None)
    prof = resolve_profile(profile)
    cat = catalog or load_catalog()
    industries = load_industries()
    rng = np.random.default_rng(seed)
    outp = Path(out)
    (outp / "truth").mkdir(parents=True, exist_ok=True)
    gen = _Generator(prof, cat, rng, seed)

    say(f"making {persons:,} persons and {organisations:,} organisations")
    pers = _make_persons(rng, persons, prof)
    orgs = _make_orgs(rng, organisations, prof, pers, industries)
    gen.set_grade_shares(orgs)
    subjects = _subjects_table(pers, orgs)

    keep_in_memory = mixed_formats or plant_errors
    writer = None
    parts: list[pa.Table] = []
    n_records = 0
    tag = gen.ids.tag
    truth_parts: dict[str, list[Any]] = {"persons": [], "organisations": []}
    for pop, name in ((pers, "persons"), (orgs, "organisations")):
        for lo in range(0, len(pop), chunk_subjects):
            sl = slice(lo, lo + chunk_subjects)
            chunk = Population(
                pop.ids[sl],
                pop.subject_type[sl],
                pop.z0[sl],
                pop.drift[sl],
                pop.registered[sl],
                pop.industry[sl],
                pop.is_person,
                {},
                None if pop.activity is None else pop.activity[sl],
                None if pop.engagement is None else pop.engagement[sl],
            )
            tbl = _finish_ids(gen.records(chunk), tag)
            n_records += tbl.num_rows
            say(f"{name} {lo + len(chunk):,}/{len(pop):,}: {n_records:,} records")
            truth_parts[name].append(_truth(gen, chunk, tbl))
            if keep_in_memory:
                parts.append(tbl)
            else:
                if writer is None:
                    writer = pq.ParquetWriter(outp / "records.parquet", tbl.schema, compression="zstd")
                writer.write_table(tbl)
    if writer is not None:
        writer.close()
    files = ["subjects.parquet"]
    truth = {k: pd.concat(v, ignore_index=True) for k, v in truth_parts.items() if v}
    planted = 0
    if keep_in_memory:
        records = pa.concat_tables(parts) if parts else _finish_ids(_empty_records(), tag)
        sub_df = subjects.to_pandas()
        rec_df = records.to_pandas()
        extra_files: dict[str, pd.DataFrame] = {}
        if mixed_formats:
            court = rec_df["record_type"].str.startswith("JUD_")
            vol = rec_df["record_type"] == "VOL_SERVICE_HOURS"
            extra_files["records_court.csv"] = rec_df[court].reset_index(drop=True)
            extra_files["records_volunteer.xlsx"] = rec_df[vol].reset_index(drop=True)
            rec_df = rec_df[~court & ~vol].reset_index(drop=True)
        if plant_errors:
            from scoring.sample.planting import plant

            sub_df, rec_df, extra_files, planted_df = plant(sub_df, rec_df, extra_files, prof, orgs, rng)
            planted_df.to_csv(outp / "truth" / "planted_errors.csv", index=False)
            planted = len(planted_df)
        pq.write_table(pa.Table.from_pandas(rec_df, preserve_index=False), outp / "records.parquet", compression="zstd")
        for fname, df in extra_files.items():
            _write_extra(outp / fname, df)
            files.append(fname)
        subjects = pa.Table.from_pandas(sub_df, preserve_index=False)
        n_records = len(rec_df) + sum(len(d) for d in extra_files.values())
    pq.write_table(subjects, outp / "subjects.parquet", compression="zstd")
    files.insert(1, "records.parquet")
    for name, df in truth.items():
        df.to_parquet(outp / "truth" / f"{name}.parquet", index=False)
    manifest: dict[str, Any] = {
        "generator": "xinyi synthetic archive",
        **({"profile": prof.name} if prof.name and prof.name != LEGACY_PROFILE else {}),
        "seed": seed,
        "export_date": prof.export_date.isoformat(),
        "history_start": (EPOCH + dt.timedelta(days=gen.start)).isoformat(),
        "cutoff": (EPOCH + dt.timedelta(days=gen.T)).isoformat(),
        "horizon_months": gen.outcome.horizon_months,
        "persons": persons,
        "organisations": organisations,
        "records": n_records,
        "files": files,
        "planted_errors": planted,
        "catalog_version": cat.version,
        "truth": ["truth/persons.parquet", "truth/organisations.parquet"]
        + (["truth/planted_errors.csv"] if planted else []),
    }
    (outp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return SampleResult(outp, persons, organisations, n_records, files, planted, time.perf_counter() - t0)


def _truth(gen: _Generator, pop: Population, tbl: pa.Table) -> pd.DataFrame:
    """Latent truth of one chunk: z at the cut-off, true grade, outcome probability and outcome."""
    ot = gen.outcome
    cutoff = (EPOCH + dt.timedelta(days=gen.T)).isoformat()
    rt = tbl.column("record_type")
    after = pc.greater(tbl.column("event_date"), pa.scalar(cutoff))
    serious = pc.and_(pc.is_in(rt, pa.array(ot.serious_of)), pc.equal(tbl.column("severity"), "serious"))
    listed = pc.is_in(rt, pa.array(ot.any_of))
    hit = pc.and_(after, pc.or_(pc.fill_null(serious, False), listed))
    who = set(pc.filter(tbl.column("subject_id"), hit).to_pylist())
    z_t = pop.z0 - pop.drift * (gen.E - gen.T) / 365.25
    df = pd.DataFrame(
        {
            "subject_id": pop.ids,
            "subject_type": pop.subject_type,
            "latent_z": z_t,
            "p_outcome": gen.p_outcome(pop),
            **({} if pop.activity is None else {"activity": pop.activity}),
            **({} if pop.engagement is None else {"engagement": pop.engagement}),
            "outcome": np.array([s in who for s in pop.ids], dtype=np.int8),
            "cutoff": cutoff,
            "horizon_months": gen.outcome.horizon_months,
        }
    )
    if not pop.is_person:
        df.insert(2, "industry", pop.industry)
        df["true_grade"] = np.array(GRADES, dtype=object)[_grade_of(z_t, gen.truth_cuts)]
        df.loc[df["industry"] == "", "true_grade"] = None
    return df


def _write_extra(path: Path, df: pd.DataFrame) -> None:
    if path.suffix == ".csv":
        from scoring.archive.schema import RECORD_COLUMNS

        zh = {c.name: c.zh for c in RECORD_COLUMNS}
        out = df.copy()
        for c in [c.name for c in RECORD_COLUMNS if c.dtype == "date"]:
            out[c] = out[c].str.replace("-", "/", regex=False)
        out.rename(columns=zh).to_csv(path, index=False, encoding="utf-8")
    else:
        df.to_excel(path, index=False, engine="xlsxwriter")
