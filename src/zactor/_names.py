"""Actor names: validation and generated names."""

from __future__ import annotations

from ._errors import InvalidNameError

MAX_NAME_LENGTH = 255


def check_name(name: object) -> str:
    """Return ``name`` if it can be an actor name, else raise InvalidNameError."""
    if not isinstance(name, str):
        raise InvalidNameError(
            f"an actor name must be a str, got {type(name).__name__} {name!r}"
        )
    if not name:
        raise InvalidNameError("an actor name must not be empty; omit name= instead")
    if "/" in name:
        raise InvalidNameError(
            f"actor name {name!r} contains '/', which separates path elements; "
            "spawn the child from its parent's context instead"
        )
    if name.startswith("$"):
        raise InvalidNameError(
            f"actor name {name!r} starts with '$', which generated names use"
        )
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidNameError(
            f"actor name {name!r} must be at most {MAX_NAME_LENGTH} printable "
            "characters"
        )
    return name


def generated_name(number: int) -> str:
    """A short unique name for an actor spawned without one: ``$`` + hex."""
    return f"${number:x}"
