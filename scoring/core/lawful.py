"""What may never enter a credit evaluation (合法合规边界), enforced when configs load.

The screen works by **category**, not by spelling: each category (religious belief, biometrics,
medical health, whereabouts, minors' information, ...) names its legal basis and the words that
touch it, in Chinese and English, and every text is normalised before it is compared (NFKC, so
full-width ``ｒｅｌｉｇｉｏｎ`` is ``religion``; case folded; spaces, underscores and punctuation
ignored in Chinese, so ``宗 教`` is ``宗教``; English words split at camelCase and separators with
plurals folded, so ``RELIGIOUS_DONATIONS``, ``religiousDonation`` and ``Religions`` all hit).

Three kinds, fixed in code because they are law, not configuration:

* **Forbidden data** — 个人信息保护法 Art. 28 sensitive personal information (生物识别、宗教信仰、
  特定身份、医疗健康、金融账户、行踪轨迹, information of minors under 14) and 征信业管理条例 Art. 14
  (宗教信仰、基因、指纹、血型、疾病和病史), with local rules (民族、政治面貌、家庭出身); and sex, age,
  birth date or region *read from an ID number*.
* **No legal basis** (信用泛化, 国办发〔2020〕49号): jaywalking, unpaid property fees, garbage
  sorting, petitions, ... are not public credit information and are not scorable.
* **Consent required** for persons: income, deposits, securities, insurance, real estate and tax
  amounts may be used only with the person's written consent.

:func:`screen` checks pieces of text (a code, a name, a column name) and returns what they hit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ART14 = "征信业管理条例 Art. 14"
ART28 = "个人信息保护法 Art. 28 sensitive personal information"
LOCAL = "local credit regulations"
ID_DERIVED = "read from an ID number (never a feature)"
BASIS_49 = "no legal basis as credit information (国办发〔2020〕49号)"


@dataclass(frozen=True)
class Category:
    """One restricted category: its kind, its legal reason and the words that touch it.

    ``en`` terms are English words or phrases; ``word*`` matches any word starting with ``word``,
    ``word!`` only that exact word (no plural folding: ``aids!`` is not ``aid``). ``zh`` terms are
    matched inside the text with spacing and punctuation removed.
    """

    code: str
    kind: str  # "forbidden" | "no_legal_basis" | "consent_required"
    reason: str
    zh: tuple[str, ...] = ()
    en: tuple[str, ...] = ()


CATEGORIES: tuple[Category, ...] = (
    # -- 征信业管理条例 Art. 14 and PIPL Art. 28 --------------------------------------------------
    Category(
        "religion",
        "forbidden",
        f"religious belief ({ART14}; {ART28})",
        zh=(
            "宗教",
            "信仰",
            "信教",
            "教徒",
            "教会",
            "教堂",
            "寺庙",
            "寺院",
            "庙宇",
            "清真寺",
            "道观",
            "佛教",
            "基督",
            "天主教",
            "伊斯兰",
            "穆斯林",
            "礼拜",
            "香火钱",
            "布施",
        ),
        en=(
            "religi*",
            "church*",
            "temple*",
            "mosque*",
            "synagogue*",
            "worship*",
            "christian*",
            "muslim*",
            "islam*",
            "buddhis*",
            "hindu*",
            "tithe*",
            "parish*",
            "congregation*",
            "clergy",
            "belief*",
        ),
    ),
    Category(
        "genetic",
        "forbidden",
        f"genetic data ({ART14})",
        zh=("基因", "遗传", "染色体", "脱氧核糖核酸"),
        en=("gene", "genetic*", "genom*", "dna", "hereditary", "chromosom*"),
    ),
    Category(
        "biometric",
        "forbidden",
        f"biometric data, fingerprints ({ART14}; {ART28})",
        zh=("生物识别", "生物特征", "指纹", "人脸", "面部识别", "刷脸", "虹膜", "声纹", "掌纹", "步态", "面容"),
        en=("biometric*", "fingerprint*", "face", "facial", "iris", "voiceprint*", "retina*", "palmprint*", "gait"),
    ),
    Category(
        "blood_type",
        "forbidden",
        f"blood type ({ART14})",
        zh=("血型",),
        en=("blood type", "blood group", "bloodtype*"),
    ),
    Category(
        "medical_health",
        "forbidden",
        f"disease, medical history and health ({ART14}; {ART28})",
        zh=(
            "疾病",
            "病史",
            "病历",
            "病情",
            "健康",
            "医疗",
            "诊断",
            "就诊",
            "住院",
            "体检",
            "精神障碍",
            "精神病",
            "精神疾病",
            "心理疾病",
            "抑郁",
            "艾滋",
            "残疾",
            "残障",
            "伤残",
            "怀孕",
            "妊娠",
            "孕期",
            "孕妇",
            "传染病",
            "乙肝",
            "病毒携带",
            "吸毒",
            "戒毒",
        ),
        en=(
            "disease*",
            "illness*",
            "medical",
            "medical history",
            "health*",
            "diagnos*",
            "patient*",
            "hiv",
            "aids!",
            "pregnan*",
            "maternity",
            "disab*",
            "handicap*",
            "mental",
            "psychiatr*",
            "psycholog*",
            "depressi*",
            "hepatitis",
            "sickness*",
            "ill",
            "addict*",
            "rehab*",
        ),
    ),
    Category(
        "specific_identity",
        "forbidden",
        f"specific identity: sexual orientation, race, disability ({ART28})",
        zh=("性取向", "性倾向", "同性恋", "双性恋", "跨性别", "性别认同", "性生活", "种族", "肤色", "族裔"),
        en=(
            "sexual*",
            "homosexual*",
            "bisexual*",
            "transgender*",
            "lgbt*",
            "gay",
            "lesbian*",
            "sex life",
            "race",
            "racial*",
            "skin colour",
            "skin color",
            "caste*",
        ),
    ),
    Category(
        "financial_account",
        "forbidden",
        f"financial accounts ({ART28})",
        zh=("金融账户", "银行账户", "银行账号", "银行卡", "信用卡号", "账户余额", "支付账户", "存折", "卡号"),
        en=(
            "bank account*",
            "account number*",
            "card number*",
            "iban",
            "credit card*",
            "debit card*",
            "account balance*",
        ),
    ),
    Category(
        "whereabouts",
        "forbidden",
        f"whereabouts (行踪轨迹, {ART28})",
        zh=("行踪", "轨迹", "定位", "位置信息", "出行记录", "住宿记录", "通话记录", "行动路线"),
        en=(
            "whereabout*",
            "trajector*",
            "gps",
            "geolocation*",
            "location data",
            "location history",
            "location tracking",
            "movement history",
            "travel history",
            "call record*",
        ),
    ),
    Category(
        "minors",
        "forbidden",
        f"information of minors ({ART28}: under 14)",
        zh=("未成年", "儿童", "少年", "幼儿", "婴儿", "学龄前"),
        en=("minors!", "juvenile*", "child", "children", "childhood", "underage", "kid", "infant*", "under 14"),
    ),
    # -- local rules ---------------------------------------------------------------------------
    Category(
        "ethnicity",
        "forbidden",
        f"ethnicity ({LOCAL})",
        zh=("民族",),
        en=("ethnic*",),
    ),
    Category(
        "political",
        "forbidden",
        f"political belief ({LOCAL})",
        zh=("政治面貌", "政治倾向", "政治观点", "政治立场", "党派"),
        en=("political*", "party membership"),
    ),
    Category(
        "family_origin",
        "forbidden",
        f"family origin ({LOCAL})",
        zh=("家庭出身", "家庭成分", "家庭背景"),
        en=("family origin*", "family background*"),
    ),
    # -- read from an ID number ----------------------------------------------------------------
    Category("id_sex", "forbidden", f"sex {ID_DERIVED}", zh=("性别",), en=("sex", "gender*")),
    Category(
        "id_age", "forbidden", f"age or birth date {ID_DERIVED}", zh=("年龄", "出生", "生日"), en=("age", "birth*")
    ),
    Category("id_region", "forbidden", f"region of origin {ID_DERIVED}", zh=("籍贯",), en=("id region",)),
    # -- 信用泛化 -----------------------------------------------------------------------------
    Category("jaywalking", "no_legal_basis", f"jaywalking has {BASIS_49}", zh=("闯红灯",), en=("jaywalk*",)),
    Category(
        "property_fee", "no_legal_basis", f"property-fee arrears have {BASIS_49}", zh=("物业费",), en=("property fee*",)
    ),
    Category(
        "garbage",
        "no_legal_basis",
        f"garbage sorting has {BASIS_49}",
        zh=("垃圾分类",),
        en=("garbage", "waste sorting"),
    ),
    Category("petition", "no_legal_basis", f"petitions (信访) have {BASIS_49}", zh=("信访", "上访"), en=("petition*",)),
    Category("pet", "no_legal_basis", f"pet keeping has {BASIS_49}", zh=("养犬",), en=("pet",)),
    Category("leisure", "no_legal_basis", f"leisure habits have {BASIS_49}", zh=("麻将",), en=("mahjong",)),
    # -- consent -------------------------------------------------------------------------------
    Category("income", "consent_required", "income", zh=("收入",), en=("income*",)),
    Category("deposits", "consent_required", "deposits", zh=("存款",), en=("deposit*",)),
    Category("securities", "consent_required", "securities", zh=("证券",), en=("securities",)),
    Category("insurance", "consent_required", "insurance", zh=("保险",), en=("insurance",)),
    Category("real_estate", "consent_required", "real estate", zh=("不动产", "房产"), en=("real estate",)),
    Category("tax_amount", "consent_required", "tax amounts", zh=("纳税额",), en=("tax amount*",)),
)

#: Compounds that name a lawful subject, not sensitive data about a person (医疗机构 is a kind of
#: organisation: its penalties are public credit information). Removed before matching.
LAWFUL_COMPOUNDS_ZH = ("医疗卫生机构", "医疗机构", "医疗器械", "医疗废物", "卫生健康委员会", "卫生健康委", "卫生健康局")
LAWFUL_COMPOUNDS_EN = ("medical institution", "medical device", "medical waste", "health commission")

# Kept for callers that list the terms (docs, tests): term -> reason, by kind.
FORBIDDEN: dict[str, str] = {t: c.reason for c in CATEGORIES if c.kind == "forbidden" for t in c.zh + c.en}
NO_LEGAL_BASIS: dict[str, str] = {t: c.reason for c in CATEGORIES if c.kind == "no_legal_basis" for t in c.zh + c.en}
CONSENT_REQUIRED: dict[str, str] = {
    t: c.reason for c in CATEGORIES if c.kind == "consent_required" for t in c.zh + c.en
}


@dataclass(frozen=True)
class Hit:
    """One match of a restricted category in a piece of text."""

    kind: str  # "forbidden" | "no_legal_basis" | "consent_required"
    term: str
    reason: str
    category: str = ""

    def __str__(self) -> str:
        return f"'{self.term}' ({self.kind.replace('_', ' ')}: {self.reason})"


def _stem(word: str) -> str:
    """Fold an English plural to its singular (religions -> religion, activities -> activity)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("es") and word[:-2].endswith(("s", "x", "ch", "sh")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class _Text:
    words: tuple[str, ...]  # raw lower-case words
    stems: tuple[str, ...]  # plural-folded words
    compact: str  # letters and digits only (CJK included), lower-case


def normalise_text(text: str) -> str:
    """NFKC and case folding: the form every screened text is compared in."""
    return unicodedata.normalize("NFKC", text).casefold()


def _prepare(text: str) -> _Text:
    t = unicodedata.normalize("NFKC", text)
    t = _CAMEL.sub(" ", t).casefold()
    for lawful in LAWFUL_COMPOUNDS_EN:
        t = re.sub(r"[\s_\-]*".join(map(re.escape, lawful.split())) + r"[a-z]*", " ", t)
    compact = "".join(c for c in t if c.isalnum())
    for lawful in LAWFUL_COMPOUNDS_ZH:
        compact = compact.replace(lawful, "|")
    words = tuple(_WORD.findall(t))
    return _Text(words, tuple(_stem(w) for w in words), compact)


@dataclass(frozen=True)
class _Term:
    label: str
    parts: tuple[str, ...]
    prefix: bool
    exact: bool
    compact: str


def _term(label: str) -> _Term:
    prefix, exact, body = label.endswith("*"), label.endswith("!"), label.rstrip("*!")
    words = tuple(body.split())
    parts = words if (prefix or exact) else tuple(_stem(w) for w in words)
    return _Term(label, parts, prefix, exact, "".join(words))


def _word_hit(term: _Term, t: _Text) -> bool:
    seq = t.words if term.exact else t.stems
    n = len(term.parts)
    for i in range(len(seq) - n + 1):
        ok = all(seq[i + j] == term.parts[j] for j in range(n - 1))
        last = seq[i + n - 1]
        if ok and (last.startswith(term.parts[-1]) if term.prefix else last == term.parts[-1]):
            return True
    # phrases run together (BLOODTYPE, locationhistory) are found inside the compact text; single
    # words are not (compact matching would find 'petition' in 'competition')
    return len(term.parts) > 1 and term.compact in t.compact


_COMPILED: list[tuple[Category, list[str], list[_Term]]] = [
    (c, [unicodedata.normalize("NFKC", z) for z in c.zh], [_term(e) for e in c.en]) for c in CATEGORIES
]


def screen(*texts: str | None, kinds: tuple[str, ...] = ("forbidden", "no_legal_basis")) -> list[Hit]:
    """Every restricted category that ``texts`` (codes, names, tags, column names) touch; one hit
    per category, naming the first term found."""
    hits: list[Hit] = []
    prepared = [_prepare(t) for t in texts if t]
    for cat, zh, en in _COMPILED:
        if cat.kind not in kinds:
            continue
        found = next((z for z in zh for t in prepared if z in t.compact), None)
        if found is None:
            found = next((e.label.rstrip("*!") for e in en for t in prepared if _word_hit(e, t)), None)
        if found is not None:
            hits.append(Hit(cat.kind, found, cat.reason, cat.code))
    return hits
