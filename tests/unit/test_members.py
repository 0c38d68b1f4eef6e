"""read_members: every input shape, column and kind rules, accounting, errors, privacy."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest
from _kit.members import assert_accounting
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from segwidgets._errors import (
    ColumnError,
    DuplicateHeaderError,
    EmptyFileError,
    HeaderOnlyError,
    InputFileError,
    UnknownEncodingError,
    UnreadableFileError,
)
from segwidgets._members import normalize_customer_ids, read_members
from segwidgets._sniff import _split_csv, _split_simple, decode_text, detect_delimiter

DATA = Path(__file__).resolve().parents[1] / "data"


def load_corpus_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", DATA / "make_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_corpus", module)
    spec.loader.exec_module(module)
    return module


def csv_bytes(*rows: str, newline: str = "\n") -> bytes:
    return (newline.join(rows) + newline).encode("utf-8")


# -- sources -----------------------------------------------------------------------------------


def test_reads_a_csv_path_as_str_and_path(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes("email", "a@example.com", "B@Example.com"))
    for source in (str(path), path):
        members = read_members(source)
        assert members.source == "list.csv"
        assert members.column == "email"
        assert members.kind == "email"
        assert members.keys.to_list() == ["a@example.com", "b@example.com"]


def test_reads_bytes_with_and_without_a_name() -> None:
    data = csv_bytes("E-Mail;Name", "a@example.com;A")
    assert read_members(data).source is None
    named = read_members(data, name="upload.csv")
    assert named.source == "upload.csv"
    assert named.keys.to_list() == ["a@example.com"]
    assert read_members(bytearray(data)).keys.to_list() == ["a@example.com"]


def test_reads_polars_frames_series_and_sequences() -> None:
    frame = pl.DataFrame({"Email": ["a@example.com", "A@example.com"], "n": [1, 2]})
    assert read_members(frame).keys.to_list() == ["a@example.com"]
    assert read_members(frame.lazy()).n_duplicates == 1
    named = read_members(pl.Series("customer_id", ["007", "008"]))
    assert (named.kind, named.column) == ("customer_id", "customer_id")
    assert named.keys.to_list() == ["007", "008"]
    unnamed = read_members(pl.Series(["x@example.com", None]))
    assert (unnamed.kind, unnamed.column, unnamed.n_blank) == ("email", None, 1)
    listed = read_members(["x@example.com", "y@example.com"])
    assert listed.column is None
    assert read_members(("x@example.com",)).keys.to_list() == ["x@example.com"]


def test_frames_with_integer_ids_become_strings() -> None:
    members = read_members(pl.DataFrame({"customerId": [10, 11, 10]}))
    assert members.kind == "customer_id"
    assert members.valid.schema["customer_id"] == pl.String
    assert members.keys.to_list() == ["10", "11"]


@pytest.mark.parametrize(
    ("values", "dtype"),
    [([1.5, 2.0], pl.Float64), ([True, False], pl.Boolean)],
)
def test_frames_with_non_text_columns_are_refused(values: list[object], dtype: pl.DataType) -> None:
    with pytest.raises(ColumnError, match="customer_id"):
        read_members(pl.DataFrame({"customer_id": pl.Series(values, dtype=dtype)}))


def test_categorical_columns_are_read_as_text() -> None:
    series = pl.Series("email", ["a@example.com"], dtype=pl.Categorical)
    assert read_members(series).keys.to_list() == ["a@example.com"]


def test_a_sequence_must_hold_strings() -> None:
    with pytest.raises(TypeError, match="int"):
        read_members([1, 2])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="source must be"):
        read_members(42)  # type: ignore[arg-type]


def test_parquet_from_path_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    pl.DataFrame({"Customer ID": ["0001", "0002", None]}).write_parquet(path)
    members = read_members(path)
    assert (members.kind, members.keys.to_list(), members.n_blank) == (
        "customer_id",
        ["0001", "0002"],
        1,
    )
    assert read_members(path.read_bytes()).keys.to_list() == ["0001", "0002"]


def test_broken_parquet_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(UnreadableFileError, match=r"broken\.parquet"):
        read_members(path)


def test_excel_by_path_bytes_and_sheet(tmp_path: Path) -> None:
    make_corpus = load_corpus_module()
    data = make_corpus.xlsx(
        [["E-Mail", "Kunde"], ["A@example.com", "00123"], ["b@example.com", "0042"]],
        sheet="Liste",
    )
    path = tmp_path / "book.xlsx"
    path.write_bytes(data)
    assert read_members(path).keys.to_list() == ["a@example.com", "b@example.com"]
    assert read_members(data, sheet="Liste").n_valid == 2
    assert read_members(data, sheet=1, column="Kunde").keys.to_list() == ["00123", "0042"]
    with pytest.raises(UnreadableFileError, match="sheet"):
        read_members(path, sheet="Other")


def test_a_corrupt_workbook_is_unreadable() -> None:
    with pytest.raises(UnreadableFileError, match=r"x\.xlsx"):
        read_members(b"PK\x03\x04 not a workbook", name="x.xlsx")


def test_missing_path_and_directory_are_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match=r"'nope\.csv' does not exist"):
        read_members(tmp_path / "nope.csv")
    with pytest.raises(UnreadableFileError, match="directory"):
        read_members(tmp_path)


# -- empty inputs never mean "remove everyone" -------------------------------------------------


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (b"", EmptyFileError),
        (b"\n \n\t\n", EmptyFileError),
        (b"email\n", HeaderOnlyError),
        (b"email\n\n \n", HeaderOnlyError),
        (b"name,email\nA,\nB, \n", EmptyFileError),
        ([], EmptyFileError),
        ([None, "  "], EmptyFileError),
        (pl.Series("email", [], dtype=pl.String), EmptyFileError),
        (pl.DataFrame({"email": []}, schema={"email": pl.String}), HeaderOnlyError),
    ],
)
def test_inputs_without_members_raise(source: object, error: type[InputFileError]) -> None:
    with pytest.raises(error) as caught:
        read_members(source)  # type: ignore[arg-type]
    assert type(caught.value) is error


# -- column and kind -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "email",
        "Email",
        "E-Mail",
        "e_mail",
        "emailAddress",
        "email_address",
        "Email Address",
        "mail",
        "EMAIL",
        "E-Mail-Adresse",
        "Customer Email",
    ],
)
def test_email_columns_are_found_by_name(name: str) -> None:
    data = csv_bytes(f"Name,{name},city", "A,a@example.com,B")
    members = read_members(data)
    assert (members.column, members.kind) == (name, "email")


@pytest.mark.parametrize("name", ["customer_id", "customerId", "id", "Customer ID", "CUSTOMER-ID"])
def test_id_columns_are_found_by_name(name: str) -> None:
    members = read_members(csv_bytes(f"{name},name", "00123,A"))
    assert (members.column, members.kind) == (name, "customer_id")
    assert members.keys.to_list() == ["00123"]


def test_email_column_wins_over_id_column() -> None:
    members = read_members(csv_bytes("id,email", "1,a@example.com"))
    assert (members.column, members.kind) == ("email", "email")


def test_kind_selects_among_email_and_id_columns() -> None:
    data = csv_bytes("id,email", "1,a@example.com")
    members = read_members(data, kind="customer_id")
    assert (members.column, members.keys.to_list()) == ("id", ["1"])


def test_several_candidates_or_none_raise_column_error_listing_columns() -> None:
    with pytest.raises(ColumnError) as caught:
        read_members(csv_bytes("Email,E-Mail,name", "a@example.com,b@example.com,c"))
    assert caught.value.columns == ["Email", "E-Mail", "name"]
    assert "'Email', 'E-Mail'" in str(caught.value)
    with pytest.raises(ColumnError) as caught:
        read_members(csv_bytes("name,city", "a,b"), name="people.csv")
    assert caught.value.columns == ["name", "city"]
    assert "people.csv" in str(caught.value)
    with pytest.raises(ColumnError, match="customer ids"):
        read_members(csv_bytes("email,name", "a@example.com,b"), kind="customer_id")


def test_column_is_matched_exactly_then_loosely() -> None:
    data = csv_bytes("Email,Work E-Mail", "a@example.com,b@work.example.com")
    assert read_members(data, column="Work E-Mail").keys.to_list() == ["b@work.example.com"]
    assert read_members(data, column="work_email").column == "Work E-Mail"
    with pytest.raises(ColumnError, match="no column 'other'") as caught:
        read_members(data, column="other")
    assert caught.value.columns == ["Email", "Work E-Mail"]


def test_kind_auto_decides_from_values_when_the_name_says_nothing() -> None:
    data = csv_bytes("Kontakt,Nummer", "a@example.com,17", "b@example.com,18")
    assert read_members(data, column="Kontakt").kind == "email"
    assert read_members(data, column="Nummer").kind == "customer_id"


def test_kind_email_on_an_unnamed_single_column() -> None:
    members = read_members(["not-an-address", "a@example.com"], kind="email")
    assert (members.n_valid, members.n_rejected) == (1, 1)


def test_bad_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        read_members(["a@example.com"], kind="phone")  # type: ignore[arg-type]


# -- headers -------------------------------------------------------------------------------------


def test_duplicate_header_is_refused() -> None:
    with pytest.raises(DuplicateHeaderError, match="'email'"):
        read_members(csv_bytes("email,name,email", "a@example.com,A,b@example.com"))


def test_a_plain_list_without_header_starts_with_data() -> None:
    members = read_members(csv_bytes("a@example.com", "b@example.com"))
    assert (members.column, members.n_rows, members.n_valid) == ("column_1", 2, 2)
    ids = read_members(csv_bytes("00017", "00018"), kind="customer_id")
    assert ids.keys.to_list() == ["00017", "00018"]


def test_a_single_word_first_line_is_a_header() -> None:
    members = read_members(csv_bytes("Newsletter", "a@example.com", "b@example.com"))
    assert (members.column, members.n_rows) == ("Newsletter", 2)


def test_headerless_file_with_several_columns() -> None:
    members = read_members(csv_bytes("Anna,a@example.com,1", "Ben,b@example.com,2", "Cy"))
    assert (members.column, members.kind, members.n_rows) == ("column_2", "email", 3)
    assert members.keys.to_list() == ["a@example.com", "b@example.com"]
    assert members.rejected["row"].to_list() == [3]
    assert "the first line has 3" in members.rejected["reason"][0]


def test_column_naming_the_first_line_makes_it_a_header() -> None:
    data = csv_bytes("a@example.com,note", "b@example.com,x")
    members = read_members(data, column="a@example.com")
    assert members.keys.to_list() == ["b@example.com"]


# -- rows -----------------------------------------------------------------------------------------


def test_row_report_frames_and_first_seen_order() -> None:
    data = csv_bytes(
        "email",
        "B@example.com",
        "",
        "a@example.com",
        "bad",
        " b@example.com ",
        "A@EXAMPLE.COM",
    )
    members = read_members(data)
    assert members.valid.rows() == [
        (1, "B@example.com", "b@example.com"),
        (3, "a@example.com", "a@example.com"),
    ]
    assert members.valid.schema == pl.Schema(
        {"row": pl.Int64, "value": pl.String, "email": pl.String}
    )
    assert members.rejected.rows() == [(4, "bad", "An email address must have an @-sign.")]
    assert members.duplicates.rows() == [
        (5, " b@example.com ", "b@example.com", 1),
        (6, "A@EXAMPLE.COM", "a@example.com", 3),
    ]
    assert members.duplicates.schema == pl.Schema(
        {"row": pl.Int64, "value": pl.String, "key": pl.String, "first_row": pl.Int64}
    )
    assert (members.n_rows, members.n_blank, len(members)) == (6, 1, 2)
    assert members.to_polars() is members.valid
    assert not members.is_empty()
    assert_accounting(members)


def test_all_rejected_is_an_empty_member_list_with_reasons() -> None:
    members = read_members(["bad", "worse"], kind="email")
    assert members.is_empty()
    assert members.n_rejected == 2
    assert_accounting(members)


def test_ragged_rows_are_rejected_and_trailing_empty_fields_tolerated() -> None:
    data = csv_bytes(
        "name,email", "A,a@example.com", "B, Jr.,b@example.com", "C", "D,d@example.com,,"
    )
    members = read_members(data)
    assert members.keys.to_list() == ["a@example.com", "d@example.com"]
    assert members.rejected["row"].to_list() == [2, 3]
    assert members.rejected["value"].to_list() == ["B, Jr.,b@example.com", "C"]
    assert all("field(s)" in r for r in members.rejected["reason"])
    assert_accounting(members)


def test_ids_are_stripped_strings_and_broken_ids_rejected() -> None:
    values = [
        "00123",
        " 00123 ",
        "=1+2",
        "+49",
        "-5",
        "@x",
        "a b",
        "a\u200bb",
        "4.5E+11",
        "x@y.de",
        "1e5",
        "",
    ]
    out = normalize_customer_ids(pl.Series(values))
    assert out["customer_id"].to_list() == ["00123", "00123", *[None] * 8, "1e5", None]
    reasons = out["reason"].to_list()
    assert reasons[0] is None
    assert "formula" in reasons[2]
    assert all("formula" in r for r in reasons[2:6])
    assert all("space" in r for r in reasons[6:8])
    assert "scientific" in reasons[8]
    assert "email" in reasons[9]
    assert reasons[11] == "The value is empty."


def test_formula_like_emails_are_just_validated() -> None:
    members = read_members(["=a@example.com", "+b@example.com", "=SUM(A1)"], kind="email")
    assert members.keys.to_list() == ["=a@example.com", "+b@example.com"]
    assert members.n_rejected == 1


# -- privacy -------------------------------------------------------------------------------------


def test_repr_has_counts_only_and_html_masks_addresses() -> None:
    members = read_members(
        csv_bytes("email", "jane.doe@example.com", "<b>@x", "jane.doe@example.com"), name="l.csv"
    )
    text = repr(members)
    assert "jane" not in text
    assert "n_valid=1" in text
    assert "n_rejected=1" in text
    page = members._repr_html_()
    assert "jane.doe" not in page
    assert "j***@e***.com" in page
    assert "<b>" not in page
    assert "1 &times;" in page


def test_messages_never_carry_an_address(tmp_path: Path) -> None:
    with pytest.raises(ColumnError) as caught:
        read_members(csv_bytes("name,jane@x", "a,b"), name="jane.doe@example.com.csv")
    message = str(caught.value)
    assert "jane@x" not in message
    assert "jane.doe@example.com" not in message
    path = tmp_path / "anna@example.com.csv"
    with pytest.raises(UnreadableFileError) as missing:
        read_members(path)
    assert "anna@example.com" not in str(missing.value)


def test_nothing_personal_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="segwidgets"):
        read_members(csv_bytes("email", "jane.doe@example.com", "broken@"), name="l.csv")
    assert caplog.records
    assert all(
        "jane" not in r.getMessage() and "broken" not in r.getMessage() for r in caplog.records
    )


# -- decoding and splitting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("email\nü@example.de\n".encode(), "utf-8"),
        ("\ufeffemail\n".encode(), "utf-8-sig"),
        ("\ufeffemail\nü\n".encode("utf-16-le"), "utf-16"),
        ("\ufeffemail\nü\n".encode("utf-16-be"), "utf-16"),
        ("email\nü€\n".encode("cp1252"), "cp1252"),
    ],
)
def test_decoding_is_strict_and_named(data: bytes, encoding: str) -> None:
    text, used = decode_text(data, source="f.csv")
    assert used == encoding
    assert text.startswith("email\n")
    assert "\ufeff" not in text


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"email\n\x81\n", UnknownEncodingError),
        (b"\xef\xbb\xbfemail\n\xff\n", UnknownEncodingError),
        (b"\xff\xfee\x00\x00\xd8", UnknownEncodingError),
        ("email\nabc@example.com\n".encode("utf-16-le"), UnknownEncodingError),
        (b"email\na\x00b\n", UnreadableFileError),
        (b"", EmptyFileError),
    ],
)
def test_undecodable_bytes_raise(data: bytes, error: type[InputFileError]) -> None:
    with pytest.raises(error, match=r"f\.csv"):
        decode_text(data, source="f.csv")


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("email,name\na,b\n", ","),
        ("email;name\na;b\n", ";"),
        ("email\tname\na\tb\n", "\t"),
        ("email\na@b.de\n", None),
        ("Name, first;E-Mail\nDoe, Jane;x@example.com\n", ";"),
        ('"a,b";c\n"d,e";f\n', ";"),
        ("email\na,b\n", None),
    ],
)
def test_delimiter_detection(text: str, delimiter: str | None) -> None:
    assert detect_delimiter(text) == delimiter


lines_text = st.text(alphabet='ab@ ",;\t\n\r', max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines_text, st.sampled_from([",", ";", "\t", None]))
@example('a,"b\nc",d\n', ",")
@example('"a""b",c\r\n"",x', ",")
@example('a"b,c\n', ",")
@example('"a"b,c\n', ",")
@example("a\r\rb\r\n", None)
def test_vectorised_split_matches_the_csv_module(text: str, delimiter: str | None) -> None:
    simple = _split_simple(text, delimiter)
    try:
        reference = _split_csv(text, delimiter, "t.csv").to_list()
    except UnreadableFileError:
        assert simple is None
        return
    if simple is not None:
        assert simple.to_list() == reference


def test_csv_parser_keeps_quoted_line_breaks_and_blank_lines() -> None:
    text = 'a,"b\nc"\r\n\r\n"d ""e""",\n'
    assert _split_csv(text, ",", "t.csv").to_list() == [["a", "b\nc"], [], ['d "e"', ""]]
    assert _split_simple(text, ",") is None
    with pytest.raises(UnreadableFileError, match="line 2"):
        _split_csv('a\n"b\n', None, "t.csv")
