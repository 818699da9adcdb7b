"""protocol/numbers.parse_ascii_int: the one way request text becomes an integer (pure; hypothesis)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from opensts.protocol.numbers import JAVA_INT_DIGITS, parse_ascii_int

ASCII_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
DIGITISH = st.text(alphabet=st.sampled_from("0123456789+-²³¹٣٠۵०０_ .e"), max_size=30)
TEXT = st.one_of(DIGITISH, st.text(max_size=30), st.integers().map(str), st.just("9" * 5000), st.just("0" * 5000 + "7"))


@given(text=TEXT, max_digits=st.integers(1, 25), signed=st.booleans())
@settings(max_examples=2000)
def test_never_raises_and_agrees_with_the_ascii_grammar(text: str, max_digits: int, signed: bool) -> None:
    got = parse_ascii_int(text, max_digits, signed=signed)
    grammar_ok = ASCII_INT.fullmatch(text) is not None and (signed or text[0] not in "+-")
    if not grammar_ok:
        assert got is None
        return
    significant = text.lstrip("+-").lstrip("0")
    if len(significant) > max_digits:
        assert got is None
    else:
        assert got == (-1 if text[0] == "-" else 1) * int(significant or "0")


def test_unicode_digits_and_python_int_extras_are_refused() -> None:
    for text in ("²", "٣", "١٢", "０", "1_000", " 1", "1 ", "+", "-", "", "0x10"):
        assert parse_ascii_int(text, JAVA_INT_DIGITS, signed=True) is None, text
    assert parse_ascii_int("0" * 5000 + "42", JAVA_INT_DIGITS) == 42  # leading zeros are not digits that count
    assert parse_ascii_int("9" * 5000) is None  # past int()'s 4300-digit limit: None, not ValueError
