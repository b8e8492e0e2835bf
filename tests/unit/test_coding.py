import pytest

from outfalls.coding import credit_code_check_char, is_valid_credit_code


@pytest.mark.parametrize("code", ["91110000802100433B", "91330000742903006P", " 91110000802100433b "])
def test_real_credit_codes_are_valid(code):
    assert is_valid_credit_code(code)


@pytest.mark.parametrize(
    "code", ["91110000802100433C", "9111000080210043B", "91110000802100433BX", "9111000080210043IB", ""]
)
def test_wrong_check_length_or_alphabet_is_invalid(code):
    assert not is_valid_credit_code(code)


def test_check_character():
    assert credit_code_check_char("91110000802100433") == "B"
    with pytest.raises(ValueError):
        credit_code_check_char("123")
