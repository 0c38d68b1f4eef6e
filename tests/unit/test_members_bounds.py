"""Bounded input: regular files only, a size limit, a cap on cell length and on the
unpacked size of a workbook; and text read in slices gives the same records as a whole."""

from __future__ import annotations

import io
import itertools
import os
import zipfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import segwidgets._members as members_module
import segwidgets._sniff as sniff
from segwidgets import InputTooLargeError, UnreadableFileError, read_members
from segwidgets._cli_sync import EXIT_BAD_INPUT
from segwidgets._members import DEFAULT_MAX_BYTES, MAX_CELL_CHARS
from segwidgets.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


# -- files that are not files ------------------------------------------------------------------


def test_fifo_refused_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "members.csv"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFileError, match="not a regular file"):
        read_members(fifo)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_refused(device: str) -> None:
    with pytest.raises(UnreadableFileError, match="not a regular file"):
        read_members(device)


def test_directory_still_named_as_such(tmp_path) -> None:
    with pytest.raises(UnreadableFileError, match="is a directory"):
        read_members(tmp_path)


# -- size limit ----------------------------------------------------------------------------------


def emails_csv(n: int) -> bytes:
    return ("email\n" + "".join(f"user{i}@example.com\n" for i in range(n))).encode()


def test_default_limit_is_512_mib() -> None:
    assert DEFAULT_MAX_BYTES == 512 * 1024 * 1024


def test_file_over_the_limit(tmp_path) -> None:
    data = emails_csv(100)
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    with pytest.raises(InputTooLargeError) as info:
        read_members(path, max_bytes=len(data) - 1)
    assert info.value.size == len(data)
    assert info.value.limit == len(data) - 1
    assert "max_bytes" in str(info.value)
    assert "--max-input-mb" in str(info.value)
    assert read_members(path, max_bytes=len(data)).n_valid == 100
    assert read_members(path, max_bytes=None).n_valid == 100


def test_bytes_over_the_limit() -> None:
    data = emails_csv(50)
    with pytest.raises(InputTooLargeError):
        read_members(data, name="up.csv", max_bytes=len(data) - 1)
    assert read_members(data, name="up.csv", max_bytes=len(data)).n_valid == 50


def test_bad_limit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        read_members(["a@example.com"], max_bytes=0)


def zipped_workbook(unpacked: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", " " * unpacked)
    return buffer.getvalue()


def test_workbook_unpacking_over_the_limit(tmp_path) -> None:
    data = zipped_workbook(4 * 1024 * 1024)
    assert len(data) < 64 * 1024  # small on disk, large unpacked
    path = tmp_path / "book.xlsx"
    path.write_bytes(data)
    with pytest.raises(InputTooLargeError, match="unpacked"):
        read_members(path, max_bytes=1024 * 1024)
    with pytest.raises(InputTooLargeError, match="unpacked"):
        read_members(data, name="book.xlsx", max_bytes=1024 * 1024)


# -- cell and header length ------------------------------------------------------------------


def test_long_member_cell_rejects_its_row() -> None:
    long_value = "x" * (MAX_CELL_CHARS + 1) + "@example.com"
    text = f"email,name\na@example.com,A\n{long_value},B\nb@example.com,C\n"
    members = read_members(text.encode(), name="l.csv")
    assert members.keys.to_list() == ["a@example.com", "b@example.com"]
    assert members.rejected.get_column("row").to_list() == [2]
    reason = members.rejected.get_column("reason")[0]
    assert f"{MAX_CELL_CHARS:,} characters" in reason
    assert len(members.rejected.get_column("value")[0]) <= 81
    assert members.n_valid + members.n_rejected + members.n_duplicates + members.n_blank == 3


def test_long_cell_in_another_column_rejects_its_row() -> None:
    text = f"email,note\na@example.com,{'n' * (MAX_CELL_CHARS + 5)}\nb@example.com,ok\n"
    members = read_members(text.encode(), name="l.csv")
    assert members.keys.to_list() == ["b@example.com"]
    assert members.rejected.get_column("row").to_list() == [1]
    assert len(members.rejected.get_column("value")[0]) <= 81


def test_a_cell_of_exactly_the_cap_is_fine() -> None:
    value = "1" * MAX_CELL_CHARS
    members = read_members(f"customer_id\n{value}\n2\n".encode(), name="ids.csv")
    assert members.keys.to_list() == [value, "2"]


def test_long_value_in_a_frame_rejects_its_row() -> None:
    frame = pl.DataFrame({"customer_id": ["1", "9" * (MAX_CELL_CHARS + 1), "3"]})
    members = read_members(frame)
    assert members.keys.to_list() == ["1", "3"]
    assert members.rejected.get_column("row").to_list() == [2]


def test_long_header_is_an_error() -> None:
    text = f"{'h' * (MAX_CELL_CHARS + 1)},email\nx,a@example.com\n"
    with pytest.raises(UnreadableFileError, match="not a header"):
        read_members(text.encode(), name="h.csv")


# -- reading in slices -------------------------------------------------------------------------


def corpus_files() -> list[Path]:
    return sorted(
        p
        for p in CORPUS.iterdir()
        if p.suffix in {".csv", ".tsv", ".txt"} and not p.name.endswith(".expected.json")
    )


def outcome(path: Path) -> object:
    try:
        members = read_members(path)
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return type(exc).__name__, str(exc)
    return (
        members.valid.to_dicts(),
        members.rejected.to_dicts(),
        members.duplicates.to_dicts(),
        members.n_blank,
    )


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_corpus_reads_the_same_in_tiny_slices(monkeypatch, size: int) -> None:
    files = corpus_files()
    assert len(files) >= 10
    whole = {p.name: outcome(p) for p in files}
    monkeypatch.setattr(sniff, "CHUNK_BYTES", size)
    for path in files:
        assert outcome(path) == whole[path.name], path.name


ALPHABET = st.sampled_from(list('ab,;\t"\r\n é@x'))


@settings(max_examples=200, deadline=None)
@given(text=st.text(ALPHABET, min_size=1, max_size=40), size=st.integers(1, 9))
def test_slices_give_the_records_of_the_whole_text(text: str, size: int) -> None:
    data = text.encode("utf-8")

    def parse(chunk_size: int) -> object:
        try:
            parts, delimiter = sniff._parse_chunks(
                lambda: sniff._decoded_chunks(data, "utf-8", chunk_size), source="t.csv"
            )
        except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
            return type(exc).__name__
        return parts.fields().to_list(), delimiter

    assert parse(size) == parse(len(data))


def test_chunks_never_split_crlf() -> None:
    data = b"a\r\nb\r\nc\rd\ne"
    for size in range(1, len(data) + 1):
        chunks = list(sniff._decoded_chunks(data, "utf-8", size))
        assert "".join(chunks) == data.decode()
        assert all(
            not (c.endswith("\r") and n.startswith("\n")) for c, n in itertools.pairwise(chunks)
        )


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    # A session that never connects: reading the members fails before any request.
    for name, value in {
        "SHOPGATE_MERCHANT_CODE": "M",
        "SHOPGATE_CLIENT_ID": "c",
        "SHOPGATE_CLIENT_SECRET": "s",
        "SHOPGATE_USERNAME": "u@example.com",
        "SHOPGATE_PASSWORD": "p",
        "SHOPGATE_BASE_URL": "http://127.0.0.1:9/{service}",
        "SEGWIDGETS_JOURNAL": str(tmp_path / "journal.sqlite3"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SHOPGATE_ENV", raising=False)


@pytest.mark.usefixtures("offline_env")
def test_cli_members_dev_zero(capsys) -> None:
    assert main(["sync", "--segment", "vip", "--members", "/dev/zero"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "UnreadableFileError" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("offline_env")
def test_cli_max_input_mb(tmp_path, capsys) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(emails_csv(2000))
    args = ["sync", "--segment", "vip", "--members", str(path), "--max-input-mb", "0.01"]
    assert main(args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "InputTooLargeError" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("value", ["0", "-1", "nan", "x"])
def test_cli_max_input_mb_must_be_positive(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sync", "--segment", "vip", "--members", "x.csv", "--max-input-mb", value])
    assert info.value.code == 2
    assert "--max-input-mb" in capsys.readouterr().err


# -- the member column cut from each slice as it is split ---------------------------------------


def full_outcome(source: object, **options: object) -> object:
    """What ``read_members`` gives: every frame, count and name, or the error."""
    try:
        members = read_members(source, **options)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return type(exc).__name__, str(exc)
    return (
        members.kind,
        members.column,
        members.n_rows,
        members.n_blank,
        members.valid.to_dicts(),
        members.rejected.to_dicts(),
        members.duplicates.to_dicts(),
    )


def whole_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the reader keep the records whole (the reducer declines every file)."""
    monkeypatch.setattr(members_module._ColumnReducer, "start", lambda self, first, d: False)


@pytest.mark.parametrize("size", [1, 3, 64, 1 << 23])
def test_corpus_reads_the_same_whether_records_are_cut_or_whole(monkeypatch, size: int) -> None:
    files = corpus_files()
    monkeypatch.setattr(sniff, "CHUNK_BYTES", size)
    cut = {p.name: full_outcome(p) for p in files}
    whole_records(monkeypatch)
    for path in files:
        assert full_outcome(path) == cut[path.name], path.name


def test_a_named_member_column_is_cut_slice_by_slice(monkeypatch) -> None:
    seen: list[int] = []
    reduce = members_module._ColumnReducer.reduce

    def counted(self: object, records: pl.Series) -> pl.DataFrame:
        seen.append(records.len())
        return reduce(self, records)  # type: ignore[arg-type]

    monkeypatch.setattr(members_module._ColumnReducer, "reduce", counted)
    monkeypatch.setattr(sniff, "CHUNK_BYTES", 4096)
    # Past the first 64 KiB (read at once to find the delimiter), slices of 4 KiB.
    data = "name,email\n" + "".join(f"P {i},p{i}@example.com\n" for i in range(8000))
    members = read_members(data.encode())
    assert members.n_valid == 8000
    assert len(seen) > 20  # one call per slice, none holding every record
    assert max(seen) < 8000 / 2
    assert sum(seen) == 8001


CELL = st.text(st.sampled_from(list('ab@x. "\n;,')), max_size=6)
HEADERS = st.sampled_from(
    [["email", "name"], ["name", "E-Mail", ""], ["id", "city"], ["x", "y"], ["a@b.de", "q"]]
)


@settings(max_examples=150, deadline=None)
@given(
    header=HEADERS,
    rows=st.lists(st.lists(CELL, min_size=0, max_size=4), min_size=0, max_size=12),
    size=st.integers(1, 40),
    column=st.sampled_from([None, "name", "y"]),
)
def test_cut_and_whole_records_give_the_same_list(
    header: list[str], rows: list[list[str]], size: int, column: str | None
) -> None:
    def quoted(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in '",\n') else cell

    text = "\n".join(",".join(quoted(c) for c in row) for row in [header, *rows]) + "\n"
    data = text.encode("utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sniff, "CHUNK_BYTES", size)
        cut = full_outcome(data, column=column)
        whole_records(patch)
        assert full_outcome(data, column=column) == cut
