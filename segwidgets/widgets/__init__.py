"""Jupyter panels for segwidgets: thin views over ``SegmentSession``.

``SegmentApp`` is the whole workflow in one widget (``session.panel()`` returns it); each
step is also a panel of its own. Every button has a Python twin, so a panel can be driven
from code (and from tests) exactly as from the browser.
"""

from __future__ import annotations

from ._app import SegmentApp
from ._builder import MemberListBuilder
from ._connect import ConnectPanel
from ._diff import DiffPreview
from ._history import HistoryPanel
from ._match import MatchReport
from ._picker import SegmentPicker
from ._planview import PlanView
from ._push import PushPanel
from ._table import PagedTable

__all__ = [
    "ConnectPanel",
    "DiffPreview",
    "HistoryPanel",
    "MatchReport",
    "MemberListBuilder",
    "PagedTable",
    "PlanView",
    "PushPanel",
    "SegmentApp",
    "SegmentPicker",
]
