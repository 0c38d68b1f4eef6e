"""``MemberListBuilder``: a file upload or a frame from the notebook, read and reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast, get_args

import httpx
import ipywidgets as widgets
import polars as pl
import traitlets

from .._errors import ColumnError, InputFileError
from .._members import (
    DEFAULT_MAX_BYTES,
    KindOption,
    MemberList,
    MemberSource,
    list_columns,
    read_members,
    require_members,
)
from .._privacy import mask_email
from . import _html
from ._base import Panel, check_keywords, labelled
from ._chunked_upload import ChunkedUpload
from ._table import PagedTable

__all__ = [
    "UPLOAD_HINT",
    "UPLOAD_LABEL",
    "MemberListBuilder",
    "fetch_url",
    "masked_values",
]

#: The largest download ``fetch_url`` reads.
DOWNLOAD_LIMIT_BYTES = 512 * 1024 * 1024

_AUTO = "(auto)"
_STYLE = {"description_width": "90px"}
_ACCEPT = ".csv,.tsv,.txt,.parquet,.pq,.xlsx,.xlsm,.xls,.ods"
#: The upload button's label.
UPLOAD_LABEL = "Upload a file"
#: What the panel says about the other way in (no Python in it).
UPLOAD_HINT = (
    "Or type where the file is: its path on the computer running the notebook, or an "
    "https:// link, then press Read."
)


def fetch_url(url: str, *, limit: int = DOWNLOAD_LIMIT_BYTES) -> bytes:
    """The bytes at ``url`` (http or https), at most ``limit`` of them."""
    chunks: list[bytes] = []
    size = 0
    with httpx.stream("GET", url, follow_redirects=True, timeout=60) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            size += len(chunk)
            if size > limit:
                msg = f"The file at the URL is larger than {limit // 2**20:,} MiB."
                raise ValueError(msg)
            chunks.append(chunk)
    return b"".join(chunks)


def masked_values(frame: pl.DataFrame, *, column: str = "value") -> pl.DataFrame:
    """``frame`` with each value of ``column`` masked like ``j***@e***.com``."""
    if column not in frame.columns:
        return frame
    return frame.with_columns(
        pl.col(column).map_elements(mask_email, return_dtype=pl.String, skip_nulls=True)
    )


class MemberListBuilder(Panel):
    """Bring the member list: upload a file, type its path or link, or ``builder.load(df)``
    with a polars frame.

    Pick the column with the email addresses (or customer ids) if the choice is not
    obvious. The report counts every data line: valid, rejected (with the reason),
    duplicates and blank lines, before anything is looked up in Shopgate. Values are
    masked unless "show values" is ticked.

    An upload goes in pieces to a private temporary file (see ``ChunkedUpload``), which is
    then read like a typed path; its bytes never enter the widget state, so a saved
    notebook does not keep the file. The file is removed when another list is loaded or the
    panel is closed.
    """

    #: The cleaned list (None until a list was read).
    members = traitlets.Instance(MemberList, allow_none=True)
    #: The member column (None: picked automatically).
    column = traitlets.Unicode(None, allow_none=True)
    #: ``"auto"``, ``"email"`` or ``"customer_id"``.
    kind = traitlets.Unicode("auto")
    #: The largest file read (uploaded, typed or downloaded), in bytes; None: no limit.
    max_bytes = traitlets.Int(DEFAULT_MAX_BYTES, allow_none=True)

    def __init__(self, **kwargs: Any) -> None:
        check_keywords(type(self), kwargs)
        #: The list the report shows (also one with no valid line, which ``members`` refuses).
        self.shown: MemberList | None = None
        self._source: MemberSource | None = None
        self._name: str | None = None
        self._filling = False
        self.upload = ChunkedUpload(label=UPLOAD_LABEL, accept=_ACCEPT)
        self.upload.add_class("segwidgets-upload")
        self.upload.on_complete(self._on_upload_complete)
        self.upload.on_refused(self._on_upload_refused)
        self.upload.observe(self._on_upload_status, names="status")
        self.column_dropdown = widgets.Dropdown(
            options=[_AUTO], value=_AUTO, description="Column", style=_STYLE,
            layout=widgets.Layout(width="300px"),
        )  # fmt: skip
        self.kind_buttons = widgets.ToggleButtons(
            options=[("auto", "auto"), ("emails", "email"), ("customer ids", "customer_id")],
            value="auto",
            style={"button_width": "auto"},
        )
        self.reveal = widgets.Checkbox(value=False, description="show values", indent=False)
        self.location = widgets.Text(
            placeholder="or a path on the server, or an https:// URL",
        )
        self.location_button = widgets.Button(
            description="Read", icon="folder-open", layout=widgets.Layout(width="auto")
        )
        self.location_button.on_click(lambda _: self.load_location(self.location.value))
        self.upload_hint = widgets.HTML(_html.note(UPLOAD_HINT, level="muted"))
        self.source_label = widgets.HTML()
        self.report = widgets.HTML()
        self.rejected_table = PagedTable(page_size=10, formatter=self._mask)
        self.duplicates_table = PagedTable(page_size=10, formatter=self._mask)
        self.details = widgets.Tab(
            children=[self.rejected_table, self.duplicates_table],
            titles=("Rejected", "Duplicates"),
        )
        super().__init__(heading="Member list", **kwargs)
        self.observe(self._on_max_bytes_change, names="max_bytes")
        self._on_max_bytes_change({"new": self.max_bytes})
        self.column_dropdown.observe(self._on_column_dropdown_change, names="value")
        self.kind_buttons.observe(self._on_kind_buttons_change, names="value")
        self.reveal.observe(self._on_reveal_change, names="value")
        self.observe(self._on_column_change, names="column")
        self.observe(self._on_kind_change, names="kind")
        self.observe(self._on_members_change, names="members")
        self._set_body(
            widgets.HBox(
                [self.upload, self.source_label], layout=widgets.Layout(align_items="center")
            ),
            widgets.HBox([self.location, self.location_button]),
            self.upload_hint,
            widgets.HBox([self.column_dropdown, labelled("Holds", self.kind_buttons)]),
            self.report,
            self.reveal,
            self.details,
        )
        self._show_members()

    # -- actions ----------------------------------------------------------------------------------

    def load(
        self,
        source: MemberSource,
        *,
        name: str | None = None,
        column: str | None = None,
        kind: KindOption | None = None,
    ) -> MemberList | None:
        """Read a list: a path, the bytes of a file (``name=`` gives its file name), a polars
        DataFrame/LazyFrame/Series or a list of strings. Returns the list (None on error)."""
        if isinstance(source, pl.LazyFrame):
            source = source.collect()
        if self.upload.path is not None and not (
            isinstance(source, str) and source == str(self.upload.path)
        ):
            self.upload.discard()  # another list replaces the uploaded one
        self._source = source
        self._name = name
        self._set_columns(self._columns_of(source, name))
        self._quiet_set(column=column, kind=kind or "auto")
        return self.read()

    def load_location(self, location: str) -> MemberList | None:
        """Read a list from a path on the kernel's machine or from an http(s) URL."""
        text = location.strip()
        if not text:
            self.show("Type the path of the file, or its https:// URL.", level="muted")
            return None
        if text.startswith(("https://", "http://")):
            fetched: list[bytes] = []  # empty when the download failed (the error is shown)
            with self.action("downloading the list"):
                fetched.append(fetch_url(text))
            if not fetched:
                return None
            data = fetched[0]
            name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "download"
            return self.load(data, name=name)
        return self.load(text)

    def read(self) -> MemberList | None:
        """Read the loaded source again with the current ``column`` and ``kind``."""
        self.shown = None  # first: clearing members redraws from it
        self.members = None
        self._show_members()
        if self._source is None:
            self.show("Upload a file, or type its path or link, first.", level="muted")
            return None
        with self.action("reading the member list"):
            members = read_members(
                self._source,
                column=self.column,
                kind=cast(KindOption, self.kind),
                name=self._name,
                max_bytes=self.max_bytes,
            )
            self.shown = members
            self._show_members()
            self.members = require_members(members)
            self.clear_status()
        if isinstance(self.last_error, ColumnError):
            self._set_columns(self.last_error.columns)
            self.show(
                str(self.last_error),
                level="warning",
                detail="Choose the column with the members above.",
            )
        return self.members

    def close(self) -> None:
        """Close the panel; an uploaded file is removed."""
        upload = getattr(self, "upload", None)  # absent when __init__ refused its arguments
        if upload is not None:
            upload.close()
        super().close()

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _columns_of(source: MemberSource, name: str | None) -> list[str]:
        return list_columns(source, name=name)

    def _set_columns(self, columns: list[str]) -> None:
        self._filling = True
        try:
            self.column_dropdown.options = [_AUTO, *columns]
            self.column_dropdown.value = self.column if self.column in columns else _AUTO
        finally:
            self._filling = False

    def _quiet_set(self, *, column: str | None, kind: str) -> None:
        self._filling = True
        try:
            self.column = column
            self.kind = kind
            self.column_dropdown.value = column if column in self.column_dropdown.options else _AUTO
            self.kind_buttons.value = kind
        finally:
            self._filling = False

    def _mask(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame if self.reveal.value else masked_values(frame)

    def _show_members(self) -> None:
        members = self.shown
        if members is None:
            self.source_label.value = ""
            # With a file given, the status says what became of it: no upload hint then.
            self.report.value = (
                ""
                if self._source is not None
                else _html.note(
                    "Upload a CSV, Excel or Parquet file, or type where it is (a path or an "
                    "https:// link).",
                    level="muted",
                )
            )
            self.rejected_table.frame = None
            self.duplicates_table.frame = None
            self.details.layout.display = "none"
            return
        what = "email addresses" if members.kind == "email" else "customer ids"
        origin = members.source or "data frame"
        column = f", column {members.column}" if members.column else ""
        self.source_label.value = _html.note(f"{origin}{column}: {what}", level="muted")
        self.report.value = _html.counts(
            [
                ("data lines", members.n_rows),
                ("valid", members.n_valid),
                ("rejected", members.n_rejected),
                ("duplicates", members.n_duplicates),
                ("blank", members.n_blank),
            ]
        )
        self.rejected_table.frame = members.rejected.select("row", "value", "reason")
        self.duplicates_table.frame = members.duplicates.select("row", "value", "first_row")
        self.details.set_title(0, f"Rejected ({members.n_rejected:,})")
        self.details.set_title(1, f"Duplicates ({members.n_duplicates:,})")
        has_rows = members.n_rejected or members.n_duplicates
        self.details.layout.display = "flex" if has_rows else "none"

    def _update_controls(self) -> None:
        self.upload.disabled = self.busy
        self.location.disabled = self.busy
        self.location_button.disabled = self.busy
        self.column_dropdown.disabled = self.busy
        self.kind_buttons.disabled = self.busy

    # -- observers --------------------------------------------------------------------------------

    @traitlets.validate("kind")
    def _validate_kind(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if value not in get_args(KindOption):
            msg = f"kind must be 'auto', 'email' or 'customer_id', not {value!r}"
            raise traitlets.TraitError(msg)
        return str(value)

    def _on_upload_complete(self, path: Path, name: str) -> None:
        # Read as a typed path is: the same reader, the same report.
        self.load(str(path), name=name)

    def _on_upload_refused(self, error: InputFileError) -> None:
        self.show_error(error, doing="uploading the file")

    def _on_upload_status(self, change: dict[str, Any]) -> None:
        uploading = change["new"] == "uploading"
        if uploading:
            self.clear_status()  # the upload shows its own progress
        # meanwhile the progress line takes the place of the current list's name
        self.source_label.layout.display = "none" if uploading else None

    def _on_max_bytes_change(self, change: dict[str, Any]) -> None:
        self.upload.max_bytes = change["new"]
        limit = change["new"]
        size = "any size" if limit is None else f"up to {limit / 2**20:,.0f} MiB"
        self.upload.hint = f"A CSV, Excel or Parquet file ({size})"

    def _on_column_dropdown_change(self, change: dict[str, Any]) -> None:
        if not self._filling:
            self.column = None if change["new"] == _AUTO else change["new"]

    def _on_kind_buttons_change(self, change: dict[str, Any]) -> None:
        if not self._filling:
            self.kind = change["new"]

    def _on_column_change(self, change: dict[str, Any]) -> None:
        if not self._filling:
            self._quiet_set(column=change["new"], kind=self.kind)
            self.read()

    def _on_kind_change(self, change: dict[str, Any]) -> None:
        if not self._filling:
            self._quiet_set(column=self.column, kind=change["new"])
            self.read()

    def _on_members_change(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.shown = change["new"]
        self._show_members()

    def _on_reveal_change(self, change: dict[str, Any]) -> None:
        self.rejected_table.render()
        self.duplicates_table.render()
