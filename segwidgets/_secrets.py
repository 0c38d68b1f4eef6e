"""A string that never shows itself: credentials and tokens are held in ``Secret``."""

from __future__ import annotations

__all__ = ["Secret"]

_MASK = "**********"


class Secret:
    """Holds a secret string; ``repr``/``str``/formatting print a mask, never the value.

    Read the value only where it is sent: ``secret.get_secret_value()``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        raw: object = value.get_secret_value() if isinstance(value, Secret) else value
        if not isinstance(raw, str):
            msg = f"a secret must be a string, not {type(raw).__name__}"
            raise TypeError(msg)
        self._value = raw

    def get_secret_value(self) -> str:
        """The real value. Call this only where the value is sent to the server."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return _MASK if self._value else ""

    def __format__(self, format_spec: str) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        msg = "a Secret cannot be pickled; pass credentials explicitly"
        raise TypeError(msg)
