"""Reading member lists: any file or frame an analyst brings, as clean match keys.

:func:`read_members` accepts a path (CSV/TSV/TXT, Parquet, Excel), the bytes of an upload,
a polars DataFrame/LazyFrame/Series or a plain sequence of strings. It returns a
:class:`MemberList`: one row per distinct member, plus a row-level report of what was
rejected (and why), what repeated an earlier member, and what was blank. Every data line is
accounted for: ``n_valid + n_rejected + n_duplicates + n_blank == n_rows``.

Rules a user can rely on:

* Text is decoded strictly (UTF-8 with or without BOM, UTF-16 with BOM, cp1252) and every
  field is read as a string: ``00123`` keeps its zeros, ``4.5E+11`` stays text.
* ``row`` counts data records after the header, from 1, blank lines included. A record with
  a quoted line break counts once.
* A record with more fields than the header (unless the extra fields are empty) or fewer
  (unless it is blank) is rejected: its values may have shifted into the wrong column.
* A text file with NUL characters is not read at all (:class:`UnreadableFileError`).
* A single-column file may have a header or not: its first line is data when it is a valid
  address, or when it has a digit or an ``@`` and is not a known column name. A file of
  several columns is headerless when a field of its first line is a valid address.
* Email keys come from :mod:`segwidgets._email`. Customer ids are stripped strings;
  an id with inner whitespace or invisible characters, a formula-like first character
  (``= + - @``), an ``@`` or Excel's scientific notation (``4.5E+11``) is rejected.
* An input with no members at all (no bytes, blank lines only, a header only, an empty
  member column) raises: an empty list must never quietly mean "remove everyone".

Bounds, so that no input can exhaust the machine:

* Only regular files are read: a pipe, a device (``/dev/zero``) or a socket is refused
  with :class:`UnreadableFileError` before a byte is read.
* An input larger than ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`, 512 MiB) raises
  :class:`InputTooLargeError`; an Excel workbook is also refused when its sheets and shared
  strings unpack to more than ``max_bytes``.
* A cell longer than :data:`MAX_CELL_CHARS` (1,000 characters) rejects its row with a
  reason (the report keeps only its start); a header field that long is an error.
* Text is decoded and split in slices (see :mod:`segwidgets._sniff`), and each copy a
  clean list does not need is skipped. When the first line decides the member column (a
  file of several columns whose header names it), each slice's records are cut down to
  that column as soon as they are split, so the other columns are never all held at
  once. Memory ceiling of a whole :func:`read_members`
  call on a CSV, as peak resident memory of the process (interpreter and polars
  included): at most 256 MiB plus the larger of 3.75 MiB per MiB of input and 128 bytes
  per line. A 200 MB export of typical width (about 50 bytes a line) stays under 1 GiB;
  a file of very short lines is bound by its number of lines instead. The test
  ``tests/reliability/test_members_memory.py`` measures both in a subprocess.
"""

from __future__ import annotations

import functools
import html
import io
import logging
import os
import re
import stat
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import polars as pl

from ._email import (
    BLANK_PATTERN,
    STRIP_CHARS,
    InvalidEmailError,
    normalize_email,
    normalize_emails,
    strip_values,
)
from ._errors import (
    ColumnError,
    DuplicateHeaderError,
    EmptyFileError,
    HeaderOnlyError,
    InputFileError,
    InputTooLargeError,
    UnreadableFileError,
)
from ._privacy import mask_email, mask_emails_in
from ._sniff import read_text_records

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_CELL_CHARS",
    "KindOption",
    "MemberKind",
    "MemberList",
    "MemberSource",
    "from_pandas",
    "list_columns",
    "looks_like_ids",
    "normalize_customer_ids",
    "read_members",
    "require_members",
]

logger = logging.getLogger("segwidgets.members")

#: What a member list holds.
MemberKind: TypeAlias = Literal["email", "customer_id"]

#: What the member column holds: ``auto`` decides from the column name, then the values.
KindOption: TypeAlias = Literal["auto", "email", "customer_id"]

#: Everything :func:`read_members` reads.
MemberSource: TypeAlias = (
    str | os.PathLike[str] | bytes | pl.DataFrame | pl.LazyFrame | pl.Series | Sequence[str | None]
)

_EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})

_EMAIL_NAMES = frozenset(
    {
        "email",
        "emails",
        "mail",
        "emailaddress",
        "emailaddresses",
        "mailaddress",
        "emailadresse",
        "emailadressen",
        "mailadresse",
        "emailadr",
        "courriel",
        "correo",
        "correoelectronico",
    }
)
_EMAIL_SUFFIXES = ("email", "emailaddress", "emailadresse")
_ID_NAMES = frozenset({"id", "ids", "customerid", "customerids", "kundenid"})
_ID_SUFFIXES = ("customerid",)

_ID_INNER_SPACE = r"[\s\p{C}\p{Z}]"
_ID_FORMULA = r"^[=+\-@]"
_ID_SCIENTIFIC = r"^[0-9]+(?:[.,][0-9]+)?[eE][+-][0-9]+$"

_REASON_INNER_SPACE = "The id contains a space, line break or invisible character."
_REASON_FORMULA = (
    "The id starts with = + - or @, which spreadsheet programs read as a formula; "
    "it is not a customer id."
)
_REASON_AT = 'The id contains "@": it looks like an email address (use kind="email").'
_REASON_SCIENTIFIC = (
    "The id is in scientific notation (like 4.5E+11): a spreadsheet turned it into a number "
    "and digits may be lost. Export the column as text."
)

_SAMPLE = 5

#: The largest input :func:`read_members` reads unless told otherwise (``max_bytes=``).
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: The longest cell (and header field) a member list may hold, in characters.
MAX_CELL_CHARS = 1000
_SHOWN_CHARS = 80
_REASON_TOO_LONG = (
    f"A value on this line is longer than {MAX_CELL_CHARS:,} characters: it is not a member "
    "(text pasted into one cell?). Only its start is shown."
)


# -- the result ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class MemberList:
    """A cleaned member list and the report of every data line.

    ``valid`` has one row per distinct member in first-seen order with ``row`` (the data
    line of its first occurrence, from 1), ``value`` (as read) and the key: ``email`` for
    email lists, ``customer_id`` for id lists. ``rejected`` has ``row``, ``value``,
    ``reason``; ``duplicates`` has ``row``, ``value``, ``key``, ``first_row``.
    """

    kind: MemberKind
    column: str | None
    source: str | None
    valid: pl.DataFrame
    rejected: pl.DataFrame
    duplicates: pl.DataFrame
    n_rows: int
    n_blank: int

    @property
    def n_valid(self) -> int:
        """Distinct members."""
        return self.valid.height

    @property
    def n_rejected(self) -> int:
        """Data lines whose value is not a usable member (see ``rejected``)."""
        return self.rejected.height

    @property
    def n_duplicates(self) -> int:
        """Data lines repeating an earlier member after normalisation."""
        return self.duplicates.height

    @property
    def key_column(self) -> str:
        """``"email"`` or ``"customer_id"``: the name of the key column of ``valid``."""
        return self.kind

    @property
    def keys(self) -> pl.Series:
        """The match keys, one per member, in first-seen order."""
        return self.valid.get_column(self.key_column)

    def to_polars(self) -> pl.DataFrame:
        """The valid members (the same frame as ``valid``)."""
        return self.valid

    def is_empty(self) -> bool:
        """True when no line gave a usable member."""
        return self.valid.is_empty()

    def __len__(self) -> int:
        return self.n_valid

    def __repr__(self) -> str:
        return (
            f"MemberList(kind={self.kind!r}, column={_quote(self.column)}, "
            f"source={_quote(self.source)}, "
            f"n_rows={self.n_rows}, n_valid={self.n_valid}, n_rejected={self.n_rejected}, "
            f"n_duplicates={self.n_duplicates}, n_blank={self.n_blank})"
        )

    def _repr_html_(self) -> str:
        esc = html.escape
        what = "email addresses" if self.kind == "email" else "customer ids"
        origin = f" from {esc(self.source)}" if self.source else ""
        column = f", column {esc(self.column)!s}" if self.column else ""
        counts = "".join(
            f"<tr><td>{label}</td><td style='text-align:right'>{value:,}</td></tr>"
            for label, value in (
                ("data lines", self.n_rows),
                ("members", self.n_valid),
                ("rejected", self.n_rejected),
                ("duplicates", self.n_duplicates),
                ("blank", self.n_blank),
            )
        )
        sample = ", ".join(esc(mask_email(key)) for key in self.keys.head(_SAMPLE).to_list())
        parts = [
            f"<div><strong>MemberList</strong>: {what}{origin}{column}",
            f"<table>{counts}</table>",
        ]
        if sample:
            parts.append(f"<p>Sample (masked): {sample}</p>")
        if self.n_rejected:
            reasons = (
                self.rejected.group_by("reason")
                .len()
                .sort(["len", "reason"], descending=[True, False])
                .head(_SAMPLE)
            )
            items = "".join(
                f"<li>{count:,} &times; {esc(reason)}</li>" for reason, count in reasons.iter_rows()
            )
            parts.append(f"<p>Rejected, by reason:</p><ul>{items}</ul>")
        parts.append("</div>")
        return "".join(parts)


# -- the entry point -------------------------------------------------------------------------


def read_members(
    source: MemberSource,
    *,
    column: str | None = None,
    kind: KindOption = "auto",
    sheet: str | int | None = None,
    name: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> MemberList:
    """Read a member list and clean it into match keys with a row-level report.

    Parameters
    ----------
    source
        A path (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.xlsx`` and other Excel
        formats), the bytes of an uploaded file, a polars DataFrame, LazyFrame or Series, or
        a sequence of strings.
    column
        The member column. None picks it by name (``email``, ``E-Mail``, ``emailAddress``,
        ``Email Address``, ...; for ids ``customer_id``, ``customerId``, ``id``,
        ``Customer ID``); a one-column input needs no name.
    kind
        ``"email"``, ``"customer_id"`` or ``"auto"`` (from the column name, else from the
        values: mostly containing ``@`` means emails).
    sheet
        The Excel sheet: a name, or a number counted from 1. The first sheet by default.
    name
        The file name of ``bytes`` input: its suffix tells the format, and messages name it.
    max_bytes
        The largest file or ``bytes`` input read (default 512 MiB), also the largest an
        Excel workbook may unpack to; None for no limit. Frames are not limited.

    Raises
    ------
    InputFileError
        One of its subclasses: ``EmptyFileError``, ``HeaderOnlyError``,
        ``UnknownEncodingError``, ``DuplicateHeaderError``, ``UnreadableFileError``,
        ``InputTooLargeError``, ``ColumnError``. Messages name the file, never an address.

    Memory: peak RSS at most 256 MiB plus the larger of 3.75 MiB per MiB of CSV and 128
    bytes per line (see the module docstring).
    """
    if kind not in ("auto", "email", "customer_id"):
        raise ValueError(f"kind must be 'auto', 'email' or 'customer_id', not {kind!r}")
    if max_bytes is not None and max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1 (or None), not {max_bytes!r}")
    # The loaded table goes straight in: no frame here keeps it while it is read.
    members = _read_table(
        _Box(
            _load(
                source,
                sheet=sheet,
                name=name,
                max_bytes=max_bytes,
                reducer=_ColumnReducer(column=column, kind=kind),
            )
        ),
        column=column,
        kind=kind,
    )
    logger.debug(
        "read %s: %d rows, %d members, %d rejected, %d duplicates, %d blank",
        mask_emails_in(members.source or "input"),
        members.n_rows,
        members.n_valid,
        members.n_rejected,
        members.n_duplicates,
        members.n_blank,
    )
    return members


def normalize_customer_ids(values: pl.Series) -> pl.DataFrame:
    """Keys for a Series of customer ids: ``customer_id`` (stripped string) and ``reason``.

    Blank values get the reason "The value is empty.". Leading zeros are kept.
    """
    if values.dtype != pl.String:
        values = values.cast(pl.String)
    frame = pl.DataFrame({"value": strip_values(values)})
    value = pl.col("value")
    reason = (
        pl.when(value.is_null() | (value.str.len_bytes() == 0))
        .then(pl.lit("The value is empty."))
        .when(value.str.contains(_ID_INNER_SPACE))
        .then(pl.lit(_REASON_INNER_SPACE))
        .when(value.str.contains(_ID_FORMULA))
        .then(pl.lit(_REASON_FORMULA))
        .when(value.str.contains("@", literal=True))
        .then(pl.lit(_REASON_AT))
        .when(value.str.contains(_ID_SCIENTIFIC))
        .then(pl.lit(_REASON_SCIENTIFIC))
    )
    return frame.select(reason=reason, value=value).select(
        customer_id=pl.when(pl.col("reason").is_null()).then(pl.col("value")),
        reason=pl.col("reason"),
    )


# -- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """Loaded input: records whose header is still to be found, or a frame with names."""

    source: str | None
    records: pl.Series | None = None  # List(String), first record is header or data
    delimiter: str | None = None  # of the text the records came from
    frame: pl.DataFrame | None = None  # columns are the header
    unnamed: bool = False  # a sequence or a Series without a name: no column name to report
    reduced: _ColumnReducer | None = None  # the member column, cut from the records as read


class _Box:
    """Holds the loaded table until the one reader takes it, so no caller's frame keeps
    the records alive while the member column is built from them."""

    def __init__(self, table: _Table) -> None:
        self._table: _Table | None = table

    @property
    def is_frame(self) -> bool:
        return self._table is not None and self._table.frame is not None

    @property
    def is_reduced(self) -> bool:
        return self._table is not None and self._table.reduced is not None

    def take(self) -> _Table:
        table = self._table
        assert table is not None  # taken once
        self._table = None
        return table


def from_pandas(source: object) -> pl.DataFrame | pl.Series | None:
    """A pandas DataFrame or Series as polars (``pl.from_pandas``); None for anything else.

    Without this a pandas frame would be iterated like a list, which gives its column names.
    """
    module = type(source).__module__ or ""
    if not (module == "pandas" or module.startswith("pandas.")):
        return None
    if type(source).__name__ not in {"DataFrame", "Series"}:
        return None
    converted: pl.DataFrame | pl.Series = pl.from_pandas(source)
    return converted


def _load(
    source: object,
    *,
    sheet: str | int | None,
    name: str | None,
    max_bytes: int | None,
    reducer: _ColumnReducer | None = None,
) -> _Table:
    converted = from_pandas(source)
    if converted is not None:
        source = converted
    if isinstance(source, pl.LazyFrame):
        return _Table(source=name, frame=_collect(source, name))
    if isinstance(source, pl.DataFrame):
        return _Table(source=name, frame=source)
    if isinstance(source, pl.Series):
        if source.len() == 0:
            raise EmptyFileError(f"{_name(name)} is an empty Series: no members.", source=name)
        return _Table(
            source=name, frame=source.to_frame(source.name or "value"), unnamed=not source.name
        )
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_size(len(source), max_bytes, name)
        return _load_bytes(
            bytes(source),
            display=name,
            suffix=_suffix(name),
            sheet=sheet,
            max_bytes=max_bytes,
            reducer=reducer,
        )
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source))
        display = name or path.name
        return _load_bytes(
            _read_path(path, display, max_bytes),
            display=display,
            suffix=_suffix(path.name),
            sheet=sheet,
            max_bytes=max_bytes,
            reducer=reducer,
        )
    if isinstance(source, Sequence):
        return _Table(source=name, frame=_sequence_frame(source, name), unnamed=True)
    raise TypeError(
        "source must be a path, bytes, a polars DataFrame/LazyFrame/Series or a sequence of "
        f"strings, not {type(source).__name__}"
    )


def _read_path(path: Path, display: str, max_bytes: int | None) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``.

    Opened without blocking (a pipe with no writer would hang ``open``), then refused
    unless it is a regular file: ``/dev/zero`` or a FIFO never reaches ``read``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        reason = "does not exist. Check the path and the working directory"
    except IsADirectoryError:
        reason = "is a directory, not a file. Choose the file inside it"
    except PermissionError:
        reason = "cannot be read: permission denied. Check the file's permissions"
    except OSError as exc:
        reason = f"cannot be read ({exc.strerror or type(exc).__name__})"
    else:
        try:
            info = os.fstat(fd)
            _check_regular(info, display, max_bytes)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as handle:
            return _read_regular(handle, info, display, max_bytes)
    raise UnreadableFileError(f"The file {_quote(display)} {reason}.", source=display)


def _check_regular(info: os.stat_result, display: str, max_bytes: int | None) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFileError(
            f"The file {_quote(display)} is a directory, not a file. Choose the file inside it.",
            source=display,
        )
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFileError(
            f"{_quote(display)} is not a regular file (a pipe, a device or a socket), so it "
            "has no end to read up to. Save the list to a file and read that.",
            source=display,
        )
    _check_size(info.st_size, max_bytes, display)


def _read_regular(
    handle: io.BufferedReader, info: os.stat_result, display: str, max_bytes: int | None
) -> bytes:
    limit = info.st_size if max_bytes is None else min(info.st_size, max_bytes)
    try:
        data = handle.read(limit + 1)
        if len(data) > info.st_size:  # the file grew while it was read
            data += handle.read(-1 if max_bytes is None else max_bytes + 1 - len(data))
    except OSError as exc:
        raise UnreadableFileError(
            f"The file {_quote(display)} cannot be read ({exc.strerror or type(exc).__name__}).",
            source=display,
        ) from None
    _check_size(len(data), max_bytes, display)
    return data


def _check_size(size: int, max_bytes: int | None, display: str | None, *, what: str = "") -> None:
    if max_bytes is None or size <= max_bytes:
        return
    raise InputTooLargeError(
        f"{_name(display)}{what} is {_mib(size)}, more than the limit of {_mib(max_bytes)} for a "
        "member list. Split the list, or raise the limit: read_members(..., max_bytes=...) "
        "or segwidgets sync --max-input-mb.",
        size=size,
        limit=max_bytes,
        source=display,
    )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB" if size >= 1 << 20 else f"{size:,} bytes"


def _load_bytes(
    data: bytes,
    *,
    display: str | None,
    suffix: str,
    sheet: str | int | None,
    max_bytes: int | None,
    reducer: _ColumnReducer | None = None,
) -> _Table:
    if suffix in _PARQUET_SUFFIXES or data.startswith(b"PAR1"):
        return _Table(source=display, frame=_read_parquet(data, display))
    if suffix in _EXCEL_SUFFIXES or data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        _check_unpacked(data, display, max_bytes)
        return _Table(source=display, records=_read_excel(data, display, sheet))
    if reducer is not None:
        reducer.source = display
    records = read_text_records(data, source=display, reducer=reducer)
    if records.reduced is not None:
        assert reducer is not None  # reduced only by a reducer
        reducer.take(records.reduced)
        return _Table(source=display, delimiter=records.delimiter, reduced=reducer)
    return _Table(source=display, records=records.fields, delimiter=records.delimiter)


def _check_unpacked(data: bytes, display: str | None, max_bytes: int | None) -> None:
    """Refuse a zipped workbook (xlsx, ods) whose contents unpack to more than ``max_bytes``."""
    if max_bytes is None or not data.startswith(b"PK\x03\x04"):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a readable archive: the Excel reader says so in its own words
    _check_size(unpacked, max_bytes, display, what=" unpacked")


def _read_parquet(data: bytes, display: str | None) -> pl.DataFrame:
    try:
        return pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise UnreadableFileError(
            f"{_name(display)} cannot be read as Parquet ({type(exc).__name__}). "
            "Check that the file is complete, or export the list as CSV.",
            source=display,
        ) from exc


def _read_excel(data: bytes, display: str | None, sheet: str | int | None) -> pl.Series:
    try:
        import fastexcel  # optional dependency, only needed for Excel
    except ImportError:
        raise UnreadableFileError(
            f"{_name(display)} is an Excel file; reading it needs the optional package "
            "fastexcel: pip install 'segwidgets[excel]' (or export the sheet as CSV).",
            source=display,
        ) from None
    where: dict[str, Any] = (
        {"sheet_name": sheet} if isinstance(sheet, str) else {"sheet_id": sheet or 1}
    )
    try:
        loaded = pl.read_excel(
            io.BytesIO(data),
            **where,
            engine="calamine",
            has_header=False,
            infer_schema_length=0,
            drop_empty_rows=False,
            drop_empty_cols=False,
            raise_if_empty=False,
        )
    except (fastexcel.FastExcelError, pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise UnreadableFileError(
            f"{_name(display)} cannot be read as an Excel workbook: "
            f"{str(exc).splitlines()[0]}. Check the sheet name, or export the sheet as CSV.",
            source=display,
        ) from exc
    if not isinstance(loaded, pl.DataFrame):  # several sheets: only when asked for a list
        raise UnreadableFileError(
            f"{_name(display)}: choose one sheet (sheet=name or number).", source=display
        )
    frame: pl.DataFrame = loaded
    if frame.width == 0 or frame.height == 0:
        raise EmptyFileError(
            f"{_name(display)} has an empty sheet. Choose the sheet with the members (sheet=).",
            source=display,
        )
    frame = frame.select(pl.all().cast(pl.String).fill_null(""))
    return frame.select(fields=pl.concat_list(pl.all())).get_column("fields")


def _collect(frame: pl.LazyFrame, display: str | None) -> pl.DataFrame:
    try:
        return frame.collect()
    except pl.exceptions.PolarsError as exc:
        raise UnreadableFileError(
            f"{_name(display)}: the LazyFrame could not be collected ({type(exc).__name__}: "
            "see the chained exception).",
            source=display,
        ) from exc


def _sequence_frame(values: Sequence[object], display: str | None) -> pl.DataFrame:
    if not all(value is None or isinstance(value, str) for value in values):
        kinds = sorted(
            {type(v).__name__ for v in values if v is not None and not isinstance(v, str)}
        )
        raise TypeError(
            f"a sequence of members must hold strings (or None), not {', '.join(kinds)}"
        )
    if not values:
        raise EmptyFileError(f"{_name(display)} is an empty list: no members.", source=display)
    return pl.DataFrame({"value": pl.Series(values, dtype=pl.String)})


# -- from a table to members -----------------------------------------------------------------------


def _read_table(box: _Box, *, column: str | None, kind: KindOption) -> MemberList:
    if box.is_frame:
        table = box.take()
        assert table.frame is not None  # is_frame says so
        return _read_frame(table, table.frame, column=column, kind=kind)
    if box.is_reduced:
        table = box.take()
        assert table.reduced is not None  # is_reduced says so
        return table.reduced.build()
    return _read_records(box, column=column, kind=kind)


def _read_frame(
    table: _Table, frame: pl.DataFrame, *, column: str | None, kind: KindOption
) -> MemberList:
    source = table.source
    names = [str(c) for c in frame.columns]
    if frame.height == 0:
        raise HeaderOnlyError(
            f"{_name(source)} has columns ({_list(names)}) but no rows: no members. "
            "An empty list never means 'remove everyone'; check the query that built it.",
            source=source,
        )
    index, resolved_kind = _pick_column(
        names,
        column=column,
        kind=kind,
        source=source,
        values=lambda i: frame.get_column(names[i]),
    )
    chosen = names[index]
    values = _as_text(frame.get_column(chosen), chosen, source)
    return _build(
        values,
        broken=None,
        kind=resolved_kind,
        column=None if table.unnamed else chosen,
        source=source,
        fields_blank=None,
    )


def _read_records(box: _Box, *, column: str | None, kind: KindOption) -> MemberList:
    table = box.take()
    records, source, delimiter = table.records, table.source, table.delimiter
    del table
    assert records is not None  # checked by the caller
    raw_first = records[0].to_list() or [""]
    _check_header_length(raw_first, source)
    first = [_clean_header(f) for f in raw_first]
    single_column = _max_width(records) <= 1
    headerless, email_columns = _is_headerless(first, single_column=single_column, column=column)
    if headerless:
        names = [f"column_{i + 1}" for i in range(len(first))]
        data = records
    else:
        names = _trim_trailing_empty(first)
        _check_duplicates(names, source)
        data = records.slice(1)
    del records
    if data.len() == 0:
        raise HeaderOnlyError(
            f"{_name(source)} has a header ({_list(names)}) and no data lines: no members. "
            "An empty list never means 'remove everyone'; choose the file with the members.",
            source=source,
        )
    index, resolved_kind = _pick_column(
        names,
        column=column,
        kind=kind,
        source=source,
        email_columns=email_columns,
        values=functools.partial(_field, data),
    )
    frame, fields_blank = _member_values(
        data, index=index, width=len(names), headerless=headerless, delimiter=delimiter
    )
    del data  # the records are no longer needed: only the member column goes on
    return _build(
        frame.get_column("value"),
        broken=frame.get_column("broken"),
        kind=resolved_kind,
        column=names[index],
        source=source,
        fields_blank=fields_blank,
    )


def _member_values(
    data: pl.Series, *, index: int, width: int, headerless: bool, delimiter: str | None
) -> tuple[pl.DataFrame, bool | None]:
    """Per data record: ``value`` (the member field, or the start of the whole line when the
    record is broken) and ``broken`` (why, or null); and, when every value is blank,
    whether every field of every record is (None otherwise)."""
    fields = pl.col("fields")
    frame = pl.DataFrame({"fields": data}).with_columns(n=fields.list.len())
    broken = _broken_shape(frame, width=width, headerless=headerless)
    # Per record only when some field is over the cap: the flat check copies no text.
    longest_field = data.explode().str.len_chars().max()
    longest = (
        fields.list.eval(pl.element().str.len_chars()).list.max()
        if isinstance(longest_field, int) and longest_field > MAX_CELL_CHARS
        else pl.lit(0)
    )
    frame = frame.with_columns(broken=broken).select(
        value=pl.when(pl.col("broken").is_null() & (longest <= MAX_CELL_CHARS))
        .then(fields.list.get(index, null_on_oob=True))
        .otherwise(fields.list.join(delimiter or ",").str.slice(0, _SHOWN_CHARS + 1)),
        broken=pl.when(longest > MAX_CELL_CHARS)
        .then(pl.lit(_REASON_TOO_LONG))
        .otherwise(pl.col("broken")),
    )
    fields_blank: bool | None = None
    if frame.select((pl.col("broken").is_null() & _blank(pl.col("value"))).all()).item():
        fields_blank = bool(data.list.eval(_blank(pl.element())).list.all().all())
    return frame, fields_blank


class _NeedsValuesError(Exception):
    """The member column cannot be chosen from the first record alone."""


def _no_values(index: int) -> pl.Series:
    raise _NeedsValuesError


class _ColumnReducer:
    """Keeps only the member column of a text file's records, slice by slice as they are
    split (see ``_sniff.PartReducer``), when the first record decides the header and the
    column: a file of several columns whose member column is told by its name (or by
    ``column=`` with ``kind=``). Otherwise it declines and the records are read whole.

    What it keeps per record is what ``_read_records`` computes from all the records at
    once (``_member_values``), so the member list is the same either way. The values are
    copied out of the slice's text, so the other columns' text is not kept alive.
    """

    def __init__(self, *, column: str | None, kind: KindOption) -> None:
        self.column = column
        self.kind = kind
        self.source: str | None = None
        self._delimiter: str | None = None
        self._names: list[str] = []
        self._index = 0
        self._kind: MemberKind = "email"
        self._headerless = False
        self._skip_header = False
        self._blank: list[bool | None] = []
        self._frame: pl.DataFrame | None = None

    def start(self, first: pl.Series, delimiter: str | None) -> bool:
        self._delimiter = delimiter
        self._blank = []
        raw_first = first[0].to_list() or [""]
        cleaned = [_clean_header(f) for f in raw_first]
        if len(cleaned) < 2:
            return False  # one column: a header or not depends on the widest record
        try:
            _check_header_length(raw_first, self.source)
            headerless, email_columns = _is_headerless(
                cleaned, single_column=False, column=self.column
            )
            if headerless:
                names = [f"column_{i + 1}" for i in range(len(cleaned))]
            else:
                names = _trim_trailing_empty(cleaned)
                _check_duplicates(names, self.source)
            index, kind = _pick_column(
                names,
                column=self.column,
                kind=self.kind,
                source=self.source,
                email_columns=email_columns,
                values=_no_values,
            )
        except (InputFileError, _NeedsValuesError):
            return False  # read whole: the errors come in their usual order
        self._names, self._index, self._kind = names, index, kind
        self._headerless = headerless
        self._skip_header = not headerless
        return True

    def reduce(self, records: pl.Series) -> pl.DataFrame:
        if self._skip_header:
            records = records.slice(1)
            self._skip_header = False
        frame, blank = _member_values(
            records,
            index=self._index,
            width=len(self._names),
            headerless=self._headerless,
            delimiter=self._delimiter,
        )
        self._blank.append(blank)
        # A copy of the values' text: the slice's text (every column) can then go.
        return frame.with_columns(pl.col("value") + pl.lit(""))

    def take(self, frame: pl.DataFrame) -> None:
        """The concatenated frames of every slice."""
        self._frame = frame

    def build(self) -> MemberList:
        frame, self._frame = self._frame, None
        assert frame is not None  # taken before
        if frame.height == 0:
            raise HeaderOnlyError(
                f"{_name(self.source)} has a header ({_list(self._names)}) and no data lines: "
                "no members. An empty list never means 'remove everyone'; choose the file "
                "with the members.",
                source=self.source,
            )
        blanks = self._blank
        fields_blank = None if any(b is None for b in blanks) else all(b is True for b in blanks)
        values, broken = frame.get_column("value"), frame.get_column("broken")
        del frame
        return _build(
            values,
            broken=broken,
            kind=self._kind,
            column=self._names[self._index],
            source=self.source,
            fields_blank=fields_blank,
        )


def _field(records: pl.Series, index: int) -> pl.Series:
    return records.list.get(index, null_on_oob=True)


def _check_header_length(first: list[str | None], source: str | None) -> None:
    longest = max((len(f) for f in first if f), default=0)
    if longest > MAX_CELL_CHARS:
        raise UnreadableFileError(
            f"{_name(source)} starts with a line holding a field of {longest:,} characters "
            f"(more than {MAX_CELL_CHARS:,}): that is not a header of a member list. Check "
            "that this is the member file, saved as a table.",
            source=source,
        )


def _broken_shape(frame: pl.DataFrame, *, width: int, headerless: bool) -> pl.Series:
    """Per record: why its number of fields is wrong, or null.

    Wider records are fine when the extra fields are empty (trailing delimiters); records
    of another width that are entirely blank are blank lines, not broken ones.
    """
    broken = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias("broken")
    n = pl.col("n")
    odd = frame.with_row_index("index").filter((n != width) & (n > 0))
    if odd.is_empty():
        return broken
    fields = pl.col("fields")
    all_blank = fields.list.eval(_blank(pl.element())).list.all()
    extra_empty = (n > width) & fields.list.slice(width).list.eval(_blank(pl.element())).list.all()
    words = "the first line has" if headerless else "the header has"
    reason = pl.format(
        "The line has {} field(s) but {} {}: a value may have moved to another column "
        "(an unquoted delimiter inside a value?).",
        n,
        pl.lit(words),
        pl.lit(width),
    )
    reasons = odd.filter(~all_blank & ~extra_empty).select("index", reason=reason)
    if reasons.is_empty():
        return broken
    return broken.scatter(reasons.get_column("index"), reasons.get_column("reason"))


def _build(
    values: pl.Series,
    *,
    broken: pl.Series | None,
    kind: MemberKind,
    column: str | None,
    source: str | None,
    fields_blank: bool | None,
) -> MemberList:
    """``fields_blank``: whether every field of every record is blank (None: not records)."""
    n_rows = values.len()
    frame = pl.DataFrame(
        {
            "row": pl.int_range(1, n_rows + 1, dtype=pl.Int64, eager=True),
            "value": values,
            "broken": broken
            if broken is not None
            else pl.repeat(None, n_rows, dtype=pl.String, eager=True),
        },
        schema={"row": pl.Int64, "value": pl.String, "broken": pl.String},
    )
    del values, broken
    too_long = pl.col("value").str.len_chars() > MAX_CELL_CHARS
    if frame.select(too_long.any()).item():
        frame = frame.with_columns(
            broken=pl.when(pl.col("broken").is_null() & too_long)
            .then(pl.lit(_REASON_TOO_LONG))
            .otherwise(pl.col("broken"))
        )
    cut = pl.col("broken") == _REASON_TOO_LONG
    if frame.select(cut.any()).item():
        frame = frame.with_columns(
            value=pl.when(cut)
            .then(pl.col("value").str.slice(0, _SHOWN_CHARS) + pl.lit("…"))
            .otherwise(pl.col("value"))
        )
    frame = frame.with_columns(blank=pl.col("broken").is_null() & _blank(pl.col("value")))
    n_blank = int(frame.get_column("blank").sum())
    if n_blank == n_rows:
        _raise_all_blank(n_rows, column, source, fields_blank)
    # Filters copy their columns: each one is skipped when it would keep every row, the
    # usual case of a clean list, so a large list is not held twice.
    broken_rows = frame.filter(pl.col("broken").is_not_null()).select(
        "row", "value", reason=pl.col("broken")
    )
    todo = _keep(
        frame.select("row", "value", "blank", "broken"),
        ~pl.col("blank") & pl.col("broken").is_null(),
    )
    del frame
    if kind == "email":
        normalised = normalize_emails(todo.get_column("value")).rename({"email": "key"})
    else:
        normalised = normalize_customer_ids(todo.get_column("value")).rename({"customer_id": "key"})
    todo = pl.concat([todo.select("row", "value"), normalised], how="horizontal")
    del normalised
    rejected = pl.concat(
        [broken_rows, todo.filter(pl.col("key").is_null()).select("row", "value", "reason")]
    ).sort("row")
    accepted = _keep(todo, pl.col("key").is_not_null()).with_columns(
        first=pl.col("key").is_first_distinct()
    )
    del todo
    valid = _keep(accepted, pl.col("first")).select("row", "value", pl.col("key").alias(kind))
    firsts = valid.select(pl.col(kind).alias("key"), first_row=pl.col("row"))
    repeated = accepted.filter(~pl.col("first")).select("row", "value", "key")
    del accepted
    # Only the keys that repeat are looked up: no hash table of the whole list.
    duplicates = repeated.join(
        firsts.join(repeated.select("key"), on="key", how="semi"),
        on="key",
        how="left",
        maintain_order="left",
    )
    return MemberList(
        kind=kind,
        column=column,
        source=source,
        valid=valid,
        rejected=rejected,
        duplicates=duplicates,
        n_rows=n_rows,
        n_blank=n_blank,
    )


def _keep(frame: pl.DataFrame, condition: pl.Expr) -> pl.DataFrame:
    """``frame.filter(condition)``, or ``frame`` itself when every row passes."""
    if frame.select(condition.all()).item():
        return frame
    return frame.filter(condition)


def _blank(value: pl.Expr) -> pl.Expr:
    return value.is_null() | value.str.contains(BLANK_PATTERN)


def _raise_all_blank(
    n_rows: int, column: str | None, source: str | None, fields_blank: bool | None
) -> None:
    if fields_blank:
        raise HeaderOnlyError(
            f"{_name(source)} has a header and only blank lines after it ({n_rows}): "
            "no members. An empty list never means 'remove everyone'; choose the file with "
            "the members.",
            source=source,
        )
    where = f"column {_quote(column)}" if column else "the list"
    raise EmptyFileError(
        f"In {_name(source, lower=True)}, {where} is blank in all {n_rows} data lines: "
        "no members. An empty list never means 'remove everyone'; check that this is the "
        "member column (column=).",
        source=source,
    )


# -- header and column -----------------------------------------------------------------------


def _is_headerless(
    first: list[str], *, single_column: bool, column: str | None
) -> tuple[bool, tuple[int, ...]]:
    """Whether the first record is data, and which of its fields are valid addresses."""
    if column is not None and column in first:
        return False, ()
    emails = tuple(i for i, value in enumerate(first) if _is_email(value))
    if emails:
        return True, emails
    if single_column and len(first) == 1:
        value = first[0]
        known = _is_email_name(value) or _is_id_name(value)
        if not known and ("@" in value or any(c.isdigit() for c in value)):
            return True, ()
    return False, ()


def _pick_column(
    names: list[str],
    *,
    column: str | None,
    kind: KindOption,
    source: str | None,
    email_columns: Sequence[int] = (),
    values: Callable[[int], pl.Series],
) -> tuple[int, MemberKind]:
    """The index of the member column and what it holds."""
    if column is not None:
        index = _find_named(names, column, source)
        name = names[index]
        if kind != "auto":
            return index, kind
        if _is_email_name(name):
            return index, "email"
        if _is_id_name(name):
            return index, "customer_id"
        return index, _checked_kind(names, index, values, source)
    emails = [i for i, n in enumerate(names) if _is_email_name(n)] or list(email_columns)
    ids = [i for i, n in enumerate(names) if _is_id_name(n)]
    if kind == "email":
        return _one_of(emails, names, "email addresses", source), "email"
    if kind == "customer_id":
        return _one_of(ids, names, "customer ids", source), "customer_id"
    if emails:
        return _one_of(emails, names, "email addresses", source), "email"
    if ids:
        return _one_of(ids, names, "customer ids", source), "customer_id"
    if len(names) == 1:
        return 0, _checked_kind(names, 0, values, source)
    raise ColumnError(
        f"{_name(source)} has no column named like an email address or a customer id "
        f"(columns: {_list(names)}). Pass column= with the member column.",
        columns=names,
        source=source,
    )


def _one_of(candidates: list[int], names: list[str], what: str, source: str | None) -> int:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates and len(names) == 1:
        return 0
    if candidates:
        found = _list([names[i] for i in candidates])
        message = f"{_name(source)} has several columns that could hold {what}: {found}."
    else:
        message = f"{_name(source)} has no column named like {what} (columns: {_list(names)})."
    raise ColumnError(
        f"{message} Pass column= with the member column.", columns=names, source=source
    )


def _find_named(names: list[str], column: str, source: str | None) -> int:
    if column in names:
        return names.index(column)
    wanted = _normal_name(column)
    matches = [i for i, n in enumerate(names) if _normal_name(n) == wanted]
    if len(matches) == 1:
        return matches[0]
    raise ColumnError(
        f"{_name(source)} has no column {_quote(column)} (columns: {_list(names)}). "
        "Pass column= with one of them.",
        columns=names,
        source=source,
    )


def _kind_from_values(values: pl.Series) -> MemberKind:
    stripped = values.cast(pl.String).str.strip_chars(STRIP_CHARS)
    present = stripped.filter(stripped.str.len_bytes() > 0)
    with_at = int(present.str.contains("@", literal=True).sum())
    return "email" if present.len() == 0 or 2 * with_at >= present.len() else "customer_id"


def looks_like_ids(values: pl.Series) -> bool:
    """True unless most values look like words: customer ids carry a digit (a UUID, a
    number), while names, cities or yes/no flags mostly do not."""
    stripped = values.cast(pl.String).str.strip_chars(STRIP_CHARS)
    present = stripped.filter(stripped.str.len_bytes() > 0)
    if present.len() == 0:
        return True
    wordy = int((~present.str.contains(r"\d") | present.str.contains(r"\s")).sum())
    return 2 * wordy < present.len()


def _checked_kind(
    names: list[str], index: int, values: Callable[[int], pl.Series], source: str | None
) -> MemberKind:
    """What a column holds, judged from its values; a column of words is refused, with
    the column that more likely holds the members."""
    column = values(index)
    kind = _kind_from_values(column)
    if kind == "email" or looks_like_ids(column):
        return kind
    others = [i for i in range(len(names)) if i != index]
    better = [i for i in others if _is_email_name(names[i]) or _is_id_name(names[i])]
    if not better:
        better = [i for i in others if _kind_from_values(values(i)) == "email"]
    hint = (
        f" The column {_quote(names[better[0]])} looks like the members: choose it."
        if better
        else " Choose the column with the email addresses or customer ids."
    )
    raise ColumnError(
        f"{_name(source)}: the values of column {_quote(names[index])} are neither email "
        "addresses nor customer ids (most are words, such as names, without a digit)." + hint,
        columns=names,
        source=source,
    )


def list_columns(source: MemberSource, *, name: str | None = None) -> list[str]:
    """The column names of a member list source, for choosing the member column.

    Frames give their columns; files (a path or the bytes of one) the names in their header;
    a Series, a sequence or an unreadable file give none (reading it reports the problem).
    """
    if isinstance(source, pl.LazyFrame):
        return [str(c) for c in source.collect_schema().names()]
    if isinstance(source, pl.DataFrame):
        return [str(c) for c in source.columns]
    if not isinstance(source, (bytes, str, os.PathLike)):
        return []
    try:
        read_members(source, column=_NO_SUCH_COLUMN, name=name)
    except ColumnError as exc:
        return list(exc.columns)
    except InputFileError:
        return []
    return []


# A column name no file has: reading with it makes ColumnError list every column.
_NO_SUCH_COLUMN = "\x00"


def require_members(members: MemberList) -> MemberList:
    """``members`` if it holds at least one valid member; else ``EmptyFileError``.

    A list whose every line was rejected is refused like an empty file: planned in mirror
    mode it would remove everyone.
    """
    if members.n_valid:
        return members
    what = "email address" if members.kind == "email" else "customer id"
    origin = _name(members.source)
    column = f", column {_quote(members.column)}" if members.column else ""
    msg = (
        f"{origin}{column}: none of the {members.n_rows:,} data lines holds a valid {what} "
        f"({members.n_rejected:,} rejected, {members.n_blank:,} blank): no members. An empty "
        "list never means 'remove everyone'; check the column and the file."
    )
    raise EmptyFileError(msg, source=members.source)


def _normal_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _is_email_name(name: str) -> bool:
    normal = _normal_name(name)
    return normal in _EMAIL_NAMES or (normal != "" and normal.endswith(_EMAIL_SUFFIXES))


def _is_id_name(name: str) -> bool:
    normal = _normal_name(name)
    return normal in _ID_NAMES or (normal != "" and normal.endswith(_ID_SUFFIXES))


def _is_email(value: str) -> bool:
    try:
        normalize_email(value)
    except InvalidEmailError:
        return False
    return True


def _clean_header(value: str | None) -> str:
    return (value or "").strip(STRIP_CHARS)


def _trim_trailing_empty(names: list[str]) -> list[str]:
    trimmed = list(names)
    while len(trimmed) > 1 and trimmed[-1] == "":
        trimmed.pop()
    return trimmed


def _check_duplicates(names: list[str], source: str | None) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for n in names:
        if n in seen and n not in repeated:
            repeated.append(n)
        seen.add(n)
    if repeated:
        raise DuplicateHeaderError(
            f"{_name(source)} has more than one column named {_list(repeated)} "
            f"(columns: {_list(names)}). Rename the columns so each name is used once.",
            source=source,
        )


def _max_width(records: pl.Series) -> int:
    widest = records.list.len().max()
    return int(widest) if isinstance(widest, int) else 0


def _as_text(values: pl.Series, name: str, source: str | None) -> pl.Series:
    dtype = values.dtype
    if dtype == pl.String:
        return values
    if dtype == pl.Null or dtype.is_integer() or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return values.cast(pl.String)
    if dtype.is_float():
        hint = "read the file with infer_schema=False or cast the column to pl.String"
        raise ColumnError(
            f"In {_name(source, lower=True)}, column {_quote(name)} holds floating-point numbers; "
            f"ids and addresses must be text (floats lose leading zeros and digits): {hint}.",
            columns=[name],
            source=source,
        )
    raise ColumnError(
        f"In {_name(source, lower=True)}, column {_quote(name)} holds {dtype} values, not text. "
        "Cast it to pl.String or choose another column (column=).",
        columns=[name],
        source=source,
    )


# -- small helpers -----------------------------------------------------------------------------


def _suffix(name: str | None) -> str:
    return Path(name).suffix.lower() if name else ""


def _name(source: str | None, *, lower: bool = False) -> str:
    if source:
        return f"the file {_quote(source)}" if lower else f"The file {_quote(source)}"
    return "the input" if lower else "The input"


def _list(names: Sequence[str]) -> str:
    return ", ".join(_quote(n) for n in names)


def _quote(text: str | None) -> str:
    """``repr`` of a name for a message or repr, with anything like an address masked."""
    return repr(mask_emails_in(text)) if text is not None else "None"
