"""Who shares an ambiguous email: the candidate customers, shown in the match report.

An email is ambiguous when several registered customers have it. The report keeps only
the ids the Ambiguous setting chose (none with "skip"), so the candidates of the ambiguous
rows on the visible page are asked of Shopgate when the page is drawn: one matching of
those few emails (every registered customer of each) and one look-up of who they are,
kept for the life of the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl

from .._errors import SegwidgetsError
from .._members import read_members
from .._privacy import mask_email

if TYPE_CHECKING:
    from .._session import SegmentSession

__all__ = ["CANDIDATES", "EXPLAIN", "CandidateColumn", "explain_problems"]

#: The column the candidates are shown in.
CANDIDATES = "candidates"

#: One sentence per problem that needs one, shown above the problem rows when it appears.
EXPLAIN: dict[str, str] = {
    "ambiguous": (
        "Ambiguous: several registered customers share this email (listed under "
        "'customers with it'); the Ambiguous setting above says whether none of them, all "
        "of them or the most recently updated one becomes a member."
    ),
    "guest only": (
        "Guest only: only guest checkouts (orders placed without an account) used this "
        "email; a guest cannot be a segment member."
    ),
}


def explain_problems(problems: pl.Series) -> list[str]:
    """The sentences of ``EXPLAIN`` for the problems that occur in ``problems``."""
    present = set(problems.drop_nulls().to_list())
    return [text for word, text in EXPLAIN.items() if word in present]


class CandidateColumn:
    """An ``enrich`` for the match report's problem table: ambiguous rows gain the
    customers that share their email (masked email and name), asked for the visible
    page only and cached.

    ``session()`` gives the current session (None: nothing is asked); ``reveal()`` says
    whether emails are shown in full.
    """

    def __init__(
        self,
        session: Callable[[], SegmentSession | None],
        reveal: Callable[[], bool],
        *,
        problem: str = "ambiguous",
    ) -> None:
        self._session = session
        self._reveal = reveal
        self._problem = problem
        #: value as in the list → (email, name) of each customer with that email
        self._known: dict[str, list[tuple[str | None, str | None]]] = {}
        #: the last error (the column then stays empty for the rows it concerned)
        self.error: SegwidgetsError | None = None

    def clear(self) -> None:
        """Forget the candidates (a new match)."""
        self._known.clear()
        self.error = None

    def candidates(self, values: list[str]) -> dict[str, list[tuple[str | None, str | None]]]:
        """``(email, name)`` of each customer sharing each email of ``values`` (asked of
        Shopgate for those not known yet)."""
        missing = [v for v in dict.fromkeys(values) if v not in self._known]
        session = self._session()
        if missing and session is not None:
            members = read_members(missing, name="ambiguous emails")
            if not members.is_empty():
                resolution = session.resolve(
                    members, policy="all", strategy="lookup", classify_guests=False
                )
                report = resolution.report.select("value", "customer_ids")
                ids = [i for row in report.get_column("customer_ids").to_list() for i in row]
                people = session.people(ids) if ids else None
                who = (
                    {}
                    if people is None
                    else {
                        r[0]: (r[1], r[2])
                        for r in people.select("customer_id", "email", "name").iter_rows()
                    }
                )
                for value, row_ids in report.iter_rows():
                    self._known[str(value)] = [who.get(i, (None, None)) for i in row_ids]
            for value in missing:
                self._known.setdefault(value, [])
        return {v: self._known.get(v, []) for v in values}

    def _text(self, people: list[tuple[str | None, str | None]]) -> str:
        reveal = self._reveal()
        parts = []
        for email, name in people:
            shown = (email if reveal else mask_email(email)) if email else "no email"
            parts.append(f"{name} · {shown}" if name else shown)
        return "\n".join(parts)  # one customer per line

    def __call__(self, page: pl.DataFrame) -> pl.DataFrame:
        if "problem" not in page.columns or "value" not in page.columns or page.height == 0:
            return page
        rows = page.filter(pl.col("problem") == self._problem)
        if rows.height == 0:
            return page
        values = [str(v) for v in rows.get_column("value").to_list()]
        try:
            found = self.candidates(values)
        except SegwidgetsError as error:
            self.error = error
            return page
        text = {value: self._text(people) for value, people in found.items()}
        return page.with_columns(
            pl.col("value")
            .cast(pl.String)
            .replace_strict(text, default=None, return_dtype=pl.String)
            .alias(CANDIDATES)
        )
