"""GB 32100 (USCC) and GB 11643 (ID number) validators."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from scoring.core.identifiers import (
    USCC_CHARSET,
    IdStatus,
    check_id_number,
    check_uscc,
    complete_id_number,
    complete_uscc,
    is_valid_id_number,
    is_valid_uscc,
)
from scoring.core.privacy import contains_raw_id, mask_id, pseudonym, scrub

VALID_USCC = ["91350200776049653A", "91320100748204660Q", "91320281142232229Q", "91510104MA6CFT042R"]
PILOT_USCC = ["91350203M0001QAY9B", "91350100M0001TGQXM"]
VALID_ID = ["11010519491231002X", "440524188001010014"]
ID_CHARS = "0123456789X"

pytestmark = pytest.mark.smoke


@pytest.mark.parametrize("code", VALID_USCC)
def test_reference_uscc_valid(code):
    assert is_valid_uscc(code)
    assert is_valid_uscc(code.lower())  # normalised


@pytest.mark.parametrize("code", PILOT_USCC)
def test_pilot_codes_fail_the_check(code):
    assert check_uscc([code])[0] == IdStatus.BAD_CHECK


@pytest.mark.parametrize("code", VALID_ID)
def test_reference_id_valid(code):
    assert is_valid_id_number(code)


@pytest.mark.parametrize("code", VALID_USCC)
def test_every_single_character_change_to_uscc_is_rejected(code):
    variants = [code[:i] + c + code[i + 1 :] for i in range(18) for c in USCC_CHARSET + "IOSVZ" if c != code[i]]
    status = check_uscc(variants)
    assert (status != IdStatus.OK).all(), [v for v, s in zip(variants, status) if s == IdStatus.OK]


@pytest.mark.parametrize("code", VALID_ID)
def test_every_single_character_change_to_id_is_rejected(code):
    variants = [code[:i] + c + code[i + 1 :] for i in range(18) for c in ID_CHARS + "A" if c != code[i]]
    status = check_id_number(variants)
    assert (status != IdStatus.OK).all(), [v for v, s in zip(variants, status) if s == IdStatus.OK]


def test_fifteen_digit_ids():
    assert is_valid_id_number("110105491231002")
    assert not is_valid_id_number("110105491331002")  # month 13
    assert not is_valid_id_number("11010549123100X")  # no check character in 15-digit numbers
    assert check_id_number(["1101054912310021"])[0] == IdStatus.BAD_LENGTH


def test_birth_date_after_latest_is_rejected():
    assert not is_valid_id_number("11010519491231002X", latest_birth=dt.date(1949, 12, 30))
    assert is_valid_id_number("11010519491231002X", latest_birth=dt.date(1949, 12, 31))


def test_empty_and_garbage():
    s = check_uscc(["", None, "统一社会信用代码统一社会信用代码统一", "913502007760496"])
    assert list(s) == [IdStatus.EMPTY, IdStatus.EMPTY, IdStatus.BAD_LENGTH, IdStatus.BAD_LENGTH]


uscc_body = st.tuples(
    st.sampled_from(["91", "92", "93", "11", "12", "51", "52", "53"]),
    st.text("0123456789", min_size=6, max_size=6),
    st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
).map(lambda t: "".join(t))


@settings(max_examples=300, deadline=None)
@given(uscc_body, st.integers(0, 17), st.sampled_from(list(USCC_CHARSET)))
def test_uscc_agrees_with_stdnum(body, pos, ch):
    code = complete_uscc(np.frombuffer(body.encode(), dtype=np.uint8).reshape(1, 16))[0]
    assert is_valid_uscc(code) and uscc.is_valid(code)
    mutated = code[:pos] + ch + code[pos + 1 :]
    assert is_valid_uscc(mutated) == uscc.is_valid(mutated)


birth = st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2020, 12, 31))


@settings(max_examples=300, deadline=None)
@given(
    st.just("110105"),
    birth,  # a region stdnum knows at every birth date
    st.integers(0, 999),
    st.integers(0, 17),
    st.sampled_from(list(ID_CHARS)),
)
def test_id_number_agrees_with_stdnum(region, born, seq, pos, ch):
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    code = complete_id_number(np.frombuffer(body.encode(), dtype=np.uint8).reshape(1, 17))[0]
    assert is_valid_id_number(code) and ric.is_valid(code)
    mutated = code[:pos] + ch + code[pos + 1 :]
    # stdnum also rejects births before 1900 and unknown regions; we compare where it decides on the check
    if ric.is_valid(mutated):
        assert is_valid_id_number(mutated)
    if is_valid_id_number(mutated) and mutated != code:
        pytest.fail(f"single change {code} -> {mutated} accepted")


def test_masking_hides_birth_date_and_sex_digit():
    m = mask_id("11010519491231002X")
    assert m == "110**************X"
    assert "19491231" not in m
    assert mask_id("91350200776049653A") == "91350200776049653A"  # organisation codes are public
    text = scrub("person 11010519491231002X and 110105491231002 fined; org 91350200776049653A")
    assert not contains_raw_id(text)
    assert "91350200776049653A" in text
    # an all-digit organisation code (e.g. a social organisation's 52...) is public too, unless it is
    # also a valid ID number; an ID-number-like token that is no valid USCC still counts as an ID
    from conftest import make_uscc

    digits = next(c for c in (make_uscc(i, "52") for i in range(1, 200)) if c.isdigit() and not is_valid_id_number(c))
    assert mask_id(digits) == digits and not contains_raw_id(f"org {digits}")
    assert contains_raw_id("id 11010519491231002X") and contains_raw_id("bad 110105194912310021")


def test_scrub_leaves_numbers_alone():
    for text in ('{"rate": 0.0011952191235059761}', "3.141592653589793238", "123456789012345678.5"):
        assert scrub(text) == text
    assert scrub("(11010519491231002X)") == "(110**************X)"


def test_pseudonym_is_stable_and_keyed():
    a = pseudonym("11010519491231002X", b"k1")
    assert a == pseudonym("11010519491231002X", b"k1")
    assert a != pseudonym("11010519491231002X", b"k2")
    assert not contains_raw_id(a)


@pytest.mark.parametrize(
    "raw",
    ["\t11010519491231002X", "11010519491231002x\r\n", " 110105 19491231 002X\u3000", "\ufeff11010519491231002X\u200b",
     "１１０１０５１９４９１２３１００２Ｘ", "110105\x0019491231002X"],
)  # fmt: skip
def test_one_normalisation_before_checks_and_storage(raw):
    from scoring.core.identifiers import normalise_id

    assert normalise_id(raw) == "11010519491231002X"
    assert is_valid_id_number(normalise_id(raw))
    assert check_id_number([raw])[0] == IdStatus.OK  # the checks normalise the same way
    assert normalise_id(None) == "" and normalise_id(float("nan")) == ""


@pytest.mark.parametrize(
    "text",
    ["ID11010519491231002X", "身份证号11010519491231002X。", "110105 19491231 002X", "110105-19491231-002X",
     "１１０１０５１９４９１２３１００２Ｘ", "a\x1b[31m11010519491231002X\x1b[0m", "1101051949\x001231002X"],
)  # fmt: skip
def test_scrub_masks_an_id_wherever_it_stands(text):
    out = scrub(text)
    assert not contains_raw_id(out) and "19491231" not in out.replace(" ", "").replace("-", "")
    assert "\x1b" not in out and "\x00" not in out
    assert contains_raw_id(text)


def test_scrub_removes_escape_sequences_and_controls():
    assert scrub("\x1b]0;pwned\x07ok\x1b[2J\x9b31m") == "ok"
    assert scrub("a\u202eb\x00c") == "abc"
    assert scrub("line1\nline2") == "line1\nline2"
    assert scrub("line1\nline2", newlines=False) == "line1 line2"


def test_pseudonyms_never_look_like_an_id_number():
    """Exports carry pseudonyms for every person: none may trip the raw-ID scanner (hex could: a run
    of 15 digits among 16 hex characters turns up about once in a thousand)."""
    key = b"k" * 32
    tokens = [pseudonym(f"{i:018d}", key) for i in range(50_000)]
    assert all(len(t) == 17 and t.startswith("S") for t in tokens)
    assert not any(contains_raw_id(t) for t in tokens)
    assert not contains_raw_id(",".join(tokens))
