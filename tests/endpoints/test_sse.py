"""The incremental SSE parser: line endings, splits, comments, bad bytes, EOF."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.endpoints.sse import SSEEvent, SSEParser, parse_all


def feed_split(data: bytes, cuts: list[int]) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    prev = 0
    for c in sorted(set(x for x in cuts if 0 < x < len(data))):
        out += p.feed(data[prev:c])
        prev = c
    out += p.feed(data[prev:])
    out += p.close()
    return out


def test_basic_events_and_fields():
    data = b"event: ping\ndata: {}\n\nid: 7\ndata: a\ndata:b\n\n: comment\nretry: 100\ndata: c\n\n"
    ev = parse_all(data)
    assert [e.data for e in ev] == ["{}", "a\nb", "c"]
    assert ev[0].event == "ping" and ev[1].event == "message"
    assert ev[1].id == "7" and ev[2].id == "7"
    assert ev[2].retry == 100


def test_line_endings_crlf_cr_lf_mixed():
    for sep in (b"\n", b"\r\n", b"\r"):
        data = b"data: x" + sep + b"data: y" + sep + sep + b"data: z" + sep + sep
        assert [e.data for e in parse_all(data)] == ["x\ny", "z"], sep


def test_crlf_split_between_chunks_is_one_line_ending():
    p = SSEParser()
    out = p.feed(b"data: a\r")
    out += p.feed(b"\n\r")
    out += p.feed(b"\ndata: b\r\n\r\n")
    assert [e.data for e in out] == ["a", "b"]


def test_multibyte_char_split_across_chunks():
    data = "data: héllo ✓ 日本\n\n".encode()
    for i in range(1, len(data)):
        assert [e.data for e in feed_split(data, [i])] == ["héllo ✓ 日本"]


def test_invalid_utf8_is_replaced():
    ev = parse_all(b"data: ok \xff\xfe done\n\n")
    assert ev[0].data.startswith("ok ") and "\ufffd" in ev[0].data and ev[0].data.endswith(" done")


def test_stream_ending_without_blank_line_or_newline():
    assert [e.data for e in parse_all(b"data: a\n\ndata: last")] == ["a", "last"]
    assert [e.data for e in parse_all(b"data: a\n\ndata: last\n")] == ["a", "last"]


def test_comments_empty_data_and_unknown_fields():
    ev = parse_all(b":keep-alive\n\nfoo: bar\n\ndata\n\ndata:\n\nevent: x\n\n")
    assert [e.data for e in ev] == ["", ""]      # "data" alone and "data:" are empty data


def test_bom_dropped_and_field_without_space():
    ev = parse_all(b"\xef\xbb\xbfdata:x\n\n")
    assert ev == [SSEEvent(data="x")]


def test_no_events_after_close_and_empty_feed():
    p = SSEParser()
    assert p.feed(b"") == []
    assert p.feed(b"data: 1\n\n")[0].data == "1"
    assert p.close() == []
    assert p.feed(b"data: 2\n\n") == []


def test_many_lines_in_one_chunk_is_linear():
    data = b"".join(b"data: %d\n\n" % i for i in range(20000))
    ev = parse_all(data)
    assert len(ev) == 20000 and ev[-1].data == "19999"


# ---------------------------------------------------------------- properties

_line = st.one_of(
    st.builds(lambda s: b"data: " + s, st.binary(max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b)),
    st.sampled_from([b"", b": comment", b"event: delta", b"id: 3", b"retry: 5", b"data", b"data:x"]),
    st.binary(max_size=10),
)
_sep = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def streams(draw):
    lines = draw(st.lists(st.tuples(_line, _sep), max_size=25))
    return b"".join(a + b for a, b in lines)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_split_anywhere_equals_unsplit(data, cuts):
    assert feed_split(data, cuts) == parse_all(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=30))
def test_random_bytes_never_crash_and_split_invariant(data, cuts):
    whole = parse_all(data)
    assert feed_split(data, cuts) == whole
    for e in whole:
        assert isinstance(e.data, str)


@settings(max_examples=200, deadline=None)
@given(streams(), st.integers(min_value=0, max_value=10**6), st.binary(min_size=1, max_size=4))
def test_mutated_streams_split_invariant(data, pos, junk):
    i = pos % (len(data) + 1)
    mutated = data[:i] + junk + data[i:]
    cuts = list(range(1, len(mutated), 3))
    assert feed_split(mutated, cuts) == parse_all(mutated)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=20).filter(lambda s: "\r" not in s and "\n" not in s), min_size=1, max_size=8),
       st.lists(st.integers(min_value=0, max_value=200), max_size=15))
def test_data_roundtrip(payloads, cuts):
    data = b"".join(b"data: " + p.encode() + b"\n\n" for p in payloads)
    got = [e.data for e in feed_split(data, cuts)]
    assert got == payloads
