"""Turning the bytes of a delimited text file into records of string fields.

Decoding is deterministic and lossless: a UTF-8 or UTF-16 byte-order mark decides; without
one the bytes must be valid UTF-8, or else valid cp1252 (Windows' Western European code
page). Nothing is ever replaced or guessed away.

Line endings may be LF, CRLF or CR. The delimiter is given by Excel's ``sep=`` first line,
or chosen among comma, semicolon and tab by how consistently it splits the first lines; a
file none of them splits is one column. Quoting follows RFC 4180 (``"a, b"``, ``""`` for a
quote, line breaks inside quotes). Every field stays a string.

Two parsers give the same records: a vectorised one (polars) for files where each line is
one record and quotes, if any, enclose whole fields, and Python's :mod:`csv` for the rest.

Large inputs are decoded and split in slices of about 8 MiB that end at a line break, so
the whole text never exists as one string beside the bytes: what is held at once is the
bytes, the records built so far and one slice. A reader that needs only part of each
record (one column) passes a :class:`PartReducer`: each slice's records are cut down to
what it keeps as soon as they are split, so all the records never exist at once either.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from ._errors import EmptyFileError, UnknownEncodingError, UnreadableFileError
from ._privacy import mask_emails_in

__all__ = [
    "PartReducer",
    "Records",
    "decode_text",
    "detect_delimiter",
    "parse_text",
    "read_text_records",
]

_CANDIDATES = ("\t", ";", ",")
_SAMPLE_LINES = 64
_SAMPLE_CHARS = 1 << 16
_SEP_LINE = re.compile(r"\A[\"']?sep=([^\r\n])[\"']?[,;\t]*(?:\r\n|\r|\n|\Z)", re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
# Control characters that may stand in for "no delimiter" when a file is read line by line.
_SPARE_BYTES = tuple(chr(c) for c in [*range(1, 9), *range(14, 28)])
_NOT_BLANK = re.compile(r"\S")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*(?:\r\n|\r|\n))+")
_SIMPLE_DELIMITERS = frozenset(",;\t|: ")
#: Bytes decoded and split per step.
CHUNK_BYTES = 1 << 23
_CSV_BATCH_ROWS = 1 << 16


class PartReducer(Protocol):
    """Cuts the records of each slice down to what a reader keeps, as they are split.

    ``start`` sees the first slice's records (the first record is the header or data) and
    the delimiter, and says whether it can work slice by slice (False: the records are kept
    whole, as without a reducer). ``reduce`` then gets every slice's records in order, the
    first slice included, and returns a frame; the frames are concatenated. ``start`` is
    called again, from the first slice on, when the file has to be parsed a second way.
    """

    def start(self, first: pl.Series, delimiter: str | None) -> bool: ...

    def reduce(self, records: pl.Series) -> pl.DataFrame: ...


@dataclass(frozen=True)
class Records:
    """The records of a text table, from the first non-blank one on.

    ``fields`` is a ``List(String)`` Series, one entry per record; a blank line is an empty
    list. When a :class:`PartReducer` worked slice by slice, ``fields`` is None and
    ``reduced`` holds its frames, concatenated. ``delimiter`` is None for a one-column file;
    ``encoding`` names the decoding used.
    """

    fields: pl.Series | None
    delimiter: str | None
    encoding: str
    reduced: pl.DataFrame | None = None


def read_text_records(
    data: bytes, *, source: str | None, reducer: PartReducer | None = None
) -> Records:
    """Decode, find the delimiter and split ``data`` into records (see the module docstring)."""
    encoding = _check_encoding(data, source=source)
    parts, delimiter = _parse_chunks(
        lambda: _decoded_chunks(data, encoding, CHUNK_BYTES), source=source, reducer=reducer
    )
    if parts.reducing:
        return Records(fields=None, delimiter=delimiter, encoding=encoding, reduced=parts.reduced())
    return Records(fields=parts.fields(), delimiter=delimiter, encoding=encoding)


class _Parts:
    """The records split so far: kept whole, or cut down by a reducer slice by slice."""

    def __init__(self, reducer: PartReducer | None, delimiter: str | None) -> None:
        self._reducer = reducer
        self._delimiter = delimiter
        self.reducing = False
        self._started = False
        self._items: list[pl.Series] = []
        self._frames: list[pl.DataFrame] = []

    def add(self, fields: pl.Series) -> None:
        if not self._started:
            if fields.len() == 0:
                return  # nothing to keep, and no first record to start from
            self._started = True
            self.reducing = self._reducer is not None and self._reducer.start(
                fields, self._delimiter
            )
        if self.reducing:
            assert self._reducer is not None  # reducing only with a reducer
            self._frames.append(self._reducer.reduce(fields))
        else:
            self._items.append(fields)

    def clear(self) -> None:
        self._items.clear()
        self._frames.clear()
        self._started = False
        self.reducing = False

    def fields(self) -> pl.Series:
        return _concat(self._items)

    def reduced(self) -> pl.DataFrame:
        return pl.concat(self._frames, rechunk=False)


def decode_text(data: bytes, *, source: str | None) -> tuple[str, str]:
    """The text of ``data`` and the name of its encoding, decoded strictly.

    Raises :class:`EmptyFileError` for no bytes, :class:`UnknownEncodingError` when no
    supported encoding fits, :class:`UnreadableFileError` for NUL characters (a binary file,
    or UTF-16 without a byte-order mark).
    """
    encoding = _check_encoding(data, source=source)
    return "".join(_decoded_chunks(data, encoding, len(data))), encoding


def parse_text(text: str, *, source: str | None) -> tuple[pl.Series, str | None]:
    """Records (``List(String)``) from the first non-blank line on, and the delimiter used."""
    parts, delimiter = _parse_chunks(lambda: iter([text]), source=source)
    return parts.fields(), delimiter


def _check_encoding(data: bytes, *, source: str | None) -> str:
    """The codec that decodes ``data`` (``utf-8-sig`` drops a UTF-8 byte-order mark).

    The whole input is decoded once, slice by slice, to prove the encoding fits; the
    decoded slices are dropped at once.
    """
    name = _display(source)
    if not data:
        raise EmptyFileError(
            f"{name} is empty (0 bytes). Choose the file with the members.", source=source
        )
    if data.startswith(_UTF8_BOM):
        encoding = "utf-8-sig"  # the codec drops the byte-order mark
        has_nul = _validate(data, encoding, source, strict=True)
    elif data.startswith(_UTF16_BOMS):
        encoding = "utf-16"
        has_nul = _validate(data, encoding, source, strict=True)
    else:
        nul = _validate(data, "utf-8", source, strict=False)
        if nul is None:
            encoding = "cp1252"
            has_nul = _validate(data, encoding, source, strict=True)
        else:
            encoding, has_nul = "utf-8", nul
    if has_nul:
        if _looks_like_utf16(data):
            raise UnknownEncodingError(
                f"{name} looks like UTF-16 without a byte-order mark, which cannot be read "
                "reliably. Save it again as UTF-8 (CSV UTF-8 in Excel).",
                source=source,
            )
        raise UnreadableFileError(
            f"{name} contains NUL bytes, so it is not a text table (a binary file, such as a "
            "spreadsheet saved under a .csv name?). Export it as CSV (UTF-8) and try again.",
            source=source,
        )
    return encoding


def _validate(data: bytes, encoding: str, source: str | None, *, strict: bool) -> bool | None:
    """Whether the decoded text holds a NUL; None when it does not decode and not ``strict``."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    view = memoryview(data)
    has_nul = False
    position = 0
    end = len(data)
    while True:
        stop = min(position + CHUNK_BYTES, end)
        try:
            piece = decoder.decode(view[position:stop], stop >= end)
        except UnicodeDecodeError as exc:
            if not strict:
                return None
            raise UnknownEncodingError(
                f"{_display(source)} is not valid {encoding} (byte {position + exc.start} cannot "
                "be decoded) and no other supported encoding (UTF-8, UTF-16 with byte-order "
                "mark, cp1252) fits. Save it again as CSV UTF-8.",
                source=source,
            ) from None
        has_nul = has_nul or "\x00" in piece
        del piece
        if stop >= end:
            return has_nul
        position = stop


def _decoded_chunks(data: bytes, encoding: str, size: int) -> Iterator[str]:
    """The text of ``data`` (already validated) in slices that end at a line break.

    A slice never ends between CR and LF. A leading U+FEFF (a byte-order mark) is dropped.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    view = memoryview(data)
    carry = ""
    first = True
    position = 0
    end = len(data)
    while position < end:
        stop = min(position + size, end)
        text = carry + decoder.decode(view[position:stop], stop >= end)
        position = stop
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        if position >= end:
            carry = text
            break
        limit = len(text) - 1 if text.endswith("\r") else len(text)
        cut = max(text.rfind("\n", 0, limit), text.rfind("\r", 0, limit)) + 1
        if cut == 0:
            carry = text
            continue
        carry = text[cut:]
        yield text[:cut]
    if carry:
        yield carry


def _parse_chunks(
    make_chunks: Callable[[], Iterator[str]],
    *,
    source: str | None,
    reducer: PartReducer | None = None,
) -> tuple[_Parts, str | None]:
    """Records from slices of text (see ``_decoded_chunks``); ``make_chunks`` may be called
    a second time when the file needs the whole-file CSV parser."""
    delimiter, chunks = _start(make_chunks(), source=source, delimiter=None)
    parts = _Parts(reducer, delimiter)
    for chunk in chunks:
        fields = _split_simple(chunk, delimiter)
        if fields is None:
            parts.clear()
            break
        parts.add(fields)
    else:
        return parts, delimiter
    # The CSV parser sees the same text from the start again.
    _, chunks = _start(make_chunks(), source=source, delimiter=delimiter)
    _split_csv_chunks(chunks, delimiter, source, make_chunks, parts)
    return parts, delimiter


def _start(
    chunks: Iterator[str], *, source: str | None, delimiter: str | None
) -> tuple[str | None, Iterator[str]]:
    """Skip Excel's ``sep=`` line and leading blank lines; find the delimiter (unless given).

    Returns the delimiter and the slices from the first non-blank line on.
    """
    head = next(chunks, "")
    match = _SEP_LINE.match(head)
    if match:
        delimiter = match.group(1)
        head = head[match.end() :]
    head = _drop_leading_blank_lines(head)
    while not _NOT_BLANK.search(head):
        following = next(chunks, None)
        if following is None:
            raise EmptyFileError(
                f"{_display(source)} holds no data: only blank lines. Choose the file with the "
                "members.",
                source=source,
            )
        head = _drop_leading_blank_lines(head + following)
    if not match and delimiter is None:
        while len(head) <= _SAMPLE_CHARS:
            following = next(chunks, None)
            if following is None:
                break
            head += following
        delimiter = detect_delimiter(head)
    return delimiter, itertools.chain([head], chunks)


def _concat(parts: list[pl.Series]) -> pl.Series:
    if not parts:
        return pl.Series("fields", [], dtype=pl.List(pl.String))
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts, rechunk=False)


def detect_delimiter(text: str) -> str | None:
    """Tab, semicolon or comma, whichever splits the first lines most consistently.

    The first record decides the width; a candidate scores by the share of the following
    non-blank sample records that have that width (then by width, then tab > ; > ,). None
    when no candidate splits the first record: a one-column file.
    """
    head = _LINE_BREAK.split(text[: _SAMPLE_CHARS + 1])
    if len(text) > _SAMPLE_CHARS:
        head = head[:-1]  # the last line may be cut short
    sample = "\n".join(head[:_SAMPLE_LINES])
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for rank, candidate in enumerate(reversed(_CANDIDATES)):
        if candidate not in sample:
            continue
        rows = [
            row for row in csv.reader(io.StringIO(sample, newline=""), delimiter=candidate) if row
        ]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        rest = rows[1:]
        share = sum(len(row) == width for row in rest) / len(rest) if rest else 1.0
        score = (share, width, rank)
        if best is None or score > best:
            best, chosen = score, candidate
    return chosen


# -- the two parsers ---------------------------------------------------------------------------


def _split_simple(text: str, delimiter: str | None) -> pl.Series | None:
    """Split line by line with polars, or None when the file needs a whole-file CSV parse.

    Lines without quotes, and lines whose quotes only wrap whole fields, are split in
    polars. Other lines with quotes are parsed one by one with :mod:`csv`; if one of them
    fails alone (it opens a quote the next line closes, or is malformed), the whole file
    goes to :func:`_split_csv`, which has the last word.
    """
    spare = list(itertools.islice((c for c in _SPARE_BYTES if c not in text), 2))
    if len(spare) < 2 or (delimiter is not None and delimiter not in _SIMPLE_DELIMITERS):
        return None
    separator, joiner = spare
    lines = _read_lines(text, separator)
    if lines.str.contains("\r", literal=True).any():
        # Bare CR line endings (polars itself reads LF and CRLF).
        lines = _read_lines(text.replace("\r\n", "\n").replace("\r", "\n"), separator)
    clean = lines
    complex_rows: pl.Series | None = None
    parsed: list[str] = []
    if '"' in text:
        quoted = lines.str.contains('"', literal=True)
        simple = lines.str.contains(_simply_quoted(delimiter))
        complex_rows = (quoted & ~simple).arg_true()
        for line in lines.gather(complex_rows):
            reader = csv.reader([line], delimiter=delimiter or joiner, strict=True)
            try:
                parsed.append(joiner.join(next(reader)))
            except csv.Error:
                return None
        clean = clean.str.replace_all('"', "", literal=True)
    if delimiter is not None:
        clean = clean.str.replace_all(delimiter, joiner, literal=True)
    if complex_rows is not None and complex_rows.len() > 0:
        clean = clean.scatter(complex_rows, pl.Series(parsed, dtype=pl.String))
    return (
        pl.DataFrame({"line": lines, "clean": clean})
        .select(
            fields=pl.when(pl.col("line").str.len_bytes() == 0)
            .then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(pl.col("clean").str.split(joiner))
        )
        .get_column("fields")
    )


def _simply_quoted(delimiter: str | None) -> str:
    """A line whose quotes, if any, wrap whole fields that hold no quote or delimiter."""
    if delimiter is None:
        return r'^(?:"[^"]*"|[^"]*)$'
    field = f'(?:"[^"{delimiter}]*"|[^"{delimiter}]*)'
    return f"^{field}(?:[{delimiter}]{field})*$"


def _read_lines(text: str, separator: str) -> pl.Series:
    """Each line of ``text`` as one string, blank lines included (``separator`` is absent)."""
    return pl.read_csv(
        text.encode("utf-8"),
        has_header=False,
        separator=separator,
        quote_char=None,
        infer_schema=False,
        empty_string_is_null=False,
        schema={"line": pl.String},
        raise_if_empty=False,
    ).get_column("line")


def _split_csv(text: str, delimiter: str | None, source: str | None) -> pl.Series:
    """Python's csv module: quoted line breaks, doubled quotes; malformed quoting is an error."""
    parts = _Parts(None, delimiter)
    _split_csv_chunks(iter([text]), delimiter, source, lambda: iter([text]), parts)
    return parts.fields()


def _split_csv_chunks(
    chunks: Iterable[str],
    delimiter: str | None,
    source: str | None,
    make_chunks: Callable[[], Iterator[str]],
    parts: _Parts,
) -> None:
    """The csv module over slices of text, rows collected in batches of joined strings."""
    unused = set(_SPARE_BYTES)
    for chunk in make_chunks():
        unused.difference_update(c for c in _SPARE_BYTES if c in chunk)
    spare = [c for c in _SPARE_BYTES if c in unused]
    if delimiter is None:
        delimiter = spare[0] if spare else "\x1f"
    lines = (line for chunk in chunks for line in io.StringIO(chunk, newline=""))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    # Joined and split again in polars: far faster than building nested lists from Python.
    joiner = next((c for c in spare if c != delimiter), None)
    batch: list[list[str]] = []
    try:
        for row in reader:
            batch.append(row)
            if len(batch) >= _CSV_BATCH_ROWS:
                parts.add(_rows_to_fields(batch, joiner))
                batch = []
    except csv.Error as exc:
        raise UnreadableFileError(
            f"{_display(source)} cannot be parsed as CSV (stopped at line {reader.line_num}: "
            f"{exc}). A quote that opens a field must close it: check the quotes on or above "
            "that line, or save the file again from the spreadsheet program.",
            source=source,
        ) from None
    parts.add(_rows_to_fields(batch, joiner))


def _rows_to_fields(rows: list[list[str]], joiner: str | None) -> pl.Series:
    if joiner is None:
        return pl.Series("fields", rows, dtype=pl.List(pl.String))
    joined = pl.Series("line", [joiner.join(row) if row else None for row in rows], dtype=pl.String)
    return (
        joined.to_frame()
        .select(
            fields=pl.when(pl.col("line").is_null())
            .then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(pl.col("line").str.split(joiner))
        )
        .get_column("fields")
    )


# -- helpers -----------------------------------------------------------------------------------


def _looks_like_utf16(data: bytes) -> bool:
    """Mostly-ASCII UTF-16 has a NUL in nearly every other byte."""
    sample = data[:4096]
    if len(sample) < 4:
        return False
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    return max(even, odd) >= 0.8 * half and min(even, odd) <= 0.1 * half


def _drop_leading_blank_lines(text: str) -> str:
    match = _LEADING_BLANK_LINES.match(text)
    return text[match.end() :] if match else text


def _display(source: str | None) -> str:
    return f"The file {mask_emails_in(source)!r}" if source else "The input"
