"""Codes: pure checks of identifiers used in the programme."""

from __future__ import annotations

# GB 32100-2015 unified social credit code (统一社会信用代码): 18 characters from this alphabet (no I, O, S, V,
# Z), the last a check character over the first 17 with these weights.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """The check character of a unified social credit code's first 17 characters.

    Raises:
        ValueError: wrong length or a character outside the code's alphabet.
    """
    if len(first17) != 17:
        raise ValueError("17 characters expected")
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """True for an 18-character unified social credit code whose check character is right."""
    code = code.strip().upper()
    if len(code) != 18 or any(c not in _CREDIT_ALPHABET for c in code):
        return False
    return credit_code_check_char(code[:17]) == code[17]
