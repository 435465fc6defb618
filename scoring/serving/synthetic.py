"""A plausible serving database for tests and the load bench (合成服务库): published grade lists of
every configured industry for two periods, with grades at the configured target shares, vetoes
(直接定级), new entrants, reasons with their records, supervision measures, registered
organisations in the districts of ``configs/regions.yaml`` with addresses and masked legal
representatives, and, when ``persons`` > 0, person score snapshots (信义金) under keyed pseudonyms.

Nothing here comes from an archive: it is random, seeded (same arguments, same database), and written
with bulk inserts (executemany in batches), so 100,000 organisations take about a minute on SQLite
and PostgreSQL. Every code is well-formed (valid USCC check characters, 6-digit region codes); no ID
number is generated at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scoring.core.errors import ConfigError
from scoring.core.identifiers import complete_uscc
from scoring.features.industry import GRADES, load_industries
from scoring.serving import schema as t
from scoring.serving.regions import jurisdiction, load_regions

BATCH = 5000
MODEL_PREFIX = "xinyi-grades-"

_ORG_CHARS = np.frombuffer(b"0123456789ABCDEFGHJKLMNPQRTUWXY", dtype=np.uint8)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_WORDS = "恒信达华鑫源盛泰宏丰安康瑞祥永兴隆昌荣福新天明正德凯通博创金阳光远东海顺和嘉立诚佳"
_STREETS = (
    "人民",
    "解放",
    "八一",
    "环城",
    "宾虹",
    "双龙",
    "李渔",
    "婺江",
    "丹溪",
    "回溪",
    "稠州",
    "江滨",
    "工业",
    "迎宾",
)
_NOUN = {
    "construction": "建筑工程有限公司",
    "elderly_care": "养老服务中心",
    "travel_agency": "旅行社有限公司",
    "medical": "医疗门诊部",
    "food": "食品有限公司",
    "property_services": "物业服务有限公司",
}
#: shap reasons of the synthetic lists: feature, label, record type (None: no record), risk-raising
_FEATURES = (
    ("penalty_count_3y", "近3年行政处罚次数", "ADM_PENALTY", True),
    ("inspection_fail_count_3y", "近3年监督检查不合格次数", "ADM_INSPECTION_FAIL", True),
    ("enforcement_count_3y", "近3年被执行案件数", "JUD_ENFORCEMENT", True),
    ("contract_breach_count_3y", "近3年合同违约次数", "CON_BREACH", True),
    ("safety_accident_count_3y", "近3年生产安全事故次数", "ADM_SAFETY_ACCIDENT", True),
    ("inspection_pass_count_1y", "近1年监督检查合格次数", "ADM_INSPECTION_PASS", False),
    ("honour_count_5y", "近5年表彰奖励次数", "HON_MUNICIPAL", False),
    ("commitment_kept_count_3y", "近3年信用承诺履约次数", "COM_KEPT", False),
)
_RECORD_ZH = {
    "ADM_PENALTY": "行政处罚",
    "ADM_INSPECTION_FAIL": "监督检查不合格",
    "JUD_ENFORCEMENT": "被执行人信息",
    "CON_BREACH": "合同违约",
    "ADM_SAFETY_ACCIDENT": "生产安全事故",
    "ADM_INSPECTION_PASS": "监督检查合格",
    "HON_MUNICIPAL": "市级表彰",
    "COM_KEPT": "信用承诺履约",
    "JUD_DISHONEST_DEBTOR": "失信被执行人",
    "SDL_SERIOUS_DISHONEST": "严重失信主体名单",
    "SDL_TAX_MAJOR_CASE": "重大税收违法失信主体",
    "SDL_WAGE_ARREARS": "拖欠农民工工资失信联合惩戒对象名单",
}
_VETO_RECORD = {
    "dishonest_debtor_active": "JUD_DISHONEST_DEBTOR",
    "serious_dishonesty_active": "SDL_SERIOUS_DISHONEST",
    "tax_major_case_active": "SDL_TAX_MAJOR_CASE",
    "wage_arrears_list_active": "SDL_WAGE_ARREARS",
    "safety_accident_serious_count_1y": "ADM_SAFETY_ACCIDENT",
}
_AGENCY = {"construction": "金华市住房和城乡建设局", "food": "金华市市场监督管理局"}
_VETO_SHARE = 0.012
_NEW_ENTRANT_SHARE = 0.06
_PERSON_ITEMS = (
    ("penalty_count_3y", "近3年行政处罚次数", "ADM_PENALTY"),
    ("enforcement_count_3y", "近3年被执行案件数", "JUD_ENFORCEMENT"),
    ("volunteer_hours_effective", "有效志愿服务时长", "VOL_SERVICE_HOURS"),
    ("righteous_act_count", "见义勇为次数", "ADM_RIGHTEOUS_ACT"),
)


def _batches(rows: Sequence[dict], size: int = BATCH) -> Iterable[Sequence[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _insert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict]) -> None:
    for chunk in _batches(rows):
        conn.execute(table.insert(), list(chunk))


def _usccs(rng: np.random.Generator, region: np.ndarray, prefix: np.ndarray) -> np.ndarray:
    """Unique valid 统一社会信用代码 (GB 32100 check characters) in the given regions."""
    n = len(region)
    out = np.empty(n, dtype=object)
    todo = np.arange(n)
    seen: set[str] = set()
    while len(todo):
        k = len(todo)
        pre = np.array(prefix[todo].tolist(), dtype="S2").view(np.uint8).reshape(-1, 2)
        reg = np.array(region[todo].tolist(), dtype="S6").view(np.uint8).reshape(-1, 6)
        org = _ORG_CHARS[rng.integers(0, len(_ORG_CHARS), (k, 8))]
        codes = complete_uscc(np.concatenate([pre, reg, org], axis=1))
        again = []
        for i, c in zip(todo, codes):
            if c in seen:
                again.append(i)
            else:
                seen.add(c)
                out[i] = c
        todo = np.array(again, dtype=int)
    return out


def _grades_at_shares(z: np.ndarray, targets: dict[str, float]) -> np.ndarray:
    """Grade indices (0 = 优秀) cutting ``z`` (higher = riskier) at the cumulative target shares."""
    shares = np.array([targets.get(g, 0.0) for g in GRADES], float)
    shares = shares / shares.sum() if shares.sum() > 0 else np.full(len(GRADES), 1 / len(GRADES))
    ranks = np.argsort(np.argsort(z, kind="stable"), kind="stable") / max(len(z), 1)
    return np.searchsorted(np.cumsum(shares)[:-1], ranks, side="right")


def _probabilities(rng: np.random.Generator, g: np.ndarray) -> np.ndarray:
    k = np.arange(len(GRADES))
    logits = -2.2 * np.abs(k[None, :] - g[:, None]) + rng.normal(0, 0.5, (len(g), len(GRADES)))
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _change(prev: str | None, cur: str) -> str:
    if prev is None:
        return "新增"
    d = GRADES.index(prev) - GRADES.index(cur)
    return "持平" if d == 0 else (f"上升{d}级" if d > 0 else f"下降{-d}级")


def _doc_no(rng_int: int, year: int, code: str) -> str:
    return f"金{_RECORD_ZH.get(code, '记')[:2]}字〔{year}〕{rng_int % 9000 + 100}号"


def fill(
    engine: Engine,
    *,
    organisations: int = 1000,
    industries: Sequence[str] | None = None,
    periods: Sequence[str] = ("2025-06-30", "2026-06-30"),
    seed: int = 0,
    persons: int = 0,
) -> dict[str, Any]:
    """Fill the (migrated) serving database of ``engine`` with synthetic published outputs: for every
    industry (default: the configured ones) and period, a grade-list publication of its
    organisations (``organisations`` in all, spread over the industries), and with ``persons`` > 0 a
    score snapshot per period. Returns the counts and the publication ids
    (``{"organisations", "grade_entries", "score_entries", "publications": [...], "seconds"}``)."""
    started = dt.datetime.now()
    inds = load_industries()
    codes = list(industries) if industries else sorted(inds)
    unknown = [c for c in codes if c not in inds]
    if unknown:
        raise ConfigError(f"unknown industries {unknown}; configured: {', '.join(sorted(inds))}")
    if organisations < 0 or persons < 0:
        raise ConfigError("organisations and persons must be 0 or more")
    days = sorted(dt.date.fromisoformat(str(p)) for p in periods)
    rng = np.random.default_rng(seed)
    regions = load_regions()
    city = jurisdiction()
    region_codes = np.array(sorted(regions), dtype=object)
    n = organisations
    ind_of = rng.integers(0, len(codes), n) if codes else np.zeros(n, int)
    region = region_codes[rng.integers(0, len(region_codes), n)]
    is_individual = rng.random(n) < 0.12
    prefix = np.where(is_individual, "92", "91").astype(object)
    ids = _usccs(rng, region, prefix)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    latest = days[-1]
    new_entrant = rng.random(n) < _NEW_ENTRANT_SHARE
    age_days = np.where(new_entrant, rng.integers(10, 300, n), rng.integers(400, 9000, n))
    registered = [latest - dt.timedelta(days=int(a)) for a in age_days]
    sur = rng.integers(0, len(_SURNAMES), n)
    given = rng.integers(1, 3, n)
    w1, w2 = rng.integers(0, len(_WORDS), n), rng.integers(0, len(_WORDS), n)
    street, number = rng.integers(0, len(_STREETS), n), rng.integers(1, 999, n)
    org_rows = []
    for i in range(n):
        code = codes[ind_of[i]] if codes else ""
        dist = regions[region[i]]
        name_stem = f"{_WORDS[w1[i]]}{_WORDS[w2[i]]}{i % 997 if i >= 997 else ''}"
        noun = "个体工商户" if is_individual[i] else _NOUN.get(code, "有限公司")
        org_rows.append(
            {
                "subject_id": ids[i],
                "name": f"{city}{dist}{name_stem}{noun}",
                "subject_type": "individual_business" if is_individual[i] else "enterprise",
                "industry_code": code or None,
                "region_code": region[i],
                "district_zh": dist,
                "address": f"浙江省{city}{dist}{_STREETS[street[i]]}路{number[i]}号",
                "legal_rep_masked": _SURNAMES[sur[i]] + "*" * int(given[i]),
                "registered_on": registered[i],
                "updated_at": now,
            }
        )
    pubs: list[dict] = []
    entries: list[dict] = []
    z = rng.normal(0, 1, n)
    for k, code in enumerate(codes):
        ind = inds[code]
        members = np.flatnonzero(ind_of == k)
        if not len(members):
            continue
        targets = dict(ind.bands.targets) if getattr(ind.bands, "targets", None) else {}
        previous: dict[int, str] = {}
        prev_day: dt.date | None = None
        everyone = members
        for day in days:
            members = everyone[np.array([registered[m] <= day for m in everyone], bool)]
            if not len(members):
                continue
            zz = z[members] + rng.normal(0, 0.35, len(members))
            g = _grades_at_shares(zz, targets)
            model_g = g.copy()
            veto_code = np.full(len(members), "", dtype=object)
            vetoes = list(ind.vetoes)
            if vetoes:
                hit = rng.random(len(members)) < _VETO_SHARE
                pick = rng.integers(0, len(vetoes), len(members))
                for h in np.flatnonzero(hit):
                    v = vetoes[pick[h]]
                    worst = GRADES.index(v.grade or v.at_most or "差")
                    veto_code[h] = v.code
                    g[h] = max(g[h], worst) if v.at_most and not v.grade else worst
            ne = np.array([(day - registered[m]).days < 365 and (day - registered[m]).days >= 0 for m in members])
            g = np.where(ne & (veto_code == ""), GRADES.index("中等"), g)
            capped = np.zeros(len(members), bool)
            for j, m in enumerate(members):
                prev = previous.get(int(m))
                if prev is not None and GRADES.index(prev) - g[j] > ind.upgrade_limit and veto_code[j] == "":
                    g[j] = GRADES.index(prev) - ind.upgrade_limit
                    capped[j] = True
            probs = _probabilities(rng, model_g)
            risk = probs[:, 3] + probs[:, 4]
            score = 100.0 * (1.0 - probs @ np.arange(len(GRADES)) / (len(GRADES) - 1))
            n_reasons = rng.integers(2, 5, len(members))
            feat = rng.integers(0, len(_FEATURES), (len(members), 4))
            counts = rng.integers(1, 4, (len(members), 4))
            docs = rng.integers(0, 10**6, (len(members), 4))
            prefix_id = f"grade_list-{code}-{day.isoformat()}"
            digest = hashlib.sha256(f"{prefix_id}|{seed}|{n}".encode()).hexdigest()
            pub_id = f"{prefix_id}-{digest[:12]}"
            dist_n = np.bincount(g, minlength=len(GRADES))
            labels = {v.code: v.label_zh for v in vetoes}
            mig = {r: dict.fromkeys(GRADES, 0) for r in (*GRADES, "新增")}
            for j, m in enumerate(members):
                grade = GRADES[g[j]]
                worse = g[j] >= 3
                reasons: list[dict] = []
                if veto_code[j]:
                    v = next(v for v in vetoes if v.code == veto_code[j])
                    rt = _VETO_RECORD.get(v.feature, "ADM_PENALTY")
                    rec = {
                        "record_type": rt,
                        "label_zh": _RECORD_ZH.get(rt, rt),
                        "event_date": (day - dt.timedelta(days=int(docs[j, 0] % 300) + 5)).isoformat(),
                        "document_no": _doc_no(int(docs[j, 0]), day.year, rt),
                        "agency": _AGENCY.get(code, ind.regulator),
                    }
                    reasons.append(
                        {
                            "kind": "veto",
                            "code": v.code,
                            "feature": v.feature,
                            "label_zh": v.label_zh,
                            "text": f"直接定级：{v.label_zh}",
                            "effect": None,
                            "records": [rec],
                            "records_zh": [f"{rec['label_zh']} {rec['event_date']} {rec['document_no']}"],
                        }
                    )
                used: set[int] = set()
                for r in range(int(n_reasons[j])):
                    f = int(feat[j, r])
                    if f in used:
                        continue
                    used.add(f)
                    fname, label, rt, raising = _FEATURES[f]
                    c = int(counts[j, r]) if (raising == worse or not raising) else 0
                    effect = round((-1 if raising else 1) * (0.5 + (docs[j, r] % 500) / 100.0), 1)
                    recs = [
                        {
                            "record_type": rt,
                            "label_zh": _RECORD_ZH[rt],
                            "event_date": (day - dt.timedelta(days=int((docs[j, r] >> q) % 1000) + 1)).isoformat(),
                            "document_no": _doc_no(int(docs[j, r]) + q, day.year, rt),
                            "agency": _AGENCY.get(code, ind.regulator),
                        }
                        for q in range(min(c, 2))
                    ]
                    word = "高于" if raising else "多于"
                    text = f"{label}{c}次，{word}行业中位数0次，信用得分{'-' if effect < 0 else '+'}{abs(effect):.1f}分"
                    reasons.append(
                        {
                            "kind": "shap",
                            "feature": fname,
                            "label_zh": label,
                            "text": text,
                            "effect": effect,
                            "value": float(c),
                            "records": recs,
                            "records_zh": [f"{x['label_zh']} {x['event_date']} {x['document_no']}" for x in recs],
                        }
                    )
                prev = previous.get(int(m))
                sup = ind.supervision[grade]
                rules = "；".join(
                    ([f"直接定级：{labels[veto_code[j]]}"] if veto_code[j] else [])
                    + (["新设立主体，定为中等"] if ne[j] and not veto_code[j] else [])
                    + ([f"升级限制：较上期最多升{ind.upgrade_limit}级"] if capped[j] else [])
                )
                entries.append(
                    {
                        "publication_id": pub_id,
                        "subject_id": ids[m],
                        "industry_code": code,
                        "region_code": region[m],
                        "as_of": day,
                        "grade": grade,
                        "model_grade": GRADES[model_g[j]],
                        "previous_grade": prev,
                        "previous_as_of": prev_day,
                        "change": _change(prev, grade),
                        "veto": veto_code[j],
                        "veto_zh": labels.get(veto_code[j], ""),
                        "new_entrant": bool(ne[j]),
                        "upgrade_capped": bool(capped[j]),
                        "risk": round(float(risk[j]), 6),
                        "score": round(float(score[j]), 2),
                        "probabilities": {GRADES[q]: round(float(probs[j, q]), 6) for q in range(len(GRADES))},
                        "reasons": reasons[:5],
                        "reasons_zh": "\n".join(r["text"] for r in reasons[:3]),
                        "rules": rules,
                        "sampling_ratio": sup.sampling_ratio,
                        "frequency": sup.frequency,
                        "supervision_note": sup.note or None,
                    }
                )
                mig[prev or "新增"][grade] += 1
                previous[int(m)] = grade
            distribution = [
                {
                    "grade": gr,
                    "organisations": int(dist_n[q]),
                    "share": float(dist_n[q] / len(members)),
                    "target": targets.get(gr),
                    "sampling_ratio": ind.supervision[gr].sampling_ratio,
                }
                for q, gr in enumerate(GRADES)
            ]
            pubs.append(
                {
                    "publication_id": pub_id,
                    "kind": "grade_list",
                    "scope": code,
                    "as_of": day,
                    "model_name": f"{MODEL_PREFIX}{code}",
                    "model_version": "1",
                    "model_content_version": digest[12:24],
                    "run_id": digest[24:56],
                    "store_batch": f"synthetic-{seed}",
                    "store_fingerprint": digest[:16],
                    "config_bundle": None,
                    "content_hash": digest,
                    "n_rows": int(len(members)),
                    "published_at": now,
                    "pushed_at": now,
                    "notes": {
                        "公示编号": pub_id,
                        "行业": f"{ind.name_zh} ({code})",
                        "监管部门": ind.regulator,
                        "评价基准日": day.isoformat(),
                        "上期基准日": prev_day.isoformat() if prev_day else "",
                        "说明": "合成数据（测试与压测用），非真实评价结果",
                    },
                    "distribution": distribution,
                    "migration": mig,
                }
            )
            prev_day = day
    score_rows: list[dict] = []
    if persons:
        key = hashlib.sha256(f"synthetic-persons-{seed}".encode()).digest()
        import base64
        import hmac

        keys = [
            "S" + base64.b32encode(hmac.new(key, str(i).encode(), hashlib.sha256).digest()[:10]).decode().lower()
            for i in range(persons)
        ]
        base = rng.normal(720, 80, persons)
        for day in days:
            pid = f"score_snapshot-persons-{day.isoformat()}-{hashlib.sha256(f'{seed}|{persons}|{day}'.encode()).hexdigest()[:12]}"
            suspended = rng.random(persons) < 0.01
            pts = np.clip(base + rng.normal(0, 15, persons), 0, 1000).round().astype(int)
            it = rng.integers(0, len(_PERSON_ITEMS), (persons, 2))
            for i in range(persons):
                items = []
                for q in sorted(set(it[i].tolist())):
                    pf, label, rt = _PERSON_ITEMS[q]
                    items.append({"feature": pf, "label_zh": label, "points": int(pts[i] % 40) - 20, "records": []})
                score_rows.append(
                    {
                        "publication_id": pid,
                        "subject_key": keys[i],
                        "as_of": day,
                        "status": "suspended" if suspended[i] else "scored",
                        "points": None if suspended[i] else int(pts[i]),
                        "reason": "当前列入失信被执行人名单，暂停评分" if suspended[i] else None,
                        "suspended_until": None,
                        "items": [] if suspended[i] else items,
                    }
                )
            pubs.append(
                {
                    "publication_id": pid,
                    "kind": "score_snapshot",
                    "scope": "persons",
                    "as_of": day,
                    "model_name": "xinyi-points",
                    "model_version": "1",
                    "model_content_version": pid[-12:],
                    "run_id": hashlib.sha256(pid.encode()).hexdigest()[:32],
                    "store_batch": f"synthetic-{seed}",
                    "store_fingerprint": None,
                    "config_bundle": None,
                    "content_hash": hashlib.sha256(pid.encode()).hexdigest(),
                    "n_rows": persons,
                    "published_at": now,
                    "pushed_at": now,
                    "notes": {"公示编号": pid, "说明": "合成数据（测试与压测用），非真实评分"},
                    "distribution": None,
                    "migration": None,
                }
            )
    with engine.begin() as conn:
        _insert(conn, t.organisations, org_rows)
        _insert(conn, t.publications, pubs)
        _insert(conn, t.grade_entries, entries)
        _insert(conn, t.score_entries, score_rows)
    return {
        "organisations": len(org_rows),
        "grade_entries": len(entries),
        "score_entries": len(score_rows),
        "publications": [p["publication_id"] for p in pubs],
        "seconds": round((dt.datetime.now() - started).total_seconds(), 1),
    }
