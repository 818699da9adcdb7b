"""Responses: compiled per-shape XML writers and JSON converters, plus ``render_error``.

XML is produced by string concatenation from closures compiled once per output shape (element names,
open/close tags and converters are baked in); ``xml.etree`` is never used. Text is XML-escaped
(``&``, ``<``, ``>``; ``\\r`` as ``&#13;`` so a parser does not fold it into ``\\n``).

Formats (awsQuery / what botocore parses):

* timestamps ``2019-11-01T20:26:47Z`` — ISO-8601 UTC, **whole seconds** (current STS and IAM responses
  carry no fraction; sub-second parts are truncated). Shapes with ``timestampFormat`` ``unixTimestamp`` /
  ``rfc822`` are honoured. Naive datetimes are taken as UTC; ints/floats as epoch seconds.
* booleans ``true``/``false``; integers in decimal; floats ``NaN``/``Infinity``/``-Infinity`` or ``repr``;
  blobs base64.
* lists ``<Name><member>…</member></Name>`` (``flattened`` and member ``locationName`` respected); maps
  ``<Name><entry><key>…</key><value>…</value></entry></Name>``; ``None``/absent members are omitted.

JSON (``Accept: application/json``) mirrors the XML nesting with the same element names; timestamps are
epoch seconds as a JSON number (integer when whole, as we always render; AWS's Coral JSON writes the
same value in Java double notation such as ``1.515115602E9``, which every JSON decoder reads as the same
number); blobs base64 strings; absent members omitted.
"""

from __future__ import annotations

import base64
import functools
import math
import re
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any, Callable

import orjson

from .errors import ServiceError
from .json_errors import json_error

__all__ = ["render_error", "render_json_error", "escape", "xml_safe", "OutputCompiler", "CONTENT_TYPE_XML", "CONTENT_TYPE_JSON"]

CONTENT_TYPE_XML = "text/xml"
CONTENT_TYPE_JSON = "application/json"

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)

XmlWriter = Callable[[Any, list], None]
JsonConv = Callable[[Any], Any]


#: What XML 1.0 allows nowhere, not even as a character reference (§2.2 Char): C0 controls other than
#: TAB, LF and CR, lone surrogates, U+FFFE and U+FFFF. Input such as ``RoleName=a%01b`` is echoed in
#: ValidationError messages; written raw it would make the whole response unparseable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: The stand-in, as a lenient decoder shows an undecodable character.
REPLACEMENT = "\ufffd"


def xml_safe(s: str) -> str:
    """``s`` with every character XML 1.0 cannot carry replaced by U+FFFD (also safe for UTF-8 and JSON)."""
    if s.isprintable():  # C-speed fast path: printable text holds none of them (nor \t\n\r)
        return s
    return _NOT_XML.sub(REPLACEMENT, s) if _NOT_XML.search(s) is not None else s


def escape(s: str) -> str:
    """XML-escape element text (fast path: nothing to escape). The one place response text is made
    XML: every string any writer emits passes here, so every response is well-formed."""
    s = xml_safe(s)
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    if "\r" in s:
        s = s.replace("\r", "&#13;")
    return s


def _as_utc(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v.replace(tzinfo=_UTC) if v.tzinfo is None else v.astimezone(_UTC)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return datetime.fromtimestamp(v, _UTC)
    raise TypeError(f"not a timestamp: {v!r}")


def _iso(v: Any) -> str:
    """ISO 8601 in UTC, whole seconds."""
    if isinstance(v, str):
        return escape(v)
    return _iso_instant(v)


@functools.lru_cache(maxsize=4096)
def _iso_instant(v: datetime | int | float) -> str:
    """Memoised per instant: every credential issued in one second expires in the same few
    instants, and formatting was a visible share of a response."""
    d = _as_utc(v)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"


def _epoch(v: Any) -> int | float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    d = _as_utc(v)
    return int((d.replace(microsecond=0) - _EPOCH).total_seconds())


def _float_text(v: Any) -> str:
    x = float(v)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def _blob_text(v: Any) -> str:
    if isinstance(v, str):
        v = v.encode("utf-8")
    return base64.b64encode(v).decode("ascii")


def _bool_text(v: Any) -> str:
    return "true" if v else "false"


def _int_text(v: Any) -> str:
    return str(int(v))


def _str_text(v: Any) -> str:
    return escape(v if isinstance(v, str) else str(v))


class OutputCompiler:
    """Compiles output shapes of one service model into XML writers and JSON converters."""

    def __init__(self, shapes: dict[str, dict]) -> None:
        self.shapes = shapes
        self._xml: dict[str, XmlWriter] = {}
        self._json: dict[str, JsonConv] = {}

    # -------------------------------------------------------------- scalar text
    def _text_fn(self, shape: dict) -> Callable[[Any], str]:
        t = shape["type"]
        if t == "string":
            return _str_text
        if t in ("integer", "long", "short", "byte"):
            return _int_text
        if t == "boolean":
            return _bool_text
        if t in ("float", "double"):
            return _float_text
        if t == "blob":
            return _blob_text
        if t == "timestamp":
            fmt = shape.get("timestampFormat", "iso8601")
            if fmt == "unixTimestamp":
                return lambda v: str(_epoch(v))
            if fmt == "rfc822":
                return lambda v: format_datetime(_as_utc(v).replace(microsecond=0), usegmt=True)
            return _iso
        raise ValueError(f"unsupported type {t!r}")

    def _json_scalar(self, shape: dict) -> JsonConv:
        t = shape["type"]
        if t == "timestamp":
            return _epoch
        if t == "blob":
            return _blob_text
        if t in ("integer", "long", "short", "byte"):
            return int
        if t == "boolean":
            return bool
        if t in ("float", "double"):
            return float
        return lambda v: xml_safe(v if isinstance(v, str) else str(v))

    # -------------------------------------------------------------- XML
    def member_writer(self, tag: str, shape_name: str) -> XmlWriter:
        """Writer for one element named ``tag`` holding a value of ``shape_name``."""
        shape = self.shapes[shape_name]
        t = shape["type"]
        open_, close = f"<{tag}>", f"</{tag}>"
        if t == "structure":
            inner = self.struct_body(shape_name)

            def w_struct(v: Any, out: list) -> None:
                out.append(open_)
                inner(v, out)
                out.append(close)

            return w_struct
        if t == "list":
            mref = shape["member"]
            if shape.get("flattened"):
                return self._flat_list_writer(tag, shape)
            item = self.member_writer(mref.get("locationName", "member"), mref["shape"])

            def w_list(v: Any, out: list) -> None:
                out.append(open_)
                for e in v:
                    item(e, out)
                out.append(close)

            return w_list
        if t == "map":
            kref, vref = shape["key"], shape["value"]
            kw = self.member_writer(kref.get("locationName", "key"), kref["shape"])
            vw = self.member_writer(vref.get("locationName", "value"), vref["shape"])
            if shape.get("flattened"):

                def w_flat_map(v: Any, out: list) -> None:
                    for k, x in v.items():
                        out.append(open_)
                        kw(k, out)
                        vw(x, out)
                        out.append(close)

                return w_flat_map

            def w_map(v: Any, out: list) -> None:
                out.append(open_)
                for k, x in v.items():
                    out.append("<entry>")
                    kw(k, out)
                    vw(x, out)
                    out.append("</entry>")
                out.append(close)

            return w_map
        text = self._text_fn(shape)

        def w_scalar(v: Any, out: list) -> None:
            out.append(open_ + text(v) + close)

        return w_scalar

    def _flat_list_writer(self, tag: str, shape: dict) -> XmlWriter:
        mref = shape["member"]
        item = self.member_writer(mref.get("locationName", tag), mref["shape"])

        def w_flat(v: Any, out: list) -> None:
            for e in v:
                item(e, out)

        return w_flat

    def struct_body(self, shape_name: str) -> XmlWriter:
        """Writes the member elements of a structure (without its own element)."""
        cached = self._xml.get(shape_name)
        if cached is not None:
            return cached
        slot: list[XmlWriter] = []
        self._xml[shape_name] = lambda v, out: slot[0](v, out)  # recursion trampoline
        members = []
        for name, ref in self.shapes[shape_name].get("members", {}).items():
            target = self.shapes[ref["shape"]]
            tag = ref.get("locationName", name)
            if target["type"] == "list" and target.get("flattened"):
                writer = self._flat_list_writer(tag, target)
            else:
                writer = self.member_writer(tag, ref["shape"])
            members.append((name, writer))
        members_t = tuple(members)

        def body(v: Any, out: list) -> None:
            get = v.get
            for name, writer in members_t:
                x = get(name)
                if x is not None:
                    writer(x, out)

        slot.append(body)
        self._xml[shape_name] = body
        return body

    # -------------------------------------------------------------- JSON
    def json_conv(self, shape_name: str) -> JsonConv:
        cached = self._json.get(shape_name)
        if cached is not None:
            return cached
        shape = self.shapes[shape_name]
        t = shape["type"]
        if t == "structure":
            slot: list[JsonConv] = []
            self._json[shape_name] = lambda v: slot[0](v)
            members = tuple(
                (name, ref.get("locationName", name), self.json_conv(ref["shape"]))
                for name, ref in shape.get("members", {}).items()
            )

            def conv_struct(v: Any) -> Any:
                d = {}
                for name, key, conv in members:
                    x = v.get(name)
                    if x is not None:
                        d[key] = conv(x)
                return d

            slot.append(conv_struct)
            fn: JsonConv = conv_struct
        elif t == "list":
            item = self.json_conv(shape["member"]["shape"])

            def conv_list(v: Any) -> Any:
                return [item(e) for e in v]

            fn = conv_list
        elif t == "map":
            kc = self.json_conv(shape["key"]["shape"])
            vc = self.json_conv(shape["value"]["shape"])

            def conv_map(v: Any) -> Any:
                return {str(kc(k)): vc(x) for k, x in v.items()}

            fn = conv_map
        else:
            fn = self._json_scalar(shape)
        self._json[shape_name] = fn
        return fn


def render_error(err: ServiceError, request_id: str, *, xmlns: str, json: bool = False) -> bytes:
    """AWS ``ErrorResponse`` for any ``ServiceError`` (XML, or JSON for ``Accept: application/json``)."""
    code = err.code
    message = xml_safe(err.message)  # JSON too: orjson refuses lone surrogates
    etype = err.error_type
    if json:
        error = {"Code": code, "Message": message, "Type": etype}
        return orjson.dumps({"Error": error, "RequestId": request_id})
    msg = f"<Message>{escape(message)}</Message>" if message else ""
    return (
        f'<ErrorResponse xmlns="{xmlns}"><Error><Type>{etype}</Type><Code>{escape(code)}</Code>{msg}'
        f"</Error><RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
    ).encode("utf-8")


def render_json_error(protocol: str, err: ServiceError) -> tuple[bytes, bytes, dict[str, str]]:
    """(body, content type, headers) of ``err`` for a JSON API (botocore's ``metadata.protocol``
    ``json`` or ``rest-json``), in the one JSON error shape the JSON edges use (``json_errors``)."""
    _, body, ctype, headers = json_error(err.code, xml_safe(err.message), err.status, rest=protocol == "rest-json")
    return body, ctype, headers

