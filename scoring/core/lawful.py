"""What may never enter a credit evaluation (合法合规边界), enforced when configs load.

Three lists, all fixed in code because they are law, not configuration:

* **Forbidden data** (征信业管理条例 Art. 14 and local rules): religion, genes, fingerprints,
  blood type, diseases and medical history, ethnicity, political belief, family origin, health,
  biometrics; and sex, age or region *read from an ID number*.
* **No legal basis** (信用泛化, 国办发〔2020〕49号): jaywalking, unpaid property fees, garbage
  sorting, petitions, ... are not public credit information and are not scorable.
* **Consent required** for persons: income, deposits, securities, insurance, real estate and tax
  amounts may be used only with the person's written consent.

:func:`screen` checks a piece of text (a code, a name, a column name) and returns what it hits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (term, language) -> reason. English terms match on word boundaries, Chinese as substrings.
FORBIDDEN: dict[str, str] = {
    "religion": "religious belief (征信业管理条例 Art. 14)",
    "religious": "religious belief (征信业管理条例 Art. 14)",
    "宗教": "religious belief (征信业管理条例 Art. 14)",
    "信仰": "belief (征信业管理条例 Art. 14)",
    "gene": "genetic data (征信业管理条例 Art. 14)",
    "genetic": "genetic data (征信业管理条例 Art. 14)",
    "基因": "genetic data (征信业管理条例 Art. 14)",
    "fingerprint": "fingerprints (征信业管理条例 Art. 14)",
    "指纹": "fingerprints (征信业管理条例 Art. 14)",
    "blood type": "blood type (征信业管理条例 Art. 14)",
    "blood_type": "blood type (征信业管理条例 Art. 14)",
    "血型": "blood type (征信业管理条例 Art. 14)",
    "disease": "disease and medical history (征信业管理条例 Art. 14)",
    "illness": "disease and medical history (征信业管理条例 Art. 14)",
    "medical history": "disease and medical history (征信业管理条例 Art. 14)",
    "medical_history": "disease and medical history (征信业管理条例 Art. 14)",
    "疾病": "disease and medical history (征信业管理条例 Art. 14)",
    "病史": "disease and medical history (征信业管理条例 Art. 14)",
    "health": "health data (sensitive personal information, 个人信息保护法 Art. 28)",
    "健康": "health data (sensitive personal information, 个人信息保护法 Art. 28)",
    "biometric": "biometric data (个人信息保护法 Art. 28)",
    "biometrics": "biometric data (个人信息保护法 Art. 28)",
    "face": "biometric data (个人信息保护法 Art. 28)",
    "生物识别": "biometric data (个人信息保护法 Art. 28)",
    "人脸": "biometric data (个人信息保护法 Art. 28)",
    "ethnicity": "ethnicity (local credit regulations)",
    "ethnic": "ethnicity (local credit regulations)",
    "民族": "ethnicity (local credit regulations)",
    "political": "political belief (local credit regulations)",
    "政治面貌": "political belief (local credit regulations)",
    "family origin": "family origin (local credit regulations)",
    "family_origin": "family origin (local credit regulations)",
    "家庭出身": "family origin (local credit regulations)",
    "sex": "sex read from an ID number (never a feature)",
    "gender": "sex read from an ID number (never a feature)",
    "性别": "sex read from an ID number (never a feature)",
    "age": "age read from an ID number (never a feature)",
    "birth": "birth date read from an ID number (never a feature)",
    "birthdate": "birth date read from an ID number (never a feature)",
    "birth_date": "birth date read from an ID number (never a feature)",
    "年龄": "age read from an ID number (never a feature)",
    "出生": "birth date read from an ID number (never a feature)",
    "籍贯": "region of origin read from an ID number (never a feature)",
    "id region": "region read from an ID number (never a feature)",
    "id_region": "region read from an ID number (never a feature)",
}

NO_LEGAL_BASIS: dict[str, str] = {
    "jaywalking": "jaywalking has no legal basis as credit information (国办发〔2020〕49号)",
    "闯红灯": "jaywalking has no legal basis as credit information (国办发〔2020〕49号)",
    "property fee": "property-fee arrears have no legal basis (国办发〔2020〕49号)",
    "property_fee": "property-fee arrears have no legal basis (国办发〔2020〕49号)",
    "物业费": "property-fee arrears have no legal basis (国办发〔2020〕49号)",
    "garbage": "garbage sorting has no legal basis (国办发〔2020〕49号)",
    "waste sorting": "garbage sorting has no legal basis (国办发〔2020〕49号)",
    "垃圾分类": "garbage sorting has no legal basis (国办发〔2020〕49号)",
    "petition": "petitions (信访) have no legal basis (国办发〔2020〕49号)",
    "信访": "petitions (信访) have no legal basis (国办发〔2020〕49号)",
    "上访": "petitions (信访) have no legal basis (国办发〔2020〕49号)",
    "pet": "pet keeping has no legal basis (国办发〔2020〕49号)",
    "养犬": "pet keeping has no legal basis (国办发〔2020〕49号)",
    "mahjong": "leisure habits have no legal basis (国办发〔2020〕49号)",
}

CONSENT_REQUIRED: dict[str, str] = {
    "income": "income",
    "收入": "income",
    "deposit": "deposits",
    "存款": "deposits",
    "securities": "securities",
    "证券": "securities",
    "insurance": "insurance",
    "保险": "insurance",
    "real estate": "real estate",
    "real_estate": "real estate",
    "不动产": "real estate",
    "房产": "real estate",
    "tax amount": "tax amounts",
    "tax_amount": "tax amounts",
    "纳税额": "tax amounts",
}


@dataclass(frozen=True)
class Hit:
    """One match of a restricted term in a piece of text."""

    kind: str  # "forbidden" | "no_legal_basis" | "consent_required"
    term: str
    reason: str

    def __str__(self) -> str:
        return f"'{self.term}' ({self.kind.replace('_', ' ')}: {self.reason})"


def _is_ascii(s: str) -> bool:
    return all(ord(c) < 128 for c in s)


def _compile(terms: dict[str, str]) -> list[tuple[str, re.Pattern[str], str]]:
    out = []
    for term, reason in terms.items():
        if _is_ascii(term):
            # word boundaries, treating _ and - as separators too (snake_case column names)
            body = re.escape(term).replace(r"\ ", r"[ _\-]")
            pat = re.compile(rf"(?<![a-z0-9]){body}(?![a-z0-9])", re.IGNORECASE)
        else:
            pat = re.compile(re.escape(term))
        out.append((term, pat, reason))
    return out


_LISTS = {
    "forbidden": _compile(FORBIDDEN),
    "no_legal_basis": _compile(NO_LEGAL_BASIS),
    "consent_required": _compile(CONSENT_REQUIRED),
}


def screen(*texts: str | None, kinds: tuple[str, ...] = ("forbidden", "no_legal_basis")) -> list[Hit]:
    """Return every restricted term found in ``texts`` (codes, names, column names)."""
    hits: list[Hit] = []
    seen: set[tuple[str, str]] = set()
    for text in texts:
        if not text:
            continue
        normal = text.replace("_", " ")
        for kind in kinds:
            for term, pat, reason in _LISTS[kind]:
                if (pat.search(text) or pat.search(normal)) and (kind, term) not in seen:
                    seen.add((kind, term))
                    hits.append(Hit(kind, term, reason))
    return hits
