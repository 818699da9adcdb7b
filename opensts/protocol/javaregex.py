"""Translate the Java-flavoured ``pattern`` traits of AWS service models into Python regexes.

AWS validates model patterns with Java regexes and full-match semantics (``Matcher.matches()``). The
models are written for that engine, and three differences matter to Python:

* ``\\p{L}``, ``\\p{Z}``, ``\\p{N}`` (Unicode categories) are rejected by stdlib ``re``; such patterns are
  compiled with the third-party ``regex`` package instead.
* ``\\w``, ``\\d`` and ``\\s`` are ASCII-only in Java (without ``UNICODE_CHARACTER_CLASS``) but Unicode-aware
  in Python. We rewrite them into explicit ASCII classes (a global ``ASCII`` flag is not an option because
  in ``regex`` it would also narrow ``\\p{L}`` to ASCII letters).
* ``\\u10000-\\u10FFFF`` (in ``arnType``) is meant as the supplementary planes. A literal Java reading is
  ``\\u1000`` followed by ``0`` … (exactly four hex digits); we follow the obvious intent and accept
  U+10000–U+10FFFF, which is what the documentation of those parameters describes.

Everything is done once at model-compile time; the result is a compiled pattern object whose
``fullmatch`` is the only thing used per request.
"""

from __future__ import annotations

import re
from typing import Any, Callable

__all__ = ["translate", "compile_pattern"]

_HEX = "0123456789abcdefABCDEF"
_ASCII_CLASSES_IN = {"w": "A-Za-z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r"}
_ASCII_CLASSES_OUT = {
    "w": "[A-Za-z0-9_]",
    "d": "[0-9]",
    "s": "[ \\t\\n\\x0B\\f\\r]",
    "W": "[^A-Za-z0-9_]",
    "D": "[^0-9]",
    "S": "[^ \\t\\n\\x0B\\f\\r]",
}


_ASCII_PROPS = {"L": "A-Za-z", "N": "0-9", "Z": " "}


def translate(pattern: str, ascii_props: bool = False) -> tuple[str, bool]:
    """Return ``(python_pattern, needs_regex_package)`` for a Java model pattern.

    With ``ascii_props`` the Unicode categories ``\\p{L}``, ``\\p{N}`` and ``\\p{Z}`` are replaced by
    their ASCII members (raises ``ValueError`` for any other property): the result is a stdlib pattern
    that decides exactly like the full one for ASCII input, used as a fast path.
    """
    out: list[str] = []
    needs_regex = False
    in_class = False
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            if e == "u":
                j = i + 2
                while j < n and j < i + 8 and pattern[j] in _HEX:
                    j += 1
                digits = pattern[i + 2 : j]
                # Java takes exactly four digits; five or six only make sense as a supplementary code point
                # (the ``\u10000-\u10FFFF`` idiom), so take them when they denote one.
                if len(digits) > 4 and 0x10000 <= int(digits, 16) <= 0x10FFFF:
                    out.append("\\U%08X" % int(digits, 16))
                    i = j
                    continue
                out.append("\\u" + digits[:4])
                i += 2 + 4
                continue
            if e in ("p", "P"):
                end = pattern.find("}", i)
                end = end + 1 if end != -1 and pattern[i + 2 : i + 3] == "{" else i + 3
                if ascii_props:
                    prop = pattern[i + 3 : end - 1] if pattern[i + 2 : i + 3] == "{" else pattern[i + 2 : end]
                    if e != "p" or prop not in _ASCII_PROPS:
                        raise ValueError(f"no ASCII equivalent for {pattern[i:end]}")
                    cls = _ASCII_PROPS[prop]
                    out.append(cls if in_class else f"[{cls}]")
                else:
                    needs_regex = True
                    out.append(pattern[i:end])
                i = end
                continue
            if in_class and e in _ASCII_CLASSES_IN:
                out.append(_ASCII_CLASSES_IN[e])
                i += 2
                continue
            if not in_class and e in _ASCII_CLASSES_OUT:
                out.append(_ASCII_CLASSES_OUT[e])
                i += 2
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            # a leading ']' or '^]' is literal inside a class
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            i += 1
            continue
        if c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out), needs_regex


def compile_pattern(pattern: str) -> Callable[[str], Any]:
    """Compile a model pattern and return its bound ``fullmatch``."""
    py, needs_regex = translate(pattern)
    if needs_regex:
        import regex  # third-party; only needed for \\p{..} classes

        full = regex.compile(py).fullmatch
        try:
            ascii_match = re.compile(translate(pattern, ascii_props=True)[0]).fullmatch
        except (ValueError, re.error):
            return full  # type: ignore[no-any-return]

        def match(s: str) -> Any:
            # stdlib ``re`` is ~4x faster than ``regex``; for ASCII input both decide identically.
            return ascii_match(s) if s.isascii() else full(s)

        return match
    try:
        return re.compile(py).fullmatch
    except re.error:
        import regex

        return regex.compile(py).fullmatch  # type: ignore[no-any-return]
