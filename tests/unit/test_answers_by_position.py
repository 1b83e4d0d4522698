"""AnswersByPosition (api/projection_reads.py): list pages kept with the read models'
mark they were read at (position, time written), found only at that mark and for the
same question."""

from __future__ import annotations

from api.projection_reads import AnswersByPosition


def test_an_answer_is_found_at_its_position_for_its_question_only() -> None:
    answers = AnswersByPosition(max_bytes=100)
    answers.put((7, "t"), ("security", 50), b"page")
    assert answers.get((7, "t"), ("security", 50)) == b"page"
    assert answers.get((8, "t"), ("security", 50)) is None  # the projection moved on
    assert answers.get((7, "u"), ("security", 50)) is None  # a rebuild switched at 7
    assert answers.get((7, "t"), ("security", 20)) is None  # another question


def test_the_least_recently_used_go_first_and_nothing_is_kept_beyond_the_bound() -> None:
    answers = AnswersByPosition(max_bytes=10)
    answers.put((1, "t"), "a", b"aaaa")
    answers.put((1, "t"), "b", b"bbbb")
    assert answers.get((1, "t"), "a") == b"aaaa"  # now the more recently used
    answers.put((1, "t"), "c", b"cccc")
    assert (answers.get((1, "t"), "a"), answers.get((1, "t"), "b"), answers.get((1, "t"), "c")) == (
        b"aaaa",
        None,
        b"cccc",
    )
    answers.put((1, "t"), "huge", b"x" * 11)  # larger than all kept: not kept, nothing evicted
    assert answers.get((1, "t"), "huge") is None and answers.get((1, "t"), "a") == b"aaaa"
