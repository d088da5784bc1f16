"""The bundle format: requests and answers read back as written, answers however their bytes
are cut on the way, and nothing else taken for a bundle."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from servegate import invocation_bundles as bundles
from servegate.invocation_bundles import AnswerReader, BadBundle, BundledAnswer

_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20)
_HEADERS = st.dictionaries(_NAMES, st.text(max_size=30), max_size=4)
_ANSWERS = st.lists(
    st.builds(BundledAnswer, st.integers(100, 599), _HEADERS, st.binary(max_size=300)),
    min_size=1,
    max_size=bundles.MAX_REQUESTS,
)


@given(st.lists(st.tuples(_HEADERS, st.binary(max_size=300)), min_size=1, max_size=64))
def test_requests_read_back_as_written(requests: list[tuple[dict[str, str], bytes]]) -> None:
    read = bundles.unpack_requests(bundles.pack_requests(requests))
    assert [(request.headers, request.body) for request in read] == requests


@given(_ANSWERS, st.data())
def test_answers_read_back_in_any_order_however_their_bytes_are_cut(
    answers: list[BundledAnswer], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(answers))))
    stream = b"".join(bundles.pack_answer(index, answers[index]) for index in order)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = AnswerReader(len(answers))
    read = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        read += reader.feed(stream[start:end])
    assert read == [(index, answers[index]) for index in order]
    assert not reader.unanswered


@pytest.mark.parametrize(
    "entry",
    [
        [2, 200, {}, b""],
        [0, 200, {}, b""],
        [-1, 200, {}, b""],
        [[0], 200, {}, b""],
        [1, "200", {}, b""],
        [1, 200, {"a": 1}, b""],
        [1, 200, {}, "text"],
        [1, 200, {}],
    ],
    ids=[
        "out-of-range",
        "twice",
        "negative",
        "list-index",
        "str-status",
        "int-header",
        "str-body",
        "short",
    ],
)
def test_an_answer_out_of_place_or_shape_is_not_read(entry: list[object]) -> None:
    reader = AnswerReader(2)
    reader.feed(bundles.pack_answer(0, BundledAnswer(200, {}, b"{}")))
    with pytest.raises(BadBundle):
        reader.feed(msgpack.packb(entry))


def test_bytes_that_are_not_messagepack_are_not_read() -> None:
    with pytest.raises(BadBundle):
        AnswerReader(1).feed(b"\xc1")
    with pytest.raises(BadBundle):
        bundles.unpack_requests(b"\xc1")
