"""Decimal integers from the wire, parsed the way AWS's Java services read them.

Python's ``int(text)`` is the wrong tool for request input: it accepts any Unicode digit (``int("٣")``
is 3, while ``"²".isdigit()`` is true and ``int("²")`` raises), underscores (``int("1_0")``) and
surrounding blanks, and it raises ``ValueError`` past ``sys.int_info.default_max_str_digits`` (4300)
digits — a 500 for whoever let it through. Every place OpenSTS turns request text into a number
goes through ``parse_ascii_int``: ASCII ``[0-9]`` only, a bounded number of digits (leading zeros
aside, as ``Integer.parseInt`` ignores them), never an exception.
"""

from __future__ import annotations

__all__ = ["parse_ascii_int", "JAVA_INT_DIGITS", "JAVA_LONG_DIGITS"]

_DIGITS = frozenset("0123456789")

#: Digits of the largest Java ``int`` (2147483647) and ``long`` (9223372036854775807).
JAVA_INT_DIGITS = 10
JAVA_LONG_DIGITS = 19


def parse_ascii_int(text: str, max_digits: int = JAVA_LONG_DIGITS, *, signed: bool = False) -> int | None:
    """``text`` as an integer when it is ``[+-]?[0-9]+`` (sign only if ``signed``) with at most
    ``max_digits`` significant digits; otherwise ``None``. Work is bounded by ``len(text)``."""
    if not isinstance(text, str) or not text:
        return None
    sign = 1
    if signed and text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if not text or not _DIGITS.issuperset(text):
        return None
    significant = text.lstrip("0")
    if len(significant) > max_digits:
        return None
    return sign * int(significant) if significant else 0
