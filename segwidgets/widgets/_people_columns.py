"""The person behind a customer id, as table columns: masked email, name, the list's row.

Tables of customer ids (a plan's sides, a run's outcomes, push failures) show, for the
visible page only, who each id is: ``People`` (``session.people``) asks Shopgate for the ids
of that page it has not seen. Emails are masked unless the reveal box is ticked; the
search box also finds rows by the email or name of anyone already shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import polars as pl

from .._errors import SegwidgetsError
from .._members import MemberList, read_members
from .._privacy import mask_email
from .._resolve import Resolution
from ._table import search_frame

__all__ = [
    "HEADERS",
    "LOOK_UP_ALL_LIMIT",
    "Lookup",
    "input_rows",
    "look_up_all",
    "looks_like_email",
    "masked",
    "people_enricher",
    "people_searcher",
    "session_email_finder",
    "session_lookup",
    "with_list_emails",
    "with_people",
]

#: ``lookup(ids, cached_only)``: ``customer_id``, ``email``, ``name``, ``account`` per id.
Lookup = Callable[[Sequence[str], bool], pl.DataFrame]

#: Plain column headers for the tables.
HEADERS: dict[str, str] = {
    "customer_id": "customer id",
    "row": "list row",
    "value": "as in the list",
    "email": "email",
    "name": "name",
    "account": "account",
    "action": "change",
    "outcome": "outcome",
    "error": "why",
    "status": "status",
    "batch": "batch",
}

_ORDER = ("email", "name", "customer_id", "row", "value", "account")


def masked(frame: pl.DataFrame, columns: Sequence[str] = ("email", "value")) -> pl.DataFrame:
    """``frame`` with every email-like value of ``columns`` masked (``j***@e***.com``);
    values without ``@`` (ids, names) are left as they are."""
    exprs = [
        pl.col(c).map_elements(
            lambda v: mask_email(v) if "@" in v else v, return_dtype=pl.String, skip_nulls=True
        )
        for c in columns
        if c in frame.columns and frame.schema[c] == pl.String
    ]
    return frame.with_columns(exprs) if exprs else frame


#: The most customers "Look up all" reads for one table (a hundred per request). Beyond
#: it a search by a whole email address (one matching) or the plan's download serve better.
LOOK_UP_ALL_LIMIT = 50_000

#: Ids asked for at once by ``look_up_all`` (several requests of a hundred, sent together);
#: progress and Stop are checked between two such rounds.
_LOOK_UP_CHUNK = 400


def look_up_all(
    lookup: Lookup,
    ids: Sequence[str],
    *,
    chunk: int = _LOOK_UP_CHUNK,
    progress: Callable[[int, int], None] | None = None,
    stopped: Callable[[], bool] | None = None,
) -> bool:
    """Read who every id of ``ids`` is (``lookup``), ``chunk`` ids at a time, the ids known
    already skipped; ``progress(done, total)`` after each round. Returns False when
    ``stopped()`` said so between two rounds (what was read stays known)."""
    wanted = list(dict.fromkeys(ids))
    known = set(lookup(wanted, True).get_column("customer_id").to_list())
    missing = [i for i in wanted if i not in known]
    total = len(wanted)
    done = total - len(missing)
    if progress is not None:
        progress(done, total)
    for start in range(0, len(missing), max(chunk, 1)):
        if stopped is not None and stopped():
            return False
        part = missing[start : start + chunk]
        lookup(part, False)
        done += len(part)
        if progress is not None:
            progress(done, total)
    return True


def with_list_emails(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with an ``email`` column taken from the list's ``value`` where it is an
    email address (adds and kept rows came from the list: their emails are known without
    asking Shopgate), so that search and sort by email cover every row."""
    if "value" not in frame.columns or "email" in frame.columns:
        return frame
    value = pl.col("value").cast(pl.String).str.strip_chars()
    return frame.with_columns(
        pl.when(value.str.contains("@", literal=True)).then(value).alias("email")
    )


def with_people(frame: pl.DataFrame, people: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the ``email`` and ``name`` of ``people`` joined on ``customer_id``
    (Shopgate's email where it knows one, else the list's)."""
    if "customer_id" not in frame.columns or frame.height == 0:
        return frame
    found = people.select(
        "customer_id", pl.col("email").alias("_email"), pl.col("name").alias("_name")
    )
    joined = frame.join(found, on="customer_id", how="left", maintain_order="left")
    email = pl.coalesce("_email", "email") if "email" in frame.columns else pl.col("_email")
    name = pl.coalesce("_name", "name") if "name" in frame.columns else pl.col("_name")
    return joined.with_columns(email.alias("email"), name.alias("name")).drop("_email", "_name")


def input_rows(desired: object) -> pl.DataFrame | None:
    """``customer_id``, ``row``, ``value``: where each customer id came from in the list
    (a ``Resolution`` or a ``MemberList`` of ids); None when there is no list."""
    if isinstance(desired, Resolution):
        return (
            desired.report.select("row", "value", "customer_ids")
            .explode("customer_ids")
            .drop_nulls("customer_ids")
            .rename({"customer_ids": "customer_id"})
            .unique("customer_id", keep="first", maintain_order=True)
            .select("customer_id", pl.col("row").cast(pl.Int64), pl.col("value").cast(pl.String))
        )
    if isinstance(desired, MemberList) and desired.kind == "customer_id":
        return desired.valid.select(
            pl.col("customer_id").cast(pl.String), pl.col("row").cast(pl.Int64)
        ).unique("customer_id", keep="first", maintain_order=True)
    return None


def session_lookup(session: object) -> Lookup | None:
    """The ``Lookup`` of a ``SegmentSession`` (its ``people`` method), None without one."""
    people = getattr(session, "people", None)
    if session is None or people is None:
        return None

    def lookup(ids: Sequence[str], cached_only: bool) -> pl.DataFrame:
        frame: pl.DataFrame = people(ids, cached_only=cached_only)
        return frame

    return lookup


def _ordered(frame: pl.DataFrame) -> pl.DataFrame:
    """Person columns first; list columns that say nothing on this page left out (all
    empty, as for members the list does not hold, or ``value`` equal to the email)."""
    drop = [
        c
        for c in ("row", "value", "error")
        if c in frame.columns
        and bool(frame.get_column(c).cast(pl.String).fill_null("").eq("").all())
    ]
    if "value" in frame.columns and "email" in frame.columns and "value" not in drop:
        same = (
            frame.get_column("value").str.strip_chars().str.to_lowercase()
            == frame.get_column("email").str.to_lowercase()
        )
        if bool(same.fill_null(True).all()):
            drop.append("value")
    frame = frame.drop(drop)
    first = [c for c in _ORDER if c in frame.columns]
    return frame.select(first + [c for c in frame.columns if c not in first])


def people_enricher(
    lookup: Callable[[], Lookup | None], on_error: Callable[[str], None] | None = None
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """An ``enrich`` for ``PagedTable``: the page joined with who each ``customer_id`` is.

    ``lookup()`` gives the current lookup (None: not connected, ids only). ``account`` is
    shown only when some row of the page is not a registered customer. A lookup that fails
    leaves the ids alone and tells ``on_error``.
    """

    def enrich(page: pl.DataFrame) -> pl.DataFrame:
        ask = lookup()
        if ask is None or "customer_id" not in page.columns or page.height == 0:
            return _ordered(page)
        ids = page.get_column("customer_id").cast(pl.String).to_list()
        try:
            people = ask(ids, False)
        except SegwidgetsError as error:
            if on_error is not None:
                on_error(f"Could not read who these customers are: {error}")
            return _ordered(page)
        drop = [c for c in ("email", "name", "account") if c in page.columns]
        joined = page.drop(drop).join(people, on="customer_id", how="left", maintain_order="left")
        accounts = joined.get_column("account")
        if bool((accounts.fill_null("registered") == "registered").all()):
            joined = joined.drop("account")
        return _ordered(joined)

    return enrich


def looks_like_email(text: str) -> bool:
    """A whole email address (something@domain.tld), worth asking Shopgate about."""
    local, at, domain = text.strip().partition("@")
    return bool(local and at and "." in domain and " " not in text.strip())


def session_email_finder(session: object) -> Callable[[str], list[str]] | None:
    """The customer ids of one email address, asked of Shopgate through the session's
    matching (every registered customer with that email), None without a session."""
    if session is None or not hasattr(session, "resolve"):
        return None

    def find(email: str) -> list[str]:
        members = read_members([email.strip()], name="search")
        if members.is_empty():
            return []
        resolution: Resolution = session.resolve(
            members, policy="all", strategy="lookup", classify_guests=False
        )
        ids: list[str] = resolution.customer_ids.cast(pl.String).to_list()
        return ids

    return find


def people_searcher(
    lookup: Callable[[], Lookup | None],
    find_email: Callable[[], Callable[[str], list[str]] | None] | None = None,
) -> Callable[[pl.DataFrame, str], pl.DataFrame]:
    """A ``searcher`` for ``PagedTable``: the text columns of the frame, the email and name
    of every person of the frame already looked up, and, for a whole email address, the
    customers Shopgate has with it (``find_email``: the matching of that one email, never
    a request per row)."""

    def search(frame: pl.DataFrame, query: str) -> pl.DataFrame:
        direct = search_frame(frame, query)
        ask = lookup()
        if ask is None or "customer_id" not in frame.columns:
            return direct
        known = ask(frame.get_column("customer_id").cast(pl.String).to_list(), True)
        hits = search_frame(known.select("customer_id", "email", "name"), query)
        found: list[str] = hits.get_column("customer_id").to_list()
        finder = find_email() if find_email is not None else None
        if finder is not None and looks_like_email(query):
            # A failed question leaves the rows found locally.
            with contextlib.suppress(SegwidgetsError):
                found += finder(query)
        if not found:
            return direct
        wanted = pl.col("customer_id").is_in(pl.Series(found, dtype=pl.String).implode())
        if direct.height:
            wanted = wanted | pl.col("customer_id").is_in(
                direct.get_column("customer_id").implode()
            )
        return frame.filter(wanted)

    return search
