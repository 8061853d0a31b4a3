"""A params section declared once, as a frozen dataclass: each field's annotation is its type and
its `param(...)` its bounds, and `build` reads the section from YAML by them, refusing any value
in one sentence that names the key, the value and what is allowed.

pydantic derives the same from such declarations, but importing it and building the models costs
each stage more than the 0.1 s allowed for reading params (benchmarks/RESULTS.md); the few types
that params use (int, float, str, Literal, lists of them, nested sections) fit in this module.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import reprlib
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from latentlab.core.errors import UserError

PARAMS = "params.yaml"  # the key of the file's top level, whose own keys are named bare
LAPTOP = "to keep a run within a laptop's memory and time"  # the reason of most upper bounds

T = TypeVar("T")


@dataclass(frozen=True)
class Bounds:
    """What a key allows beyond its type: for a list, `ge`..`why` bound its items."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    why: str = ""  # said after the upper bound, or after the one allowed value
    shortest: int = 0  # a list's fewest items (1: not empty)
    longest: int | None = None  # a list's most items, a laptop's bound
    unique: bool = False  # a list without repeats
    noun: str = "integers"  # what a list holds, in "a list of at most N integers"
    allowed: str = ""  # the whole of what a list allows, where the derived phrase would not say it


def param(**bounds: Any) -> Any:
    """A key of a params section: the field's annotation is its type, `bounds` (see Bounds) the
    rest of what it allows."""
    return dataclasses.field(metadata={"bounds": Bounds(**bounds)})


def keys(cls: type) -> list[str]:
    """The keys of params section `cls`, in their declared order."""
    return [f.name for f in dataclasses.fields(cls) if "bounds" in f.metadata]


@functools.cache
def _types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _truncated(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = max(0, (limit - 3) // 2)
    return text[:half] + "..." + text[len(text) - half :]


class _Shown(reprlib.Repr):
    """A value as a message quotes it: short, and with every character that is not printable
    ASCII escaped as ascii() does, so that a Cyrillic c or a zero-width space shows."""

    def repr_str(self, x: str, level: int) -> str:
        return _truncated(ascii(x), self.maxstring)

    def repr_int(self, x: int, level: int) -> str:
        try:
            return super().repr_int(x, level)
        except ValueError:  # more digits than Python converts to text
            return f"<an integer of {int(x.bit_length() * math.log10(2)) + 1} digits>"

    def repr_instance(self, x: Any, level: int) -> str:
        return _truncated(ascii(x), self.maxother)


_SHOWN = _Shown()
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = _SHOWN.maxset = 25
_SHOWN.maxstring = _SHOWN.maxother = 80


def shown(value: Any) -> str:
    """`value` as a message quotes it: at most about 80 characters, odd characters escaped."""
    return _SHOWN.repr(value)


def key_name(parent: str, key: Any) -> str:
    """The dotted name of `key` in section `parent`; a key that is not a plain name is quoted."""
    name = key if isinstance(key, str) and key.isidentifier() and key.isascii() else shown(key)
    return name if parent == PARAMS else f"{parent}.{name}"


def fail(key: str, value: Any, allowed: str) -> UserError:
    """The error for `key` holding `value` where only `allowed` is."""
    return UserError(f"{PARAMS}: {key} is {shown(value)}, but it must be {allowed}")


def section(key: str, raw: Any, names: list[str], listed: str = "") -> dict[Any, Any]:
    """`raw` as a mapping with exactly the keys `names`; `listed` says which they are where the
    names alone would not (a section per declared model, the keys of other kinds)."""
    listed = listed or ", ".join(names)
    if not isinstance(raw, dict):
        raise fail(key, raw, f"a mapping with the keys {listed}")
    unknown = sorted((k for k in raw if k not in names), key=str)
    if unknown:
        raise UserError(
            f"{PARAMS}: {key_name(key, unknown[0])} is not a known key; {key} takes {listed}"
        )
    missing = [n for n in names if n not in raw]
    if missing:
        raise UserError(f"{PARAMS}: {key_name(key, missing[0])} is missing; {key} needs {listed}")
    return raw


def build(cls: type[T], raw: Any, key: str, **given: Any) -> T:
    """Section `key` of params.yaml as a `cls`, each key checked by its type and bounds; `given`
    holds the fields of `cls` that are not keys of the section (a model's name)."""
    names = keys(cls)
    section(key, raw, names)
    declared = _types(cls)
    bounds = {f.name: f.metadata["bounds"] for f in dataclasses.fields(cls) if f.name in names}
    values = {n: check(key_name(key, n), raw[n], declared[n], bounds[n]) for n in names}
    return cls(**values, **given)


def check(key: str, value: Any, kind: Any, bounds: Bounds) -> Any:
    """`value` of `key` checked as type `kind` within `bounds`; returned as that type."""
    if kind is int:
        return check_int(key, value, bounds)
    if kind is float:
        return _check_number(key, value, bounds)
    if kind is str:
        if not isinstance(value, str) or not value:
            raise fail(key, value, _singular(kind, bounds))
        return value
    if typing.get_origin(kind) is Literal:
        if not any(type(value) is type(c) and value == c for c in typing.get_args(kind)):
            raise fail(key, value, _singular(kind, bounds))
        return value
    if typing.get_origin(kind) is list:
        return _check_list(key, value, typing.get_args(kind)[0], bounds)
    if dataclasses.is_dataclass(kind):
        return build(kind, value, key)
    raise TypeError(f"{key}: params of type {kind} are not supported")


def check_int(key: str, value: Any, bounds: Bounds) -> int:
    """An int (not a bool: `epochs: true` is a mistake, not 1) within `bounds`."""
    ge, le = bounds.ge, bounds.le
    if isinstance(value, bool) or not isinstance(value, int) or (ge is not None and value < ge):
        raise fail(key, value, _singular(int, bounds) + (f" and at most {_n(le)}" if le else ""))
    if le is not None and value > le:
        raise fail(key, value, f"an integer from {_n(ge)} to {_n(le)}{_why(bounds)}")
    return value


def _check_number(key: str, value: Any, b: Bounds) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    number = float(value) if ok else math.nan
    within = (
        math.isfinite(number)
        and (b.ge is None or number >= b.ge)
        and (b.gt is None or number > b.gt)
        and (b.le is None or number <= b.le)
        and (b.lt is None or number < b.lt)
    )
    if not within:
        raise fail(key, value, _singular(float, b))
    return number


def _check_list(key: str, value: Any, item: Any, b: Bounds) -> list[Any]:
    if not isinstance(value, list) or len(value) < b.shortest:
        raise fail(key, value, b.allowed or _list_phrase(item, b))
    if b.longest is not None and len(value) > b.longest:
        raise fail(key, value, f"a list of at most {b.longest} {b.noun} {LAPTOP}")
    each = dataclasses.replace(b, shortest=0, longest=None, unique=False, allowed="")
    items = [check(f"{key}[{i}]", v, item, each) for i, v in enumerate(value)]
    if b.unique and len(set(items)) != len(items):
        raise fail(key, value, b.allowed or _list_phrase(item, b))
    return items


def _n(bound: float | None) -> str:
    """A bound as a message writes it: an int in full (4294967295, not 4.29497e+09)."""
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _why(b: Bounds) -> str:
    return f" {b.why}" if b.why else ""


def _singular(kind: Any, b: Bounds) -> str:
    """What one value of type `kind` within `b` may be, as "a positive integer"."""
    if kind is int:
        return "a positive integer" if b.ge == 1 else f"an integer >= {_n(b.ge)}"
    if kind is float:
        return _number_phrase(b) + _why(b)
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if len(choices) == 1:
            return f"{choices[0]}{_why(b)}"
        return f"one of {', '.join(map(str, choices))}{_why(b)}"
    return f"a string{_why(b)}"


def _number_phrase(b: Bounds) -> str:
    if b.gt == 0:
        upper = f", at most {b.le:g}" if b.le is not None else f", below {b.lt:g}"
        return "a positive number" + (upper if b.le is not None or b.lt is not None else "")
    start = f"a number from {b.ge:g}" if b.ge is not None else "a number"
    if b.le is not None:
        return f"{start} to {b.le:g}"
    if b.lt is not None:
        return f"{start} to below {b.lt:g}"
    return f"a number >= {b.ge:g}" if b.ge is not None else start


def _list_phrase(item: Any, b: Bounds) -> str:
    if item is int:
        items = "positive integers" if b.ge == 1 else f"integers >= {_n(b.ge)}"
    elif typing.get_origin(item) is Literal:
        items = f"names among {', '.join(map(str, typing.get_args(item)))}"
    else:
        items = "strings"
    extra = (", not empty" if b.shortest else "") + (", without repeats" if b.unique else "")
    return f"a list of {items}{extra}{_why(b) if item is not int else ''}"
