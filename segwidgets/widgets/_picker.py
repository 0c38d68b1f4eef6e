"""``SegmentPicker``: the merchant's segments, which one to sync, and creating a fixed one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import polars as pl
import traitlets

from .._segment_kind import is_fixed
from . import _html
from ._base import Panel, check_keywords
from ._table import PagedTable

if TYPE_CHECKING:
    from .._session import SegmentSession

__all__ = ["SegmentPicker"]

_STYLE = {"description_width": "90px"}
_DYNAMIC_REASON = (
    "Its members come from rules evaluated by Shopgate, so it has no member list that can be "
    "edited. Pick a fixed segment, or create one below."
)


class SegmentPicker(Panel):
    """Pick the segment to sync. Shows every segment with type, status and member count.

    Dynamic segments are listed but cannot be chosen for a sync (``editable`` is False and
    the panel says why). Python twins: ``picker.value = "newsletter"``, ``picker.refresh()``,
    ``picker.create("summer", "Summer sale")``.
    """

    #: The code of the chosen segment (None: none chosen).
    value = traitlets.Unicode(None, allow_none=True)

    def __init__(self, session: SegmentSession | None = None, **kwargs: Any) -> None:
        check_keywords(type(self), kwargs)
        self.segments = pl.DataFrame()
        self._filling = False
        self.dropdown = widgets.Dropdown(
            options=[], description="Segment", style=_STYLE, layout=widgets.Layout(width="520px")
        )
        self.refresh_button = widgets.Button(
            icon="refresh", tooltip="Read the segments again", layout=widgets.Layout(width="40px")
        )
        self.refresh_button.on_click(lambda _: self.refresh())
        self.details = widgets.HTML()
        self.table = PagedTable(
            page_size=10, empty="No segments yet.", headers={"memberCount": "members"}
        )
        self.new_code = widgets.Text(
            description="Code", placeholder="e.g. summer-sale", style=_STYLE,
            layout=widgets.Layout(width="300px"),
        )  # fmt: skip
        self.new_name = widgets.Text(
            description="Name", placeholder="Summer sale", style=_STYLE,
            layout=widgets.Layout(width="300px"),
        )  # fmt: skip
        self.new_description = widgets.Text(
            description="Description", style=_STYLE, layout=widgets.Layout(width="420px")
        )
        self.create_button = widgets.Button(description="Create fixed segment", icon="plus")
        self.create_button.on_click(lambda _: self.create(self.new_code.value, self.new_name.value))
        creator = widgets.Accordion(
            children=[
                widgets.VBox(
                    [
                        widgets.HBox([self.new_code, self.new_name]),
                        self.new_description,
                        self.create_button,
                    ]
                )
            ],
            titles=("Create a fixed segment",),
            selected_index=None,
        )
        super().__init__(session, heading="Segment", **kwargs)
        self.dropdown.observe(self._on_dropdown_change, names="value")
        self.observe(self._on_value_change, names="value")
        self._set_body(
            widgets.HBox([self.dropdown, self.refresh_button]), self.details, self.table, creator
        )
        self._show_details()
        self._update_controls()

    # -- state ------------------------------------------------------------------------------------

    @property
    def segment(self) -> dict[str, Any] | None:
        """The chosen segment's row (code, name, type, status, memberCount, description)."""
        if self.value is None or self.segments.is_empty():
            return None
        rows = self.segments.filter(pl.col("code") == self.value).to_dicts()
        return rows[0] if rows else None

    @property
    def editable(self) -> bool:
        """True when a segment is chosen and it is fixed (its members can be synced)."""
        segment = self.segment
        return segment is not None and is_fixed(segment)

    # -- actions ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the segments again (the choice is kept when the segment still exists)."""
        with self.action("reading the segments"):
            if self.session is None:
                self.show("Connect first.", level="muted")
                return
            self.segments = self.session.segments()
            self._fill()
            self.clear_status()

    def create(self, code: str, name: str, *, description: str | None = None) -> None:
        """Create a fixed segment and choose it."""
        with self.action("creating the segment"):
            if self.session is None:
                self.show("Connect first.", level="muted")
                return
            code, name = code.strip(), name.strip()
            if not code or not name:
                self.show("A new segment needs a code and a name.", level="warning")
                return
            text = self.new_description.value if description is None else description
            self.session.create_segment(code, name, description=text.strip())
            self.segments = self.session.segments()
            self._fill()
            self.value = code
            self.new_code.value = self.new_name.value = self.new_description.value = ""
            self.show(f"Created the fixed segment {code}.", level="success")

    # -- drawing ----------------------------------------------------------------------------------

    def _fill(self) -> None:
        options = [
            (
                (
                    f"{row['code']} — {row['name']} ({row['type']}, {row['status']}, "
                    f"{(row['memberCount'] or 0):,} members)"
                ),
                row["code"],
            )
            for row in self.segments.iter_rows(named=True)
        ]
        codes = [code for _, code in options]
        keep = self.value if self.value in codes else None
        self._filling = True  # a Dropdown jumps to its first option when options change
        try:
            self.dropdown.options = options
            self.dropdown.value = keep
        finally:
            self._filling = False
        self.value = keep
        self.table.frame = self.segments.select("code", "name", "type", "status", "memberCount")
        self._show_details()

    def _show_details(self) -> None:
        segment = self.segment
        self.table.layout.display = "none" if self.session is None else "flex"
        if self.session is None:
            self.details.value = _html.note("Connect first to see the segments.", level="muted")
            return
        if segment is None:
            self.details.value = _html.note("Choose the segment to sync.", level="muted")
            return
        facts = _html.counts(
            [
                ("members", int(segment.get("memberCount") or 0)),
                ("type", str(segment.get("type"))),
                ("status", str(segment.get("status"))),
            ]
        )
        text = str(segment.get("description") or "")
        if is_fixed(segment):
            self.details.value = facts + (_html.note(text, level="muted") if text else "")
        else:
            self.details.value = facts + _html.note(
                f"{segment['code']} is a {segment.get('type')} segment and cannot be synced.",
                level="warning",
                detail=_DYNAMIC_REASON,
            )

    def _update_controls(self) -> None:
        off = self.busy or self.session is None
        self.refresh_button.disabled = off
        self.create_button.disabled = off
        self.dropdown.disabled = self.busy

    # -- observers --------------------------------------------------------------------------------

    @traitlets.validate("value")
    def _validate_value(self, proposal: dict[str, Any]) -> str | None:
        code = proposal["value"]
        if code is not None and not self.segments.is_empty():
            known = self.segments.get_column("code").to_list()
            if code not in known:
                msg = f"No segment {code!r}; known segments: {', '.join(known)}."
                raise traitlets.TraitError(msg)
        return code  # type: ignore[no-any-return]

    def _on_dropdown_change(self, change: dict[str, Any]) -> None:
        if not self._filling:
            self.value = change["new"]

    def _on_value_change(self, change: dict[str, Any]) -> None:
        if self.dropdown.value != change["new"]:
            known = [code for _, code in self.dropdown.options]
            self.dropdown.value = change["new"] if change["new"] in known else None
        self._show_details()

    def _on_session_change(self, change: dict[str, Any]) -> None:
        super()._on_session_change(change)
        self.segments = pl.DataFrame()
        self.value = None
        self._filling = True
        try:
            self.dropdown.options = []
        finally:
            self._filling = False
        self.table.frame = None
        self._show_details()
        if change["new"] is not None:
            self.refresh()
