"""A column of words is not taken for customer ids; a list with no valid line is refused."""

from __future__ import annotations

import polars as pl
import pytest

import segwidgets as sw
from segwidgets._members import looks_like_ids, read_members, require_members

NAMES = ["Clara", "Ivan", "Mei", "Jonas", "Ana Lucia", "Tom"]


def test_words_do_not_look_like_ids():
    assert not looks_like_ids(pl.Series(NAMES))
    assert looks_like_ids(pl.Series(["8b1f0c2e-9d7a-4c1e-a1b2-000000000001", "12345", "c7"]))
    assert looks_like_ids(pl.Series(["", None], dtype=pl.String))
    assert not looks_like_ids(pl.Series(["yes", "no", "yes", "1"]))


def test_a_chosen_column_of_names_is_refused_with_the_right_column():
    frame = pl.DataFrame({"first_name": NAMES, "E-Mail": [f"p{i}@example.org" for i in range(6)]})
    with pytest.raises(sw.ColumnError) as caught:
        read_members(frame, column="first_name")
    text = str(caught.value)
    assert "first_name" in text
    assert "neither email addresses nor customer ids" in text
    assert "E-Mail" in text
    assert caught.value.columns == ["first_name", "E-Mail"]


def test_the_suggestion_comes_from_the_values_when_no_name_helps():
    frame = pl.DataFrame({"who": NAMES, "contact": [f"p{i}@example.org" for i in range(6)]})
    with pytest.raises(sw.ColumnError, match="contact"):
        read_members(frame, column="who")


def test_a_single_column_of_names_is_refused():
    with pytest.raises(sw.ColumnError, match="Choose the column"):
        read_members(b"name\nClara\nIvan\nMei\n", name="names.csv")


def test_asking_for_ids_explicitly_is_left_to_the_id_check():
    members = read_members(pl.DataFrame({"first_name": NAMES}), kind="customer_id")
    assert members.kind == "customer_id"
    assert members.n_valid == 5  # "Ana Lucia" holds a space


def test_a_list_of_only_invalid_emails_is_refused_like_an_empty_file():
    members = read_members(b"email\nnot-an-email\nalso bad\n@x\n", name="allbad.csv")
    assert members.n_valid == 0
    with pytest.raises(sw.EmptyFileError, match="none of the 3 data lines") as caught:
        require_members(members)
    assert "remove everyone" in str(caught.value)
    good = read_members(b"email\na@example.org\n", name="ok.csv")
    assert require_members(good) is good


def test_plan_and_resolve_refuse_a_list_without_members(sandbox, tmp_path):
    members = read_members(b"email\nnot-an-email\n", name="allbad.csv")
    with sw.SegmentSession(sandbox.credentials, journal=tmp_path / "j.sqlite3") as session:
        with pytest.raises(sw.EmptyFileError):
            session.resolve(members)
        with pytest.raises(sw.EmptyFileError):
            session.plan("vip", members)
