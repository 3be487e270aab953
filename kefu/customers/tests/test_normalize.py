"""Contact normalisation: what screen pop and duplicate detection match on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kefu.core.errors import ValidationFailed
from kefu.customers.normalize import (
    clean_id_number,
    clean_tier,
    guess_contact_kind,
    normalize_email,
    normalize_phone,
    resident_id_check_char,
)

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
separators = st.sampled_from(["", " ", "-", "  "])


@given(mobiles, separators, st.sampled_from(["", "+86", "+86 ", "0086", "(+86)"]))
def test_any_formatting_of_a_mobile_normalises_to_its_11_digits(number, sep, prefix):
    typed = prefix + sep.join([number[:3], number[3:7], number[7:]])
    assert normalize_phone(typed) == number
    assert normalize_phone(normalize_phone(typed)) == number  # idempotent


@given(st.from_regex(r"1[0-2][0-9]{9}", fullmatch=True))
def test_numbers_that_look_like_mobiles_but_are_not_are_refused(number):
    with pytest.raises(ValidationFailed):
        normalize_phone(number)


@pytest.mark.parametrize("value", ["", "   ", "abc", "138-0013-800x", "1234", "1" * 21])
def test_bad_phones(value):
    with pytest.raises(ValidationFailed) as exc:
        normalize_phone(value)
    assert exc.value.details["field"] == "phone"


def test_landline_with_extension_and_service_numbers():
    assert normalize_phone("(020) 8888-6666") == "02088886666"
    assert normalize_phone("+86 20 8888 6666") == "02088886666"
    assert normalize_phone("8613800138000") == "13800138000"
    assert normalize_phone("+1 212 555 0100") == "0012125550100"
    assert normalize_phone("400-800-8888") == "4008008888"
    assert normalize_phone("95588") == "95588"


def test_email_lower_cased_and_validated():
    assert normalize_email(" Li.Si@Example.COM ") == "li.si@example.com"
    for bad in ("", "li@", "@x.cn", "li si@x.cn"):
        with pytest.raises(ValidationFailed):
            normalize_email(bad)


@given(
    st.from_regex(
        r"[1-6][0-9]{5}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}", fullmatch=True
    )
)
def test_resident_id_check_digit(first17):
    good = first17 + resident_id_check_char(first17)
    assert clean_id_number(good.lower()) == good
    wrong = "0" if good[-1] != "0" else "1"
    with pytest.raises(ValidationFailed):
        clean_id_number(first17 + wrong)


def test_tier_and_kind_guessing():
    assert clean_tier(" a类 ") == "A"
    with pytest.raises(ValidationFailed):
        clean_tier("E")
    assert guess_contact_kind("+86 138 0013 8000") == "phone"
    assert guess_contact_kind("a@b.cn") == "email"
    assert guess_contact_kind("wx_id") == "wechat"
