"""``segwidgets doctor``: read-only probes of how one merchant's Shopgate answers.

Shopgate's documents leave open how large a page may be, how segment members are paged,
whether the ``emailAddress`` filter compares exactly and where ``$in`` works
(``shared/shopgate-api.md``). ``run_doctor`` asks the server itself, with a handful of
GETs, and returns a ``DoctorReport``: one row per probe, "what Shopgate did → what
segwidgets will do", and the ``ServerTraits`` the answers showed. Nothing is written unless
``write_test=True``, which creates a scratch fixed segment, adds and removes one member,
times how long the accepted DELETE takes to show, and deletes the segment again.

Probes never put an email address into the report: they say "a registered customer's
email", never which.
"""

from __future__ import annotations

import html
import json
import re
import statistics
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx
import polars as pl

from ._errors import APIError, AuthenticationError, BadRequestError
from ._traits import DEFAULT_PAGE_SIZE, ServerTraits

if TYPE_CHECKING:
    from ._client import ShopgateClient

__all__ = ["DoctorReport", "Finding", "Outcome", "run_doctor"]

#: ``ok``: as expected; ``learned``: a trait was read from the answer; ``unknown``: the
#: answer settled nothing (segwidgets keeps its safe default); ``failed``: the probe could
#: not run (sign-in or the segment list); ``skipped``: not run.
Outcome = Literal["ok", "learned", "unknown", "failed", "skipped"]

#: The ``limit`` the page-size probe asks for: the page size segwidgets used to assume.
PROBE_LIMIT = 1000
_MAXIMUM_RE = re.compile(r"maximum\D{0,20}(\d{1,7})", re.IGNORECASE)
_SCRATCH_PREFIX = "segwidgets-doctor-"


@dataclass(frozen=True)
class Finding:
    """One probe: what Shopgate did and what segwidgets will do about it."""

    probe: str
    outcome: Outcome
    shopgate_did: str
    segwidgets_will: str


@dataclass
class DoctorReport:
    """The answer of ``segwidgets doctor``: one ``Finding`` per probe and the traits learned.

    ``ok`` is False when a probe failed (the sign-in or the segment list): then the other
    probes were skipped. ``to_polars()`` gives the table; in a notebook it renders as HTML.
    """

    merchant_code: str
    target: str
    findings: list[Finding]
    traits: ServerTraits
    seconds: float
    wrote: bool = False
    _by_probe: dict[str, Finding] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_probe = {f.probe: f for f in self.findings}

    @property
    def ok(self) -> bool:
        """True unless a probe failed."""
        return all(f.outcome != "failed" for f in self.findings)

    def finding(self, probe: str) -> Finding:
        """The finding of one probe (``"largest page"``, ``"member paging"``, ...)."""
        return self._by_probe[probe]

    def to_polars(self) -> pl.DataFrame:
        """The findings: ``probe``, ``outcome``, ``shopgate_did``, ``segwidgets_will``."""
        return pl.DataFrame(
            [(f.probe, f.outcome, f.shopgate_did, f.segwidgets_will) for f in self.findings],
            schema={
                "probe": pl.String,
                "outcome": pl.String,
                "shopgate_did": pl.String,
                "segwidgets_will": pl.String,
            },
            orient="row",
        )

    def to_text(self) -> str:
        """The report as plain text (what ``segwidgets doctor`` prints)."""
        writes = "with" if self.wrote else "no"
        where = f"merchant {self.merchant_code} at {self.target}"
        lines = [f"segwidgets doctor: {where} ({self.seconds:.1f} s, {writes} writes)"]
        for f in self.findings:
            lines.append(f"[{f.outcome}] {f.probe}")
            lines.append(f"    Shopgate did:        {f.shopgate_did}")
            lines.append(f"    segwidgets will do:  {f.segwidgets_will}")
        known = ", ".join(f"{k}={v}" for k, v in self.traits.to_dict().items() if v is not None)
        lines.append(f"traits: {known or 'nothing learned'}")
        lines.append("result: " + ("ok" if self.ok else "FAILED"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        colours = {"ok": "#2e7d32", "learned": "#1565c0", "unknown": "#8d6e00", "failed": "#c62828"}
        rows = "".join(
            "<tr>"
            f"<td style='text-align:left'>{html.escape(f.probe)}</td>"
            f"<td style='text-align:left;color:{colours.get(f.outcome, '#666')}'>"
            f"{html.escape(f.outcome)}</td>"
            f"<td style='text-align:left'>{html.escape(f.shopgate_did)}</td>"
            f"<td style='text-align:left'>{html.escape(f.segwidgets_will)}</td>"
            "</tr>"
            for f in self.findings
        )
        head = "".join(
            f"<th style='text-align:left'>{h}</th>"
            for h in ("probe", "outcome", "what Shopgate did", "what segwidgets will do")
        )
        caption = html.escape(
            f"Merchant {self.merchant_code} at {self.target}: "
            + ("all probes ran" if self.ok else "a probe failed")
            + f" ({self.seconds:.1f} s)"
        )
        return (
            f"<table class='segwidgets-doctor'><caption style='text-align:left'>{caption}"
            f"</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )


# -- probing ---------------------------------------------------------------------------------


@dataclass
class _Probe:
    client: ShopgateClient
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    times: list[float] = field(default_factory=list)

    def get(self, service: Any, *parts: str, **params: Any) -> tuple[int, Any]:
        """A GET's status and JSON body (``None`` if not JSON), timed."""
        query = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
        started = self.clock()
        response = self.client.raw_get(service, *parts, params=query)
        self.times.append(self.clock() - started)
        return response.status_code, _json(response)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _meta(body: Any) -> Mapping[str, Any]:
    meta = body.get("meta") if isinstance(body, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    items = body.get(key) if isinstance(body, Mapping) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _names_param(body: Any, name: str) -> bool:
    """Whether a 400 body says that parameter ``name`` is at fault."""
    if not isinstance(body, Mapping):
        return False
    error = body.get("error")
    if isinstance(error, Mapping) and error.get("paramName") == name:
        return True
    text = json.dumps(body).lower()
    return f"({name})" in text or f"parameter {name}" in text


def _named_maximum(body: Any) -> int | None:
    """The maximum a validation error names ("Value 1000 is greater than maximum 100")."""
    match = _MAXIMUM_RE.search(json.dumps(body)) if body is not None else None
    return int(match.group(1)) if match else None


def _sign_in_and_segments(probe: _Probe) -> tuple[list[Finding], list[dict[str, Any]] | None]:
    try:
        status, body = probe.get("segmentation", "segments", limit=DEFAULT_PAGE_SIZE)
    except AuthenticationError as exc:
        return [
            Finding(
                "sign-in",
                "failed",
                f"refused the sign-in: {exc}",
                "stops; check the merchant code, client id and secret, username and password",
            )
        ], None
    sign_in = Finding(
        "sign-in", "ok", "issued a bearer token", "signs in the same way, and again on a 401"
    )
    segments = _items(body, "segments")
    if status != 200 or not isinstance(body, Mapping) or "segments" not in body:
        return [
            sign_in,
            Finding(
                "segments list",
                "failed",
                f"answered GET segments with HTTP {status}",
                "stops; the account needs read access to the segmentation service",
            ),
        ], None
    total = _meta(body).get("totalItemCount", len(segments))
    return [
        sign_in,
        Finding(
            "segments list",
            "ok",
            f"listed {len(segments)} of {total} segment(s)",
            "lists segments in offset pages",
        ),
    ], segments


def _largest_page(probe: _Probe, traits: ServerTraits) -> Finding:
    status, body = probe.get("customer", "customers", limit=PROBE_LIMIT)
    asked = f"asked for limit={PROBE_LIMIT} customers"
    if status == 400 and _names_param(body, "limit"):
        maximum = _named_maximum(body) or DEFAULT_PAGE_SIZE
        traits.learn(page_limit=maximum)
        return Finding(
            "largest page",
            "learned",
            f"{asked}: 400 naming limit"
            + (f" (maximum {maximum})" if _named_maximum(body) else ""),
            f"reads pages of {maximum}",
        )
    if status != 200:
        return Finding(
            "largest page",
            "unknown",
            f"{asked}: HTTP {status}, not naming limit",
            f"reads pages of {traits.page_size} (the safe default)",
        )
    served = _meta(body).get("limit")
    customers = _items(body, "customers")
    total = _meta(body).get("totalItemCount")
    if isinstance(served, int) and 0 < served < PROBE_LIMIT:
        traits.learn(page_limit=served)
        return Finding(
            "largest page",
            "learned",
            f"{asked}: served a page of {served} (meta.limit={served})",
            f"reads pages of {served}",
        )
    if isinstance(total, int) and len(customers) < min(PROBE_LIMIT, total):
        traits.learn(page_limit=len(customers))
        return Finding(
            "largest page",
            "learned",
            f"{asked}: served {len(customers)} of {total} without saying so",
            f"reads pages of {len(customers)}",
        )
    traits.learn(page_limit=PROBE_LIMIT)
    return Finding(
        "largest page",
        "learned",
        f"{asked}: served them (meta.limit={served})",
        f"reads pages of {PROBE_LIMIT}",
    )


def _member_paging(probe: _Probe, traits: ServerTraits, segments: list[dict[str, Any]]) -> Finding:
    sample = next(
        (s for s in segments if isinstance(s.get("memberCount"), int) and s["memberCount"] >= 2),
        None,
    )
    if sample is None:
        return Finding(
            "member paging",
            "unknown",
            "no segment with 2 or more members to read",
            "follows meta.cursors.next when a page has it, else pages with offset",
        )
    code = str(sample["code"])
    path = ("segments", code, "members")
    status, first = probe.get("segmentation", *path, limit=1)
    meta = _meta(first)
    members = _items(first, "members")
    if status != 200 or len(members) != 1:
        return Finding(
            "member paging",
            "unknown",
            f"answered limit=1 on a segment's members with HTTP {status}, {len(members)} member(s)",
            "follows meta.cursors.next when a page has it, else pages with offset",
        )
    cursors = meta.get("cursors")
    if isinstance(cursors, Mapping):
        after = cursors.get("next") or cursors.get("after")
        _, second = probe.get("segmentation", *path, limit=1, cursor=after) if after else (0, None)
        moved = _items(second, "members")[:1] != members and bool(_items(second, "members"))
        if moved:
            traits.learn(member_paging="cursor")
            return Finding(
                "member paging",
                "learned",
                "paged a segment's members with meta.cursors (the cursor led to the next member)",
                "follows meta.cursors.next",
            )
    if "offset" in meta:
        _, second = probe.get("segmentation", *path, limit=1, offset=1)
        following = _items(second, "members")
        if following and following[0].get("id") != members[0].get("id"):
            traits.learn(member_paging="offset")
            return Finding(
                "member paging",
                "learned",
                "paged a segment's members with meta.offset (offset=1 gave the next member)",
                "pages members with limit and offset",
            )
    return Finding(
        "member paging",
        "unknown",
        f"answered a page of members with meta keys {sorted(meta)}",
        "follows meta.cursors.next when a page has it, else pages with offset",
    )


def _registered_sample(probe: _Probe) -> list[dict[str, Any]]:
    status, body = probe.get("customer", "customers", limit=20, filters={"isAnonymous": False})
    if status != 200:
        return []
    return [
        c
        for c in _items(body, "customers")
        if isinstance(c.get("id"), str)
        and c.get("status", "active") == "active"
        and isinstance(c.get("emailAddress"), str)
        and c["emailAddress"] != c["emailAddress"].swapcase()
    ]


def _finds(probe: _Probe, customer_id: str, filters: dict[str, Any]) -> tuple[int, bool, int]:
    """Status, whether ``customer_id`` is among the customers ``filters`` selects, and how
    many customers the answer counts."""
    status, body = probe.get("customer", "customers", limit=10, filters=filters)
    ids = [c.get("id") for c in _items(body, "customers")]
    total = _meta(body).get("totalItemCount", len(ids))
    return status, customer_id in ids, total if isinstance(total, int) else len(ids)


def _email_filter(probe: _Probe, traits: ServerTraits, sample: list[dict[str, Any]]) -> Finding:
    if not sample:
        return Finding(
            "email filter",
            "unknown",
            "no registered customer with letters in the email to test with",
            "treats the email filter as exact and re-checks every candidate locally",
        )
    someone = sample[0]
    email = someone["emailAddress"]
    _, as_stored, _ = _finds(probe, someone["id"], {"emailAddress": email, "isAnonymous": False})
    if not as_stored:
        return Finding(
            "email filter",
            "unknown",
            "did not find a registered customer by its own email as stored",
            "treats the email filter as exact and re-checks every candidate locally",
        )
    altered = {"emailAddress": email.swapcase(), "isAnonymous": False}
    status, found, total = _finds(probe, someone["id"], altered)
    if status == 200 and found:
        traits.learn(email_filter="insensitive")
        return Finding(
            "email filter",
            "learned",
            "found a registered customer by its email with the case of every letter changed",
            "looks each email up once, in its normalised spelling",
        )
    if status == 200 and total == 0:
        traits.learn(email_filter="exact")
        return Finding(
            "email filter",
            "learned",
            "found a registered customer by its email as stored, not with the case changed",
            "treats lookups as exact: tries the spellings the list gives, else scans",
        )
    return Finding(
        "email filter",
        "unknown",
        f"answered the email with its case changed with HTTP {status}, {total} customer(s)",
        "treats the email filter as exact and re-checks every candidate locally",
    )


def _in_filter(
    probe: _Probe, traits: ServerTraits, sample: list[dict[str, Any]], field_name: str
) -> Finding:
    trait = "in_on_id" if field_name == "id" else "in_on_email"
    probe_name = f"$in on {field_name}"
    picked = sample[:2]
    if len(picked) < 2:
        return Finding(
            probe_name,
            "unknown",
            "fewer than two registered customers to test with",
            f"does not use $in on {field_name}",
        )
    values = [c["id" if field_name == "id" else "emailAddress"] for c in picked]
    filters = {field_name: {"$in": values}, "isAnonymous": False}
    status, body = probe.get("customer", "customers", limit=10, filters=filters)
    found = {c.get("id") for c in _items(body, "customers")}
    wanted = {c["id"] for c in picked}
    total = _meta(body).get("totalItemCount")
    if status == 200 and wanted <= found and (not isinstance(total, int) or total <= 10):
        traits.learn(**{trait: True})
        return Finding(
            probe_name,
            "learned",
            f"answered {{{field_name}: {{$in: [2 values]}}}} with exactly those customers",
            f"asks for many customers at once with $in on {field_name}",
        )
    traits.learn(**{trait: False})
    did = (
        f"refused $in on {field_name} (HTTP {status})"
        if status != 200
        else f"answered $in on {field_name} with {total} customer(s), not the 2 asked for"
    )
    return Finding(probe_name, "learned", did, f"does not use $in on {field_name}")


def _round_trip(probe: _Probe) -> Finding:
    if not probe.times:
        return Finding("round trip", "skipped", "no request was answered", "keeps its defaults")
    median = statistics.median(probe.times)
    return Finding(
        "round trip",
        "ok",
        f"answered {len(probe.times)} GETs in {median * 1000:.0f} ms (median)",
        "uses it for time estimates of plans",
    )


def _write_test(
    probe: _Probe, sample: list[dict[str, Any]], *, delete_timeout: float, poll: float
) -> list[Finding]:
    if not sample:
        return [
            Finding(
                "write test",
                "skipped",
                "no active registered customer to add to a scratch segment",
                "keeps verifying removals for up to the verify timeout",
            )
        ]
    client = probe.client
    code = _SCRATCH_PREFIX + uuid.uuid4().hex[:8]
    try:
        client.create_segment(
            code,
            "segwidgets doctor (scratch)",
            description="Created and deleted again by segwidgets doctor --write-test.",
        )
    except APIError as exc:
        return [
            Finding(
                "write test",
                "failed",
                f"refused to create a scratch fixed segment: {exc}",
                "cannot write to segments with these credentials",
            )
        ]
    findings: list[Finding] = []
    try:
        findings += _add_and_remove(
            probe, code, sample[0]["id"], delete_timeout=delete_timeout, poll=poll
        )
    except APIError as exc:
        findings.append(
            Finding(
                "write test",
                "failed",
                f"refused a member write to the scratch segment: {exc}",
                "cannot write segment members with these credentials",
            )
        )
    finally:
        try:
            client.delete_segment(code)
        except APIError as exc:
            findings.append(
                Finding(
                    "write test",
                    "failed",
                    f"refused to delete the scratch segment {code} ({exc})",
                    f"leaves segment {code} behind: delete it in Shopgate's admin",
                )
            )
    return findings


def _refused_items(probe: _Probe, code: str, member: str) -> Finding:
    """Add ``member`` and an id no customer has in one batch: how is the unknown one told?"""
    unknown = f"00000000-0000-4000-8000-{uuid.uuid4().hex[:12]}"
    body = {"members": [{"id": member, "type": "customer"}, {"id": unknown, "type": "customer"}]}
    try:
        answer = probe.client._write(
            "POST", "segmentation", "segments", code, "members", route="members.add", body=body
        )
    except BadRequestError:
        probe.client.add_members(code, [member])
        return Finding(
            "refused items",
            "ok",
            "rejected a batch holding one unknown customer id with 400, adding nothing",
            "sets the refused ids apart and sends the rest again",
        )
    errors = _items(_json(answer), "errors")
    named = [e for e in errors if unknown in (e.get("entityId"), e.get("id"))]
    if named:
        return Finding(
            "refused items",
            "ok",
            f"answered {answer.status_code} to a batch holding one unknown customer id, "
            "applying the rest and naming the unknown one in the body's errors",
            "reads the body of every write and marks the ids it names failed",
        )
    return Finding(
        "refused items",
        "unknown",
        f"answered {answer.status_code} to a batch holding one unknown customer id and did "
        "not name it",
        "verifies every add by reading the segment back",
    )


def _add_and_remove(
    probe: _Probe, code: str, member: str, *, delete_timeout: float, poll: float
) -> list[Finding]:
    path = ("segments", code, "members")
    findings = [_refused_items(probe, code, member)]
    status, body = probe.get("segmentation", *path, limit=10)
    if member not in [m.get("id") for m in _items(body, "members")]:
        findings.append(
            Finding(
                "write test",
                "unknown",
                f"accepted a member add to the scratch segment, but listed it without it "
                f"(HTTP {status})",
                "verifies every add by reading the segment back",
            )
        )
        return findings
    probe.client.remove_members(code, [member])
    started = probe.clock()
    status, body = probe.get("segmentation", *path, limit=10)
    listed = [m.get("id") for m in _items(body, "members")]
    total = _meta(body).get("totalItemCount")
    if member in listed and isinstance(total, int):
        counted = total == len(listed)
        findings.append(
            Finding(
                "pending deletes",
                "ok",
                "listed a member whose DELETE was accepted but not applied yet, and "
                + ("counted it in totalItemCount" if counted else "left it out of totalItemCount"),
                "takes a count that differs from the ids read by a steady amount as the server's "
                "way of counting, not as a segment changing under the read",
            )
        )
    while True:
        waited = probe.clock() - started
        if status == 200 and member not in listed:
            break
        if waited >= delete_timeout:
            findings.append(
                Finding(
                    "write test",
                    "unknown",
                    f"accepted the member DELETE (202); it had not shown after {waited:.1f} s",
                    "waits up to --verify-timeout for removals to show; raise it for this shop",
                )
            )
            return findings
        probe.sleep(poll)
        status, body = probe.get("segmentation", *path, limit=10)
        listed = [m.get("id") for m in _items(body, "members")]
    findings.append(
        Finding(
            "write test",
            "ok",
            "created a scratch fixed segment, added one member, removed it (202), and the "
            f"removal showed after {waited:.1f} s; deleted the segment",
            "waits for removals to show before calling them verified",
        )
    )
    return findings


def run_doctor(
    client: ShopgateClient,
    *,
    write_test: bool = False,
    traits: ServerTraits | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    delete_timeout: float = 30.0,
    poll: float = 0.25,
) -> DoctorReport:
    """Probe the server behind ``client`` and return what it showed.

    Read-only unless ``write_test``. Findings go into ``traits`` (a new ``ServerTraits``
    when not given); the report carries them. ``clock`` and ``sleep`` time the probes and
    the wait for the write test's DELETE.
    """
    traits = traits if traits is not None else ServerTraits()
    probe = _Probe(client=client, clock=clock, sleep=sleep)
    started = clock()
    findings, segments = _sign_in_and_segments(probe)
    if segments is not None:
        findings.append(_largest_page(probe, traits))
        findings.append(_member_paging(probe, traits, segments))
        sample = _registered_sample(probe)
        findings.append(_email_filter(probe, traits, sample))
        findings.append(_in_filter(probe, traits, sample, "id"))
        findings.append(_in_filter(probe, traits, sample, "emailAddress"))
        findings.append(_round_trip(probe))
        if write_test:
            findings += _write_test(probe, sample, delete_timeout=delete_timeout, poll=poll)
    else:
        skipped = ("largest page", "member paging", "email filter", "$in on id")
        for name in (*skipped, "$in on emailAddress"):
            findings.append(Finding(name, "skipped", "not probed", "keeps its safe default"))
    creds = client.credentials
    return DoctorReport(
        merchant_code=creds.merchant_code,
        target=creds.url_template,
        findings=findings,
        traits=traits,
        seconds=clock() - started,
        wrote=write_test and segments is not None,
    )
