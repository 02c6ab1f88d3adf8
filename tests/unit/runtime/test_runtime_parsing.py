"""The stdlib-light parsers agree with urllib.parse (which the runtime avoids importing: ~10 ms)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote_plus

from hypothesis import given
from hypothesis import strategies as st

from multicloud.runtime.events import parse_time
from multicloud.runtime.http import parse_query, unquote

query_text = st.text(alphabet=st.sampled_from(list("ab=&%+2FfC3A9x ~é")), max_size=40)


@given(st.text(max_size=40))
def test_unquote_matches_urllib_on_any_text(text: str) -> None:
    assert unquote(text, plus=True) == unquote_plus(text)


@given(query_text)
def test_unquote_matches_urllib_on_percent_heavy_text(text: str) -> None:
    assert unquote(text, plus=True) == unquote_plus(text)


@given(query_text)
def test_parse_query_matches_parse_qs(text: str) -> None:
    expected = parse_qs(text, keep_blank_values=True)
    got = parse_query(text)
    # parse_qs drops pairs without "=" only in strict mode; both keep them as blank values
    assert {k: v for k, v in got.items()} == expected


def test_parse_time_forms() -> None:
    assert parse_time("2026-11-22T03:00:00Z").isoformat() == "2026-11-22T03:00:00+00:00"
    assert parse_time("2026-11-22T03:00:00.123456789Z").microsecond == 123456
    converted = parse_time("2026-11-22T03:00:00.5+01:00")
    assert (converted.hour, converted.microsecond, converted.utcoffset().total_seconds()) == (2, 500000, 0)
    assert parse_time(0).year == 1970
    assert parse_time("garbage").tzinfo is not None


def test_rfc3339_matches_datetime() -> None:
    from datetime import datetime, timezone

    from multicloud.runtime.invoke import rfc3339

    for stamp in (0.0, 1.5, 1_763_800_000.987, 1_763_800_001.0):
        expected = datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="milliseconds")
        assert rfc3339(stamp) == expected.replace("+00:00", "Z")


def test_query_and_cookies_are_parsed_on_first_access() -> None:
    from multicloud.runtime.http import HttpRequest

    req = HttpRequest("GET", "/", query="a=1&a=%20", cookies=["x=1", "y=2"])
    assert req.query == {"a": ["1", " "]} and req.cookies == {"x": "1", "y": "2"}
    req.query = {"b": ["2"]}
    assert req.query == {"b": ["2"]}
    assert HttpRequest(headers={"Cookie": "k=v"}).cookies == {"k": "v"}
