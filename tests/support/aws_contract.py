"""A strict checker of AWS API requests against the constraints their service models state.

Why: botocore's ``ParamValidator`` checks only types, required members and minimum sizes,
and moto accepts far more than AWS does, so a request that passes every local test (a
ContainerArgument of 260 characters, a job name with an underscore, an unknown enum value)
can still be refused by the real service. ``violations`` walks a request through the
operation's input shape of the installed botocore model and reports every broken constraint:

- structures: required members present, no unknown members, exactly one member of a union;
- types: string, integer/long (and their 32/64-bit ranges), float/double, boolean,
  timestamp, blob, list, map, structure;
- strings: min/max length, ``enum``, ``pattern`` (``re.fullmatch``, as Java's ``matches``);
- blobs (bytes, bytearray or str): min/max length in bytes;
- numbers: min/max value; lists and maps: min/max number of entries;
- map keys and values, list items and nested structures, each against its own shape.

Model patterns are Java regexes. ``compile_pattern`` translates what Python's ``re`` lacks:
``\\p{..}``/``\\P{..}`` Unicode categories and Java's POSIX classes, UTF-16 surrogate pairs
(``\\uD800\\uDC00``) and quantified anchors (``${1,256}``). A pattern that still does not
compile, or that Python would read differently (a nested set or ``&&`` in a class, which
Python only warns about), is not checked and is added to ``SKIPPED_PATTERNS``.
"""

from __future__ import annotations

import datetime
import functools
import re
import sys
import unicodedata
import warnings
from decimal import Decimal

import botocore.session
from botocore.model import Shape
from botocore.utils import parse_timestamp

SKIPPED_PATTERNS: set[str] = set()  # model patterns met that could not be translated (not checked)

# Java's POSIX classes (US-ASCII only, as Java reads them without UNICODE_CHARACTER_CLASS),
# written as the contents of a Python character class.
_POSIX = {
    "Lower": "a-z", "Upper": "A-Z", "ASCII": "\\x00-\\x7f", "Alpha": "a-zA-Z", "Digit": "0-9",
    "Alnum": "a-zA-Z0-9", "Punct": "!-/:-@\\[-`{-~", "Graph": "!-~", "Print": " -~", "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f", "XDigit": "0-9a-fA-F", "Space": " \\t\\n\\x0b\\f\\r",
}
_TOKEN = re.compile(r"""
    \\(?P<negated>[pP])\{(?P<property>\w+)\}                      # \p{L}, \p{Alnum}, \P{N}
  | \\u(?P<high>D[89AB][0-9A-F]{2})\\u(?P<low>D[C-F][0-9A-F]{2})  # a UTF-16 surrogate pair
  | (?P<anchor>[$^])(?:\{[1-9]\d*(?:,\d*)?\}|\+)                  # an anchor repeated at least once
  | (?P<open>\[\^?\]?)                                           # a class opens (a leading ] is literal)
  | \\. | .
""", re.X | re.S)
_TYPES = {
    "string": (str,), "integer": (int,), "long": (int,), "float": (int, float, Decimal),
    "double": (int, float, Decimal), "boolean": (bool,), "timestamp": (datetime.datetime, str, int, float),
    "blob": (bytes, bytearray, str), "list": (list, tuple), "map": (dict,), "structure": (dict,),
}
_INT_BITS = {"integer": 32, "long": 64}


def violations(service: str, operation: str, params: dict) -> list[str]:
    """One line per constraint ``params`` breaks, each led by the dotted path of the value
    (``AppSpecification.ContainerArguments[0]: length 260 > max 256``); empty when valid."""
    shape = _service_model(service).operation_model(operation).input_shape
    if shape is None:
        return [f"{operation}: takes no parameters"] if params else []
    found: list[str] = []
    _check(shape, params, "", found, operation)
    return found


def assert_valid(service: str, operation: str, params: dict) -> None:
    """Raise AssertionError listing every violation of ``params``."""
    found = violations(service, operation, params)
    assert not found, f"{service} {operation} request breaks its model:\n" + "\n".join(found)


@functools.cache
def compile_pattern(pattern: str) -> re.Pattern | None:
    """The model's Java ``pattern`` as a Python regex; None (and the pattern in
    ``SKIPPED_PATTERNS``) when it cannot be translated faithfully."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # "possible nested set": Java reads it otherwise
            return re.compile(_translate(pattern))
    except (re.error, FutureWarning):
        SKIPPED_PATTERNS.add(pattern)
        return None


def _translate(pattern: str) -> str:
    out, in_class = [], False
    for token in _TOKEN.finditer(pattern):
        text = token.group()
        if token["property"]:
            members = _POSIX.get(token["property"]) or _categories(token["property"])
            negated = token["negated"] == "P"
            if members and not in_class:
                text = f"[{'^' if negated else ''}{members}]"
            elif members and not negated:
                text = members  # a negated property inside a class stays as is: it does not compile
        elif token["high"]:
            text = chr(0x10000 + ((int(token["high"], 16) - 0xD800) << 10) + int(token["low"], 16) - 0xDC00)
            text = re.escape(text)
        elif token["anchor"] and not in_class:
            text = token["anchor"]  # a zero-width assertion repeated is the assertion itself
        elif token["open"] and not in_class:
            in_class = True
        elif text == "]" and in_class:
            in_class = False
        out.append(text)
    return "".join(out)


@functools.cache
def _categories(name: str) -> str:
    """Character-class contents of the Unicode general category ``name`` (``L`` or ``Lu``);
    empty for any other name."""
    ranges, start = [], None
    for code in range(sys.maxunicode + 2 if len(name) <= 2 else 0):
        inside = code <= sys.maxunicode and unicodedata.category(chr(code)).startswith(name)
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{code - 1:08x}")
            start = None
    return "".join(ranges)


@functools.cache
def _service_model(service: str):
    return _session().get_service_model(service)


@functools.cache
def _session():
    return botocore.session.get_session()


def _check(shape: Shape, value, path: str, found: list[str], operation: str) -> None:
    where = path or operation
    kind, meta = shape.type_name, shape.metadata
    if not isinstance(value, _TYPES[kind]) or (isinstance(value, bool) and kind != "boolean"):
        found.append(f"{where}: expected {kind}, got {type(value).__name__}")
        return
    if kind == "structure":
        _check_structure(shape, value, path, found, operation)
    elif kind == "list":
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", found, operation)
    elif kind == "map":
        for key, item in value.items():
            _check(shape.key, key, f"{where} key {key!r}", found, operation)
            _check(shape.value, item, f"{path}[{key!r}]", found, operation)
    elif kind == "string":
        shown = "<sensitive>" if meta.get("sensitive") else repr(value if len(value) <= 60 else value[:57] + "...")
        if "enum" in meta and value not in meta["enum"]:
            choices = ", ".join(meta["enum"][:8]) + (f", ... ({len(meta['enum'])} in all)" if len(meta["enum"]) > 8 else "")
            found.append(f"{where}: {shown} not one of {choices}")
        compiled = compile_pattern(meta["pattern"]) if "pattern" in meta else None
        if compiled and not compiled.fullmatch(value):
            found.append(f"{where}: {shown} does not match pattern {meta['pattern']!r}")
    elif kind == "timestamp" and not isinstance(value, datetime.datetime):
        try:
            parse_timestamp(value)
        except (ValueError, TypeError, OverflowError):
            found.append(f"{where}: {value!r} is not a timestamp")
    elif kind in _INT_BITS and not -(2 ** (_INT_BITS[kind] - 1)) <= value < 2 ** (_INT_BITS[kind] - 1):
        found.append(f"{where}: value {value} outside the {_INT_BITS[kind]}-bit {kind} range")
    measure, size = _size(kind, value)
    if size is not None and "min" in meta and size < meta["min"]:
        found.append(f"{where}: {measure} {size} < min {meta['min']}")
    if size is not None and "max" in meta and size > meta["max"]:
        found.append(f"{where}: {measure} {size} > max {meta['max']}")


def _check_structure(shape: Shape, value: dict, path: str, found: list[str], operation: str) -> None:
    where = path or operation
    found += [f"{where}: missing required member {name}" for name in shape.required_members if name not in value]
    found += [f"{where}: unknown member {name!r} of {shape.name}" for name in value if name not in shape.members]
    if shape.metadata.get("union") and len(value) != 1:
        found.append(f"{where}: a union takes exactly one of {list(shape.members)}, got {sorted(value)}")
    for name, item in value.items():
        if name in shape.members:
            _check(shape.members[name], item, f"{path}.{name}" if path else name, found, operation)


def _size(kind: str, value) -> tuple[str, float | int | None]:
    """What the model's min/max bound for this type, and its measure of ``value``."""
    if kind == "string":
        return "length", len(value)
    if kind == "blob":
        return "length", len(value.encode() if isinstance(value, str) else value)
    if kind in ("list", "map"):
        return "size", len(value)
    if kind in ("integer", "long", "float", "double"):
        return "value", value
    return "", None
