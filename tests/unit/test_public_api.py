"""The public surface is exactly what __all__ lists, and nothing private leaks into it."""

from __future__ import annotations

import segwidgets
import segwidgets._errors as errors

PUBLIC = {
    "ApplyResult",
    "CancelToken",
    "Credentials",
    "Estimate",
    "MemberList",
    "ProgressEvent",
    "Resolution",
    "Secret",
    "SegmentPlan",
    "SegmentSession",
    "__version__",
    "read_members",
} | {name for name in errors.__all__ if name != "error_class_for_status"}


def test_all_is_sorted_and_exact() -> None:
    assert segwidgets.__all__ == sorted(segwidgets.__all__)
    assert set(segwidgets.__all__) == PUBLIC


def test_every_name_resolves_and_is_public() -> None:
    for name in segwidgets.__all__:
        obj = getattr(segwidgets, name)
        assert obj is not None
        if isinstance(obj, type):
            assert not obj.__name__.startswith("_")


def test_error_tree_roots() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, segwidgets.SegwidgetsError)


def test_status_mapping() -> None:
    assert errors.error_class_for_status(401) is segwidgets.AuthenticationError
    assert errors.error_class_for_status(429) is segwidgets.RateLimitError
    assert errors.error_class_for_status(503) is segwidgets.ServerError
    assert errors.error_class_for_status(418) is segwidgets.APIStatusError


def test_invalid_segment_code_error_is_a_configuration_error() -> None:
    assert "InvalidSegmentCodeError" in segwidgets.__all__
    assert issubclass(segwidgets.InvalidSegmentCodeError, segwidgets.ConfigurationError)
    assert "InvalidSegmentCodeError" in (errors.__doc__ or "")


def test_input_too_large_error_is_an_input_file_error() -> None:
    assert "InputTooLargeError" in segwidgets.__all__
    assert issubclass(segwidgets.InputTooLargeError, segwidgets.InputFileError)
    assert "InputTooLargeError" in (errors.__doc__ or "")


def test_safety_errors_are_public_and_placed() -> None:
    assert issubclass(segwidgets.SegmentBusyError, segwidgets.ApplyInProgressError)
    assert issubclass(segwidgets.SegmentBusyError, segwidgets.ApplyError)
    assert issubclass(segwidgets.RunNotSettledError, segwidgets.PlanError)
    assert "SegmentBusyError" in (errors.__doc__ or "")
    assert "RunNotSettledError" in (errors.__doc__ or "")


def test_api_errors_carry_their_outcome() -> None:
    doc = errors.__doc__ or ""
    for word in ('"refused"', '"lost"', '"rejected"', "may_have_applied"):
        assert word in doc
    # An error raised without an outcome counts as lost: the safe reading.
    assert errors.APIError("x").outcome == "lost"
    assert errors.APIError("x", method="POST").may_have_applied
    assert not errors.APIError("x", method="GET").may_have_applied
    refused = errors.ServerError("x", status_code=503, method="DELETE", outcome="refused")
    assert (refused.outcome, refused.may_have_applied) == ("refused", False)
    rejected = errors.BadRequestError("x", status_code=400, method="POST", outcome="rejected")
    assert not rejected.may_have_applied
