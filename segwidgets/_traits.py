"""What segwidgets knows of how this Shopgate answers, where Shopgate's documents are silent.

``shared/shopgate-api.md`` marks several behaviours [likely] or [unknown]: the largest page,
how member pages are walked, whether the ``emailAddress`` filter compares exactly, whether
``$in`` works on customer filters. The client starts from the safe assumption for each
(``None`` = not known yet) and learns the real answer from a server's own answers (a 400
that names ``limit``), from ``segwidgets doctor``, or from an earlier session (the journal
keeps the traits per merchant).

One ``ServerTraits`` per client; every reader asks it, nobody keeps a copy. Safe to share
between threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any, Literal

__all__ = ["DEFAULT_PAGE_SIZE", "EmailFilter", "MemberPaging", "ServerTraits"]

#: The only published maximum of a Shopgate list call (the CMS spec): the safe page size.
DEFAULT_PAGE_SIZE = 100

MemberPaging = Literal["offset", "cursor"]
EmailFilter = Literal["exact", "insensitive"]

_KNOWN = ("page_limit", "member_paging", "email_filter", "in_on_id", "in_on_email")


@dataclass
class ServerTraits:
    """The known traits of one merchant's Shopgate; ``None`` means "not known yet".

    - ``page_limit``: the largest ``limit`` known to be accepted on list calls.
    - ``member_paging``: how ``GET segments/{code}/members`` pages (``offset`` or ``cursor``).
    - ``email_filter``: whether the ``emailAddress`` filter compares ``exact`` or
      ``insensitive``ly.
    - ``in_on_id`` / ``in_on_email``: whether ``{"id"|"emailAddress": {"$in": [...]}}`` works
      on the customer filter (and ``in_on_id`` on the member filter).
    """

    page_limit: int | None = None
    member_paging: MemberPaging | None = None
    email_filter: EmailFilter | None = None
    in_on_id: bool | None = None
    in_on_email: bool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def page_size(self) -> int:
        """The page size to ask for: the largest known to work, else 100."""
        with self._lock:
            return self.page_limit if self.page_limit else DEFAULT_PAGE_SIZE

    def learn(self, **changes: Any) -> None:
        """Record what a server showed, e.g. ``learn(page_limit=100)``."""
        unknown = sorted(set(changes) - set(_KNOWN))
        if unknown:
            msg = f"Unknown server trait(s): {', '.join(unknown)}."
            raise TypeError(msg)
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The known traits as a JSON-ready dict (``None`` for unknown ones)."""
        with self._lock:
            return {name: getattr(self, name) for name in _KNOWN}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerTraits:
        """Traits saved by ``to_dict``; keys this version does not know are ignored."""
        names = {f.name for f in fields(cls)} & set(_KNOWN)
        return cls(**{k: v for k, v in data.items() if k in names})
