"""canonical_json takes the C json encoder's shortcut, yet writes exactly the bytes of the rfc8785 package."""

from __future__ import annotations

import math
import sys
from enum import IntEnum, StrEnum
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenlang.audit.chain import GENESIS_HASH
from greenlang.audit.events import AuditEvent
from greenlang.jsonvalue import _json_agrees, canonical_json, ensure_json, has_nul

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(value: Any) -> bytes | type[ValueError]:
    """What canonical_json answered before the shortcut: the package's bytes, or ValueError."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return ValueError


def ours(value: Any) -> bytes | type[ValueError]:
    try:
        return canonical_json(value)
    except ValueError:
        return ValueError


def _neighbours(x: float) -> list[float]:
    return [math.nextafter(x, -math.inf), x, math.nextafter(x, math.inf)]


AWKWARD_FLOATS = [
    y
    for x in (
        5e-324,  # smallest subnormal
        2.2250738585072014e-308,  # smallest normal
        1e-7,
        1e-6,
        1e-5,
        1e-4,
        0.1,
        0.5,
        1.0,
        1e15,
        1e16,
        1e17,
        2.0**52,
        2.0**53,
        1e20,
        1e21,
        1e22,
        1.7976931348623157e308,
    )
    for z in (x, -x)
    for y in _neighbours(z)
] + [0.0, -0.0, math.inf, -math.inf, math.nan, 333333333.3333333, 4.35, 1 / 3]

SAFE = 2**53 - 1
EDGE_INTS = [0, 1, -1, SAFE, -SAFE, SAFE - 1, SAFE + 1, -SAFE - 1, 2**53 + 1, -(2**53) - 1, 2**64, -(2**64), 10**400]

# Keys where UTF-16 order and code-point order disagree (U+E000..U+FFFF against astral characters),
# plus characters each encoder might escape differently.
KEY_CHARS = ["a", "B", "\ue000", "\uff61", "\ufb33", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "\u20ac", "\r"]
TEXT_CHARS = [
    "\x00",
    "\x01",
    "\x08",
    "\t",
    "\n",
    "\x0b",
    "\x0c",
    "\r",
    "\x1f",
    " ",
    '"',
    "\\",
    "/",
    "\x7f",
    "\x80",
    "\u00e9",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ue000",
    "\uffff",
    "\U0001f600",
    "u",
    "0",
]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]


class Colour(StrEnum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


def texts(surrogates: bool) -> st.SearchStrategy[str]:
    extra = SURROGATES if surrogates else []
    alphabet = st.one_of(st.sampled_from(TEXT_CHARS + extra), st.characters(exclude_categories=["Cs"]))
    return st.text(alphabet, max_size=8)


def keys(surrogates: bool) -> st.SearchStrategy[Any]:
    text_keys = st.text(st.sampled_from(KEY_CHARS + (SURROGATES if surrogates else [])), max_size=3)
    return st.one_of(text_keys, texts(surrogates), st.sampled_from([1, None, True, 1.5, Colour.RED]))


def json_like(surrogates: bool = False) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(EDGE_INTS),
        st.floats(),  # every magnitude, subnormals, NaN, infinities, -0.0
        st.sampled_from(AWKWARD_FLOATS),
        texts(surrogates),
        st.sampled_from([Colour.RED, Level.HIGH, b"bytes", (), (1, "x")]),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(keys(surrogates), children, max_size=6),
            st.dictionaries(st.text(st.sampled_from(KEY_CHARS), max_size=3), children, max_size=6),
            st.tuples(children),
        ),
        max_leaves=40,
    )


def shortcut_like() -> st.SearchStrategy[Any]:
    """Values mostly inside the shortcut's domain, and just outside it: where a wrong shortcut would show."""
    fraction = st.floats(min_value=1e-4, max_value=1e16, exclude_max=True).filter(lambda x: not x.is_integer())
    edges = [y for x in (1e-4, 2.0**52 - 0.5, 1e16) for z in (x, -x) for y in _neighbours(z)] + [SAFE + 1, -SAFE - 1]
    bmp = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=8)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-SAFE, SAFE),
        st.sampled_from([SAFE, -SAFE, 0]),
        fraction,
        fraction.map(lambda x: -x),
        texts(surrogates=False),
        bmp,
    )
    bmp_keys = st.text(st.sampled_from([c for c in KEY_CHARS if c <= "\uffff"]), max_size=3)
    return st.recursive(
        st.one_of(scalars, scalars, scalars, scalars, st.sampled_from(edges)),
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(st.one_of(bmp_keys, bmp), children, max_size=6),
        ),
        max_leaves=30,
    )


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shortcut_like())
def test_bytes_equal_the_rfc8785_package_near_the_shortcut(value: Any) -> None:
    assert ours(value) == reference(value)


@SETTINGS
@given(json_like())
def test_bytes_equal_the_rfc8785_package_or_both_refuse(value: Any) -> None:
    assert ours(value) == reference(value)


@SETTINGS
@given(json_like(surrogates=True))
def test_lone_surrogates_are_refused_exactly_when_the_package_refuses(value: Any) -> None:
    assert ours(value) == reference(value)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.floats(), st.sampled_from(AWKWARD_FLOATS), st.integers(-(2**60), 2**60)))
def test_numbers_of_every_magnitude_match(number: float | int) -> None:
    assert ours(number) == reference(number)
    assert ours([number, {"n": number}]) == reference([number, {"n": number}])


@SETTINGS
@given(st.dictionaries(st.text(st.sampled_from(KEY_CHARS), max_size=4), st.integers(0, 9), min_size=2, max_size=12))
def test_object_keys_sort_by_utf16_code_units(value: dict[str, int]) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, False, None], "": "x"}, b'{"":"x","a":[true,false,null],"b":1}'),
        ({}, b"{}"),
        ([], b"[]"),
        ([{}, [[]], ""], b'[{},[[]],""]'),
        ("\x00\x01\b\t\n\x0b\f\r\x1f", b'"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f"'),
        ('"\\/\x7f', b'"\\"\\\\/\x7f"'),
        ("\u2028\u2029\u00e9\U0001f600", b'"\xe2\x80\xa8\xe2\x80\xa9\xc3\xa9\xf0\x9f\x98\x80"'),
        (1e21, b"1e+21"),
        (1e20, b"100000000000000000000"),
        (1e16, b"10000000000000000"),
        (1e-7, b"1e-7"),
        (1e-6, b"0.000001"),
        (-0.0, b"0"),
        (123.0, b"123"),
        (4.5, b"4.5"),
        (333333333.3333333, b"333333333.3333333"),
        (5e-324, b"5e-324"),
        (1.7976931348623157e308, b"1.7976931348623157e+308"),
        (2.0**53, b"9007199254740992"),
        (2**53 - 1, b"9007199254740991"),
        (-(2**53 - 1), b"-9007199254740991"),
        # RFC 8785 section 3.2.3: U+1F600 (D83D DE00 in UTF-16) sorts before U+FB33.
        (
            {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7},
            '{"\\r":2,"1":4,"\u0080":6,"\u00f6":7,"\u20ac":1,"\U0001f600":5,"\ufb33":3}'.encode(),
        ),
    ],
)
def test_hand_checked_examples(value: Any, expected: bytes) -> None:
    assert canonical_json(value) == expected
    assert rfc8785.dumps(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        {"x": -math.inf},
        2**53,
        -(2**53),
        [10**400],
        {1: "a"},
        {None: "a"},
        {"a": {True: 1}},
        "\ud800",
        {"\udfff": 1},
        {"a", "b"},
        b"x",
        object(),
    ],
)
def test_values_without_a_canonical_form_raise_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="not canonical JSON"):
        canonical_json(value)


def test_nesting_deeper_than_the_shortcut_goes_to_the_package() -> None:
    value: Any = "leaf"
    for depth in range(300):
        value = [value] if depth % 2 else {"k": value, "a": depth}
    assert not _json_agrees(value)
    assert canonical_json(value) == rfc8785.dumps(value)


def test_a_cyclic_value_fails_instead_of_looping() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    limit = sys.getrecursionlimit()
    with pytest.raises((RecursionError, ValueError)):
        canonical_json(cycle)
    assert sys.getrecursionlimit() == limit


def test_an_audit_event_body_takes_the_shortcut() -> None:
    """The speed-up exists only if what the chain hashes qualifies; a change to the event shape could lose it."""
    event = AuditEvent(
        event_type="report.exported",
        user_id="alice",
        resource="reports:acme:2026:q3",
        action="export",
        result="success",
        details={"format": "pdf", "pages": 42, "share": 0.25, "tags": ["scope1", "lyon"], "before": None},
        ip_address="192.168.1.100",
        sequence=12,
    )
    body = event.hashed_fields()
    body["previous_hash"] = GENESIS_HASH
    assert _json_agrees(body)
    assert canonical_json(body) == rfc8785.dumps(body)


@SETTINGS
@given(json_like())
def test_has_nul_sees_a_nul_in_any_key_or_string_and_nothing_else(value: Any) -> None:
    try:
        canonical = canonical_json(value)
    except ValueError:
        return
    assert has_nul(canonical) == _nul(value)


def _nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul(k) or _nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_nul(item) for item in value)
    return False


@pytest.mark.parametrize(
    ("text", "nul"),
    [
        ("\x00", True),
        ("a\x00b", True),
        ("\\u0000", False),  # the six characters \u0000, written as \\u0000
        ("\\\x00", True),  # a backslash, then NUL: \\\u0000
        ("\\\\u0000", False),
        ("\\\\\x00", True),
        ("u0000", False),
    ],
)
def test_has_nul_tells_a_nul_from_its_escape_written_as_text(text: str, nul: bool) -> None:
    assert has_nul(canonical_json({text: text})) is nul
    assert has_nul(canonical_json({"k": [text]})) is nul


def test_ensure_json_refuses_a_nul_anywhere() -> None:
    for value in ({"a\x00": 1}, {"a": ["x", {"b": "\x00"}]}, "\x00"):
        with pytest.raises(ValueError, match=r"contains a NUL character \(U\+0000\), which stores cannot keep"):
            ensure_json(value)
    assert ensure_json({"text": "\\u0000"}) == {"text": "\\u0000"}
