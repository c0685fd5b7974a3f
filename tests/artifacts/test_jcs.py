"""RFC 8785 canonical bytes: golden examples, the fast path proven equal to rfc8785."""

from __future__ import annotations

import math
from typing import Any, cast

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from gait_runtime.artifacts.jcs import canonicalize, digest, short_id
from gait_runtime.errors import ArtifactInputError

# RFC 8785 §3.2.2 / appendix examples (number formatting, key ordering, escaping).
RFC_CASES = [
    (
        {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001]},
        b'{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}',
    ),
    (
        {"string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"},
        b'{"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    ),
    ({"literals": [None, True, False]}, b'{"literals":[null,true,false]}'),
    (
        {
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\U0001f600": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis",
        },
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'.encode(),
    ),
    ({"a": 3.0, "b": -0.0, "c": 1e21, "d": 1e-7}, b'{"a":3,"b":0,"c":1e+21,"d":1e-7}'),
]


@pytest.mark.parametrize(("value", "expected"), RFC_CASES)
def test_canonicalize_matches_rfc8785_examples(value: object, expected: bytes) -> None:
    """RFC 8785's own examples produce the documented bytes."""
    assert canonicalize(value) == expected


def test_digest_of_demo_args_matches_spec() -> None:
    """spec/runpack.md §4.2: args digest of the demo search intent."""
    assert digest({"query": "gait demo: offline verification"}) == (
        "33d148a7de89102bce5e2be136ca2acc3398ff9970a1f922faa3838eae837e3c"
    )


def test_short_id_is_first_24_hex() -> None:
    """signing.md §8: trace_id preimage gives the documented short id."""
    pre = (
        "1f8c29c91b9a51e56c370cd184135e3650b136f8c4ed7ce0fadfd8384874254d:"
        "9dd8919a8c1aa325f3ccb5e73ece835cd4da4b8d1da9e550393cb627a99025e1:allow"
    )
    assert short_id(pre) == "0b1a554c3e5c4c3a60a8490b"


@pytest.mark.parametrize("bad", [math.nan, math.inf, 2**60, {"x": object()}])
def test_canonicalize_rejects_non_json_values(bad: object) -> None:
    """Values outside the JSON/IEEE domain are an input error, never silently encoded."""
    with pytest.raises(ArtifactInputError):
        canonicalize(bad)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


def _encodable(value: object) -> bool:
    try:
        rfc8785.dumps(cast(Any, value))
    except Exception:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_path_is_byte_identical_to_rfc8785(value: object) -> None:
    """Whatever path canonicalize takes, the bytes equal the rfc8785 reference."""
    if not _encodable(value):
        with pytest.raises(ArtifactInputError):
            canonicalize(value)
        return
    assert canonicalize(value) == rfc8785.dumps(cast(Any, value))


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_canonical_bytes_round_trip(value: object) -> None:
    """Parsing canonical bytes (numbers as doubles, like Go) and canonicalising again is stable."""
    import json

    if not _encodable(value):
        return
    once = canonicalize(value)
    assert canonicalize(json.loads(once, parse_int=float)) == once


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_reference_encoder_gives_the_same_bytes(value: object) -> None:
    """After ``use_reference_encoder`` (everything through rfc8785): the same bytes, or
    the same error, as the fast path, for canonicalize and the intent digests' encoder."""
    from gait_runtime.artifacts import jcs
    from gait_runtime.gate._intent_parse import canonical_bytes

    def both() -> tuple[object, object]:
        out: list[object] = []
        for fn in (canonicalize, lambda v: canonical_bytes(v, True)):
            try:
                out.append(fn(value))
            except ArtifactInputError as exc:
                out.append(("error", exc.code))
        return out[0], out[1]

    fast = both()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jcs, "_reference_only", True)
        assert jcs.fast_encoder() is None or jcs._encode is not None
        reference = both()
    assert reference == fast


def test_a_reference_only_process_never_imports_msgspec() -> None:
    """The hook's mode: an intent digest without msgspec, equal to the fast path's."""
    import subprocess
    import sys

    from gait_runtime.gate.intent import normalize_intent

    intent = {
        "tool_name": "tool.read",
        "args": {"path": "/srv/a", "n": 3},
        "context": {"identity": "u", "workspace": "/w", "risk_class": "low"},
    }
    code = (
        "import json, sys\n"
        "from gait_runtime.artifacts.jcs import use_reference_encoder\n"
        "use_reference_encoder()\n"
        "from gait_runtime.gate.intent import normalize_intent\n"
        "n = normalize_intent(json.loads(sys.argv[1]), strip_context_claims=True)\n"
        "print(n.intent_digest, n.args_digest, 'msgspec' in sys.modules)\n"
    )
    import json

    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(intent)],
        capture_output=True,
        timeout=60,
        check=True,
        text=True,
    )
    expected = normalize_intent(intent, strip_context_claims=True)
    assert proc.stdout.split() == [expected.intent_digest, expected.args_digest, "False"]
