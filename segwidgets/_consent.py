"""``push_consent``: when a push needs the segment code typed, and why.

One home for the rule the Push panels show: a plan over the mass-removal limit needs the
typed code, and so does every push to a production shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._destination import Destination
    from ._plan import SegmentPlan

__all__ = ["PushConsent", "push_consent"]


@dataclass(frozen=True)
class PushConsent:
    """Whether the segment code must be typed before a push, and the sentence saying why."""

    required: bool
    segment_code: str
    reason: str = ""

    def accepts(self, typed: str) -> bool:
        """True when no code is needed or ``typed`` is exactly the segment code."""
        return not self.required or typed.strip() == self.segment_code


def push_consent(plan: SegmentPlan, destination: Destination | None = None) -> PushConsent:
    """The consent ``plan`` needs before it is pushed to ``destination``."""
    code = plan.segment_code
    reasons = []
    if plan.needs_mass_removal_consent:
        share = plan.n_remove / max(plan.n_live, 1)
        reasons.append(
            f"it removes {plan.n_remove:,} of {plan.n_live:,} members ({share:.0%}), more than "
            "the safety limit"
        )
    if destination is not None and destination.is_production:
        reasons.append(f"it changes the PRODUCTION shop of merchant {destination.merchant_code}")
    if not reasons:
        return PushConsent(required=False, segment_code=code)
    return PushConsent(
        required=True,
        segment_code=code,
        reason=f"Type {code} into Confirm to push: " + " and ".join(reasons) + ".",
    )
