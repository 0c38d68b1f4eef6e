"""The state model without HTTP: auth, customers, segments, members, async deletes."""

from __future__ import annotations

import pytest
from sandbox_helpers import Api, FakeClock, basic, members, password_form

from segwidgets import ConfigurationError
from segwidgets.sandbox import SandboxModel, Settings
from segwidgets.sandbox._service_error import ServiceError


def _problem(call: object, *args: object, **kwargs: object) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


def _live_ids(model: SandboxModel, n: int, *, offset: int = 0) -> list[str]:
    """Ids of n customers that are not deleted."""
    found = Api(model).list_customers(limit=n, offset=offset, filters={"status": "active"})
    return [c["id"] for c in found["customers"]]


def _non_members(model: SandboxModel, code: str, n: int) -> list[str]:
    current = model.member_ids(code)
    return [i for i in _live_ids(model, 300) if i not in current][:n]


# -- auth ---------------------------------------------------------------------------------
def test_password_grant_answers_a_bearer_token(model: SandboxModel) -> None:
    answer = model.issue_token(authorization=basic(), form=password_form())
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 3600
    assert answer["access_token"]
    assert answer["refresh_token"]
    model.authenticate(f"Bearer {answer['access_token']}", "DEMO")


def test_username_is_compared_case_insensitively(model: SandboxModel) -> None:
    model.issue_token(authorization=basic(), form=password_form(username="API@Sandbox.Example"))


@pytest.mark.parametrize(
    ("authorization", "form", "status", "code"),
    [
        (None, password_form(), 401, "invalid_client"),
        (basic(secret="wrong"), password_form(), 401, "invalid_client"),
        (basic(client_id="other"), password_form(), 401, "invalid_client"),
        ("Basic !!!", password_form(), 401, "invalid_client"),
        (basic(), password_form(password="wrong"), 400, "invalid_grant"),
        (basic(), password_form(username="x@example.com"), 400, "invalid_grant"),
        (basic(), password_form(tenantId="OTHER"), 400, "invalid_grant"),
        (basic(), password_form(tenantType="customer"), 400, "invalid_request"),
        (basic(), password_form(grant_type="client_credentials"), 400, "unsupported_grant_type"),
        (basic(), {"grant_type": "password"}, 400, "invalid_request"),
    ],
)
def test_token_errors(
    model: SandboxModel, authorization: str | None, form: dict[str, str], status: int, code: str
) -> None:
    problem = _problem(model.issue_token, authorization=authorization, form=form)
    assert (problem.status, problem.code) == (status, code)
    assert problem.body()["error"] == code
    assert "sandbox-password" not in problem.message


def test_refresh_grant(model: SandboxModel) -> None:
    first = model.issue_token(authorization=basic(), form=password_form())
    again = model.issue_token(
        authorization=basic(),
        form={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert again["access_token"] != first["access_token"]
    bad = _problem(
        model.issue_token,
        authorization=basic(),
        form={"grant_type": "refresh_token", "refresh_token": "nope"},
    )
    assert bad.code == "invalid_grant"


def test_token_expires_on_the_clock(model: SandboxModel, clock: FakeClock) -> None:
    model.configure(token_ttl=10)
    token = model.issue_token(authorization=basic(), form=password_form())["access_token"]
    clock.advance(9.99)
    model.authenticate(f"Bearer {token}", "DEMO")
    clock.advance(0.01)
    problem = _problem(model.authenticate, f"Bearer {token}", "DEMO")
    assert (problem.status, problem.code) == (401, "tokenExpired")
    assert "WWW-Authenticate" in problem.headers


@pytest.mark.parametrize(
    ("header", "code"),
    [(None, "missingToken"), ("Bearer nope", "invalidToken"), ("Basic abc", "invalidToken")],
)
def test_missing_or_invalid_token_is_401(
    model: SandboxModel, header: str | None, code: str
) -> None:
    problem = _problem(model.authenticate, header, "DEMO")
    assert (problem.status, problem.code) == (401, code)


def test_token_of_one_merchant_is_403_on_another(model: SandboxModel, token: str) -> None:
    problem = _problem(model.authenticate, f"Bearer {token}", "OTHER")
    assert problem.status == 403


# -- customers ----------------------------------------------------------------------------
def test_customer_pages_cover_everyone_once(model: SandboxModel) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        page = Api(model).list_customers(limit=70, offset=offset)
        assert page["meta"] == {"limit": 70, "offset": offset, "totalItemCount": 300}
        if not page["customers"]:
            break
        seen += [c["id"] for c in page["customers"]]
        offset += 70
    assert len(seen) == len(set(seen)) == 300


def test_the_model_serves_the_limit_it_is_given(model: SandboxModel) -> None:
    # The maximum page size is the HTTP layer's business (``_wire``), not the model's.
    model.configure(max_page_size=25)
    page = Api(model).list_customers(limit=250)
    assert page["meta"]["limit"] == 250
    assert len(page["customers"]) == 250
    assert Api(model).list_customers()["meta"]["limit"] == 100


def test_email_filter_is_case_insensitive_and_finds_guests(model: SandboxModel) -> None:
    everyone = list(model.customers())
    guest = next(c for c in everyone if c["isAnonymous"])
    email = guest["emailAddress"]
    same = sorted(c["id"] for c in everyone if c["emailAddress"].lower() == email.lower())
    found = Api(model).list_customers(
        filters={"emailAddress": email.upper()}, email_match="insensitive"
    )["customers"]
    assert sorted(c["id"] for c in found) == same
    registered = Api(model).list_customers(
        filters={"emailAddress": email, "isAnonymous": False}, email_match="insensitive"
    )
    assert all(not c["isAnonymous"] for c in registered["customers"])
    assert len(registered["customers"]) == sum(
        1 for c in everyone if c["emailAddress"].lower() == email.lower() and not c["isAnonymous"]
    )


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "inactive"},
        {"isAnonymous": True},
        {"status": "active", "isAnonymous": False},
        {"status": "deleted", "isAnonymous": True},
    ],
)
def test_status_and_guest_filters(model: SandboxModel, filters: dict[str, object]) -> None:
    expected = [c["id"] for c in model.customers() if all(c[k] == v for k, v in filters.items())]
    found = Api(model).list_customers(limit=1000, filters=filters)
    assert [c["id"] for c in found["customers"]] == expected
    assert found["meta"]["totalItemCount"] == len(expected)


def test_id_and_external_number_filters(model: SandboxModel) -> None:
    c = next(c for c in model.customers() if not c["isAnonymous"])
    by_id = Api(model).list_customers(filters={"id": c["id"]})["customers"]
    assert by_id == [c]
    by_number = Api(model).list_customers(
        filters={"externalCustomerNumber": c["externalCustomerNumber"]}
    )["customers"]
    assert by_number == [c]
    assert Api(model).list_customers(filters={"externalCustomerNumber": "1"})["customers"] == []


@pytest.mark.parametrize(
    "filters",
    [{"email": "x"}, {"isAnonymous": "false"}, {"status": "gone"}, {"emailAddress": 5}, []],
)
def test_bad_customer_filters_are_400(model: SandboxModel, filters: object) -> None:
    problem = _problem(Api(model).list_customers, filters=filters)
    assert problem.status == 400


def test_get_customer(model: SandboxModel) -> None:
    c = next(iter(model.customers()))
    assert model.get_customer(c["id"]) == {"customer": c}
    assert _problem(model.get_customer, "nope").status == 404


def test_email_filter_exact_finds_only_the_spelling_stored(model: SandboxModel) -> None:
    added = model.add_customer(emailAddress="New.Person@Example.com", firstName="New")
    for spelling in ("new.person@example.com", "NEW.PERSON@EXAMPLE.COM"):
        assert Api(model).list_customers(filters={"emailAddress": spelling})["customers"] == []
    found = Api(model).list_customers(filters={"emailAddress": "New.Person@Example.com"})
    assert found["customers"] == [added]
    assert found["meta"]["totalItemCount"] == 1


def test_in_filters_on_id_and_email(model: SandboxModel) -> None:
    picked = [c for c in model.customers() if not c["isAnonymous"]][:3]
    ids = [c["id"] for c in picked]
    found = Api(model).list_customers(filters={"id": {"$in": [*ids, "unknown-id"]}})
    assert [c["id"] for c in found["customers"]] == ids
    emails = [c["emailAddress"] for c in picked]
    by_email = Api(model).list_customers(
        filters={"emailAddress": {"$in": [e.upper() for e in emails]}, "isAnonymous": False},
        email_match="insensitive",
    )
    assert [c["id"] for c in by_email["customers"]] == ids
    exact = Api(model).list_customers(
        filters={"emailAddress": {"$in": [emails[0], emails[1].upper()]}, "isAnonymous": False}
    )
    assert [c["id"] for c in exact["customers"]] == ids[:1]
    for bad in ({"$in": "x"}, {"$in": [1]}, {"$ct": ["x"]}, {"$in": ["x"], "$nin": []}):
        assert _problem(Api(model).list_customers, filters={"id": bad}).status == 400
    assert (
        _problem(Api(model).list_customers, filters={"status": {"$in": ["active"]}}).status == 400
    )


def test_added_and_changed_customers(model: SandboxModel) -> None:
    added = model.add_customer(emailAddress="New.Person@Example.com", firstName="New")
    assert Api(model).list_customers(
        filters={"emailAddress": "new.person@example.com"}, email_match="insensitive"
    )["customers"] == [added]
    old = next(iter(model.customers()))
    changed = model.update_customer(old["id"], emailAddress="moved@example.com", status="deleted")
    assert changed["updateDate"] != old["updateDate"]
    assert Api(model).list_customers(
        filters={"emailAddress": old["emailAddress"]}, email_match="insensitive"
    )["customers"] == [
        c for c in model.customers() if c["emailAddress"].lower() == old["emailAddress"].lower()
    ]
    assert Api(model).list_customers(filters={"emailAddress": "moved@example.com"})[
        "customers"
    ] == [changed]
    assert _problem(model.add_customer, colour="blue").status == 400


# -- segments -----------------------------------------------------------------------------
def test_segment_lifecycle(model: SandboxModel, clock: FakeClock) -> None:
    Api(model).create_segments({"segments": [{"code": "spring", "name": "Spring sale"}]})
    got = model.get_segment("spring")["segment"]
    assert got["type"] == "fixed"
    assert got["status"] == "active"
    assert got["memberCount"] == 0
    assert (
        _problem(Api(model).create_segments, {"segments": [{"code": "spring", "name": "x"}]}).status
        == 409
    )
    clock.advance(60)
    Api(model).update_segment("spring", {"name": "Spring sale 2", "status": "inactive"})
    updated = model.get_segment("spring")["segment"]
    assert updated["name"] == "Spring sale 2"
    assert updated["updateDate"] > got["updateDate"]
    model.delete_segment("spring")
    assert _problem(model.get_segment, "spring").status == 404


def test_create_is_all_or_nothing(model: SandboxModel) -> None:
    problem = _problem(
        Api(model).create_segments,
        {"segments": [{"code": "a1", "name": "A"}, {"code": "vip", "name": "taken"}]},
    )
    assert problem.status == 409
    assert _problem(model.get_segment, "a1").status == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"segments": []},
        {"segments": [{"name": "no code"}]},
        {"segments": [{"code": "x", "name": ""}]},
        {"segments": [{"code": "-x", "name": "bad code"}]},
        {"segments": [{"code": "x", "name": "X", "type": "static"}]},
        {"segments": [{"code": "x", "name": "X", "type": "dynamic"}]},
        {"segments": [{"code": "x", "name": "X", "rules": {"customer.status": "active"}}]},
        {"segments": [{"code": "x", "name": "X", "colour": "red"}]},
        {"segments": [{"code": "x", "name": "X"}, {"code": "x", "name": "Y"}]},
        {"segments": [{"code": "x", "name": "X", "members": None}]},
    ],
)
def test_invalid_segments_are_400(model: SandboxModel, body: object) -> None:
    assert _problem(Api(model).create_segments, body).status == 400
    assert _problem(model.get_segment, "x").status == 404


@pytest.mark.parametrize(
    "body",
    [{"code": "other"}, {"type": "dynamic"}, {"colour": "red"}, {"status": "paused"}, []],
)
def test_invalid_updates_are_400(model: SandboxModel, body: object) -> None:
    assert _problem(Api(model).update_segment, "vip", body).status == 400


def test_segment_list_filters_and_pages(model: SandboxModel) -> None:
    page = Api(model).list_segments(limit=2)
    assert [s["code"] for s in page["segments"]] == ["newsletter", "vip"]
    assert page["meta"] == {"limit": 2, "offset": 0, "totalItemCount": 3}
    dynamic = Api(model).list_segments(filters={"type": "dynamic"})["segments"]
    assert [s["code"] for s in dynamic] == ["inactive-gmail"]
    assert _problem(Api(model).list_segments, filters={"kind": "x"}).status == 400


def test_clone_copies_fields_and_settled_members(model: SandboxModel) -> None:
    gone = sorted(model.member_ids("vip"))[:2]
    Api(model).remove_members("vip", members(*gone))
    Api(model).clone_segment("vip", {"newSegmentCode": "vip-copy"})
    assert model.member_ids("vip-copy") == model.member_ids("vip") - set(gone)
    assert model.get_segment("vip-copy")["segment"]["name"] == "VIP customers"
    assert _problem(Api(model).clone_segment, "vip", {"newSegmentCode": "vip-copy"}).status == 409
    assert _problem(Api(model).clone_segment, "nope", {"newSegmentCode": "n2"}).status == 404
    assert _problem(Api(model).clone_segment, "vip", {"code": "n3"}).status == 400


# -- members ------------------------------------------------------------------------------
def test_add_members_then_count(model: SandboxModel) -> None:
    new = _non_members(model, "vip", 3)
    before = model.get_segment("vip")["segment"]["memberCount"]
    Api(model).add_members("vip", members(*new, new[0]))
    assert set(new) <= model.member_ids("vip")
    assert model.get_segment("vip")["segment"]["memberCount"] == before + 3


def test_all_or_nothing_add_rejects_the_whole_batch(model: SandboxModel) -> None:
    deleted = Api(model).list_customers(filters={"status": "deleted"})["customers"][0]["id"]
    good = _non_members(model, "vip", 2)
    before = model.member_ids("vip")
    problem = _problem(
        Api(model).add_members,
        "vip",
        members(good[0], "unknown-id", deleted, good[1]),
        all_or_nothing=True,
    )
    assert problem.status == 400
    assert problem.code == "invalidMembers"
    assert [(e["entityIndex"], e["entityId"], e["code"]) for e in problem.errors or []] == [
        (1, "unknown-id", "unknownCustomer"),
        (2, deleted, "unknownCustomer"),
    ]
    assert model.member_ids("vip") == before


def test_add_applies_the_valid_items_and_returns_the_refused(model: SandboxModel) -> None:
    deleted = Api(model).list_customers(filters={"status": "deleted"})["customers"][0]["id"]
    good = _non_members(model, "vip", 2)
    before = model.member_ids("vip")
    refused = Api(model).add_members("vip", members(good[0], "unknown-id", deleted, good[1]))
    assert refused == [
        {
            "code": "unknownCustomer",
            "entity": "member",
            "entityId": "unknown-id",
            "entityIndex": 1,
            "reason": "There is no customer with this id.",
            "subentityPath": "",
        },
        {
            "code": "unknownCustomer",
            "entity": "member",
            "entityId": deleted,
            "entityIndex": 2,
            "reason": "This customer is deleted.",
            "subentityPath": "",
        },
    ]
    assert model.member_ids("vip") == before | set(good)
    assert Api(model).add_members("vip", members(*good)) == []


def test_remove_refuses_ids_of_no_customer_and_ignores_non_members(
    model: SandboxModel, clock: FakeClock
) -> None:
    model.configure(delete_delay=0)
    member = sorted(model.member_ids("vip"))[0]
    outsider = _non_members(model, "vip", 1)[0]
    before = model.member_ids("vip")
    problem = _problem(
        Api(model).remove_members, "vip", members(member, "unknown-id"), all_or_nothing=True
    )
    assert [(e["entityIndex"], e["entityId"]) for e in problem.errors or []] == [(1, "unknown-id")]
    assert model.member_ids("vip") == before
    refused = Api(model).remove_members("vip", members(member, "unknown-id", outsider))
    assert [(e["entityIndex"], e["entityId"]) for e in refused] == [(1, "unknown-id")]
    assert model.member_ids("vip") == before - {member}


def test_item_errors_knob_leaves_out_the_list(model: SandboxModel) -> None:
    model.configure(item_errors=False)
    problem = _problem(Api(model).add_members, "vip", members("unknown-id"), all_or_nothing=True)
    assert problem.status == 400
    assert "errors" not in problem.body()
    assert problem.message


@pytest.mark.parametrize("kind", ["device", "Customer", ""])
def test_wrong_member_type_is_400(model: SandboxModel, kind: str) -> None:
    new = _non_members(model, "vip", 1)
    before = model.member_ids("vip")
    for write in (Api(model).add_members, Api(model).remove_members):
        problem = _problem(write, "vip", members(*new, kind=kind))
        assert problem.status == 400
        assert problem.errors is not None
        assert problem.errors[0]["code"] == "invalidMemberType"
    assert model.member_ids("vip") == before


@pytest.mark.parametrize(
    "body",
    [{}, {"members": []}, {"members": "x"}, {"members": [{"id": 5, "type": "customer"}]}, []],
)
def test_malformed_member_bodies_are_400(model: SandboxModel, body: object) -> None:
    assert _problem(Api(model).add_members, "vip", body).status == 400
    assert _problem(Api(model).remove_members, "vip", body).status == 400


@pytest.mark.parametrize("status", [400, 413])
def test_too_many_members_is_400_or_413_naming_the_limit(model: SandboxModel, status: int) -> None:
    model.configure(max_members_per_request=5, oversize_status=status)
    ids = _non_members(model, "vip", 6)
    before = model.member_ids("vip")
    for write in (Api(model).add_members, Api(model).remove_members):
        problem = _problem(write, "vip", members(*ids))
        assert problem.status == status
        assert "maximum 5" in str(problem.body()) if status == 400 else "5" in problem.message
    assert model.member_ids("vip") == before
    Api(model).add_members("vip", members(*ids[:5]))


def test_duplicate_add_ignore_is_a_no_op(model: SandboxModel) -> None:
    existing = sorted(model.member_ids("vip"))[:2]
    before = model.member_ids("vip")
    Api(model).add_members("vip", members(*existing))
    assert model.member_ids("vip") == before


def test_duplicate_add_conflict_rejects_the_batch(model: SandboxModel) -> None:
    model.configure(duplicate_add="conflict")
    existing = sorted(model.member_ids("vip"))[:1]
    new = _non_members(model, "vip", 2)
    before = model.member_ids("vip")
    problem = _problem(Api(model).add_members, "vip", members(new[0], *existing, new[1]))
    assert problem.status == 409
    assert [e["id"] for e in problem.errors or []] == existing
    assert model.member_ids("vip") == before
    Api(model).add_members("vip", members(*new))
    assert set(new) <= model.member_ids("vip")


def test_dynamic_segments_refuse_member_edits(model: SandboxModel) -> None:
    someone = _live_ids(model, 1)
    for call in (
        lambda: Api(model).add_members("inactive-gmail", members(*someone)),
        lambda: Api(model).remove_members("inactive-gmail", members(*someone)),
        lambda: Api(model).add_members_by_filter(
            "inactive-gmail", {"filter": {"customer.id": someone[0]}}
        ),
    ):
        problem = _problem(call)
        assert (problem.status, problem.code) == (400, "segmentNotFixed")
        assert "dynamic" in problem.message


def test_members_of_unknown_segment_are_404(model: SandboxModel) -> None:
    assert _problem(model.member_window, "nope", limit=10).status == 404
    assert _problem(Api(model).add_members, "nope", members("x")).status == 404


# -- asynchronous deletes -----------------------------------------------------------------
def test_delete_applies_after_the_delay(model: SandboxModel, clock: FakeClock) -> None:
    model.configure(delete_delay=3.0)
    gone = sorted(model.member_ids("vip"))[:2]
    count = model.get_segment("vip")["segment"]["memberCount"]
    Api(model).remove_members("vip", members(*gone))
    clock.advance(2.99)
    assert set(gone) <= model.member_ids("vip")
    assert model.pending_delete_ids("vip") == set(gone)
    assert model.get_segment("vip")["segment"]["memberCount"] == count
    assert model.state()["pendingDeletes"] == 2
    clock.advance(0.01)
    assert not set(gone) & model.member_ids("vip")
    assert model.pending_delete_ids("vip") == set()
    assert model.get_segment("vip")["segment"]["memberCount"] == count - 2


def test_zero_delay_applies_at_once(model: SandboxModel) -> None:
    model.configure(delete_delay=0)
    gone = sorted(model.member_ids("vip"))[:1]
    Api(model).remove_members("vip", members(*gone))
    assert not set(gone) & model.member_ids("vip")


def test_delay_none_never_applies(model: SandboxModel, clock: FakeClock) -> None:
    model.configure(delete_delay=None)
    gone = sorted(model.member_ids("vip"))[:1]
    Api(model).remove_members("vip", members(*gone))
    clock.advance(10**6)
    assert set(gone) <= model.member_ids("vip")
    assert model.pending_delete_ids("vip") == set(gone)


def test_deleting_non_members_is_a_no_op(model: SandboxModel, clock: FakeClock) -> None:
    outsider = _non_members(model, "vip", 1)
    before = model.member_ids("vip")
    Api(model).remove_members("vip", members(*outsider, "not-a-customer"))
    clock.advance(10)
    assert model.member_ids("vip") == before
    assert model.state()["pendingDeletes"] == 0


def test_re_adding_a_pending_delete_cancels_it(model: SandboxModel, clock: FakeClock) -> None:
    model.configure(delete_delay=5, duplicate_add="conflict")
    kept = sorted(model.member_ids("vip"))[:1]
    Api(model).remove_members("vip", members(*kept))
    Api(model).add_members("vip", members(*kept))  # not a conflict: it was on its way out
    clock.advance(60)
    assert set(kept) <= model.member_ids("vip")
    assert model.pending_delete_ids("vip") == set()


def test_second_delete_keeps_the_first_schedule(model: SandboxModel, clock: FakeClock) -> None:
    model.configure(delete_delay=5)
    gone = sorted(model.member_ids("vip"))[:1]
    Api(model).remove_members("vip", members(*gone))
    clock.advance(4)
    Api(model).remove_members("vip", members(*gone))
    clock.advance(1)
    assert not set(gone) & model.member_ids("vip")


def test_deleting_the_segment_drops_its_pending_deletes(
    model: SandboxModel, clock: FakeClock
) -> None:
    gone = sorted(model.member_ids("vip"))[:1]
    Api(model).remove_members("vip", members(*gone))
    model.delete_segment("vip")
    Api(model).create_segments({"segments": [{"code": "vip", "name": "again", "members": [
        {"id": gone[0], "type": "customer"}]}]})  # fmt: skip
    clock.advance(60)
    assert model.member_ids("vip") == set(gone)


# -- filters, search, customer segments ---------------------------------------------------
def test_add_by_filter_adds_matching_customers(model: SandboxModel) -> None:
    Api(model).create_segments({"segments": [{"code": "f", "name": "F"}]})
    everyone = list(model.customers())
    registered = [c for c in everyone if not c["isAnonymous"] and c["status"] != "deleted"][:4]
    emails = [c["emailAddress"].upper() for c in registered]
    Api(model).add_members_by_filter(
        "f",
        {"filter": {"customer.emailAddress": {"$ct": emails}, "customer.isAnonymous": False}},
    )
    expected = {
        c["id"]
        for c in everyone
        if c["emailAddress"].upper() in emails and not c["isAnonymous"] and c["status"] != "deleted"
    }
    assert model.member_ids("f") == expected
    Api(model).add_members_by_filter("f", {"filter": {"customer.emailAddress": {"$ct": emails}}})
    assert model.member_ids("f") >= expected


def test_add_by_filter_over_the_limit_is_413(model: SandboxModel) -> None:
    model.configure(max_members_per_request=2)
    problem = _problem(
        Api(model).add_members_by_filter,
        "vip",
        {"filter": {"customer.emailAddress": {"$ct": ["a@x.de", "b@x.de", "c@x.de"]}}},
    )
    assert problem.status == 413


@pytest.mark.parametrize(
    "rules",
    [
        {},
        {"customer.colour": "red"},
        {"customer.status": {"$gt": "a"}},
        {"customer.isAnonymous": "yes"},
        {"customer.emailAddress": {"$ct": []}},
        {"customer.isAnonymous": {"$ct": "x"}},
        "customer.status",
    ],
)
def test_bad_rules_are_400(model: SandboxModel, rules: object) -> None:
    problem = _problem(Api(model).members_search, rules=rules)
    assert (problem.status, problem.code) == (400, "invalidRules")


def test_members_search_previews_a_rule(model: SandboxModel) -> None:
    found = Api(model).members_search(
        rules={"customer.lastName": {"$ct": "mü"}, "customer.isAnonymous": False}, limit=1000
    )
    expected = [
        c["id"]
        for c in model.customers()
        if "mü" in c["lastName"].lower() and not c["isAnonymous"] and c["status"] != "deleted"
    ]
    assert [m["id"] for m in found["members"]] == expected
    assert found["meta"]["totalItemCount"] == len(expected)


def test_customer_segments(model: SandboxModel) -> None:
    member = sorted(model.member_ids("vip"))[0]
    codes = {s["code"] for s in model.customer_segments(member)["segments"]}
    assert "vip" in codes
    assert codes == {code for code in model.segment_codes() if member in model.member_ids(code)}
    assert _problem(model.customer_segments, "nope").status == 404


def test_dynamic_membership_follows_customer_changes(model: SandboxModel) -> None:
    target = next(
        c
        for c in model.customers()
        if c["status"] == "active" and "@gmail.com" in c["emailAddress"].lower()
    )
    assert target["id"] not in model.member_ids("inactive-gmail")
    model.update_customer(target["id"], status="inactive")
    assert target["id"] in model.member_ids("inactive-gmail")


# -- knobs, reset, persistence ------------------------------------------------------------
def test_configure_validates(model: SandboxModel) -> None:
    with pytest.raises(ConfigurationError, match="Unknown sandbox setting"):
        model.configure(colour="red")
    with pytest.raises(ConfigurationError, match="duplicate_add"):
        model.configure(duplicate_add="sometimes")
    assert model.settings == Settings()


def test_reset_restores_the_seed(model: SandboxModel) -> None:
    fresh = model.member_ids("vip")
    model.delete_segment("vip")
    model.add_customer(emailAddress="x@example.com")
    model.reset()
    assert model.member_ids("vip") == fresh
    assert model.state()["customers"] == 300
    model.reset(customers=50, seed=9)
    assert model.state()["customers"] == 50
    assert model.seed == 9


def test_state_survives_a_restart_with_a_database(tmp_path: object, clock: FakeClock) -> None:
    db = f"{tmp_path}/sandbox.db"
    first = SandboxModel(customers=200, seed=4, clock=clock, db=db)
    first.configure(delete_delay=30)
    added = first.add_customer(emailAddress="kept@example.com")
    Api(first).create_segments({"segments": [{"code": "kept", "name": "Kept"}]})
    Api(first).add_members("kept", members(added["id"]))
    gone = sorted(first.member_ids("vip"))[:2]
    Api(first).remove_members("vip", members(*gone))
    Api(first).update_segment("newsletter", {"name": "Renamed"})
    vip_before = first.member_ids("vip")
    first.close()

    second = SandboxModel(customers=999, seed=1, clock=clock, db=db)
    assert second.state()["customers"] == 201
    assert second.seed == 4
    assert second.member_ids("kept") == {added["id"]}
    assert second.get_customer(added["id"])["customer"]["emailAddress"] == "kept@example.com"
    assert second.get_segment("newsletter")["segment"]["name"] == "Renamed"
    assert second.member_ids("vip") == vip_before
    assert second.pending_delete_ids("vip") == set(gone)
    clock.advance(31)
    assert not set(gone) & second.member_ids("vip")
    second.close()

    third = SandboxModel(clock=clock, db=db)
    assert not set(gone) & third.member_ids("vip")
    third.reset(customers=10, seed=2)
    third.close()
    assert SandboxModel(clock=clock, db=db).state()["customers"] == 10


def test_seed_records_adds_customers_then_segments(model: SandboxModel) -> None:
    made = model.seed_records(
        customers=[{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}]
    )
    assert len(made["customers"]) == 2
    more = model.seed_records(
        segments=[{"code": "pair", "name": "Pair", "members": made["customers"]}]
    )
    assert more["segments"] == ["pair"]
    assert model.member_ids("pair") == set(made["customers"])
    with pytest.raises(ServiceError):
        model.seed_records(segments=[{"code": "bad", "name": "Bad", "members": ["unknown"]}])
