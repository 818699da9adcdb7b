"""Where a JSON path is in a document's text: line and column, for ``opensts policy validate``.

The validator works on the parsed document and names a problem by its path
(``("Statement", 0, "Effect")``); people need the line and column in their file. This is a small
JSON scanner (pure, no I/O) that records, for every path, where its key and its value start, and
every key that repeats in an object (the parser refuses those without saying where). Strings are
decoded with the json module's own ``scanstring``, so keys compare as the parser saw them.
"""

from __future__ import annotations

import json.decoder
import re

__all__ = ["Spots", "scan", "line_column"]

Path = tuple[str | int, ...]
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|NaN|-?Infinity")
_WS = " \t\n\r"


class Spots:
    """Offsets of each path's key (None for array items and the document) and value."""

    def __init__(self) -> None:
        self.keys: dict[Path, int] = {}
        self.values: dict[Path, int] = {}
        self.duplicates: list[tuple[Path, int]] = []  # keys seen again in one object: path, offset

    def find(self, path: Path, *, at_key: bool = False) -> int | None:
        """The offset of ``path`` (its key when ``at_key``), else of its longest known prefix."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            first, second = (self.keys, self.values) if at_key and end == len(path) else (self.values, self.keys)
            if prefix in first:
                return first[prefix]
            if prefix in second:
                return second[prefix]
        return None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.i, self.spots = text, 0, Spots()

    def skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _WS:
            self.i += 1

    def value(self, path: Path) -> None:
        self.skip()
        self.spots.values.setdefault(path, self.i)
        char = self.text[self.i]
        if char == "{":
            self.obj(path)
        elif char == "[":
            self.array(path)
        elif char == '"':
            self.string()
        else:
            match = _SCALAR.match(self.text, self.i)
            if match is None:
                raise ValueError(f"unexpected {char!r}")
            self.i = match.end()

    def string(self) -> str:
        value, self.i = json.decoder.scanstring(self.text, self.i + 1)
        return value

    def expect(self, char: str) -> None:
        self.skip()
        if self.text[self.i] != char:
            raise ValueError(f"expected {char!r}")
        self.i += 1

    def obj(self, path: Path) -> None:
        self.i += 1
        seen: set[str] = set()
        self.skip()
        if self.text[self.i] == "}":
            self.i += 1
            return
        while True:
            self.skip()
            start = self.i
            key = self.string()
            if key in seen:
                self.spots.duplicates.append((path + (key,), start))
            seen.add(key)
            self.spots.keys.setdefault(path + (key,), start)
            self.expect(":")
            self.value(path + (key,))
            self.skip()
            if self.text[self.i] == "}":
                self.i += 1
                return
            self.expect(",")

    def array(self, path: Path) -> None:
        self.i += 1
        self.skip()
        if self.text[self.i] == "]":
            self.i += 1
            return
        index = 0
        while True:
            self.value(path + (index,))
            index += 1
            self.skip()
            if self.text[self.i] == "]":
                self.i += 1
                return
            self.expect(",")


def scan(text: str) -> Spots:
    """Where every path of ``text`` is; as much as was read when the text is not JSON."""
    scanner = _Scanner(text)
    try:
        scanner.value(())
    except (ValueError, IndexError, RecursionError):
        pass
    return scanner.spots


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of ``offset``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
