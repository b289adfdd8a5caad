"""Validation helpers shared by every config dataclass (models, recipes, options).

Each config checks its own fields in `__post_init__` and raises one `FieldError` listing every
problem, so a recipe reports all its mistakes at once with their dotted keys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


class FieldError(ValueError):
    """Invalid field values of one config dataclass: `.problems` = [(field, message), ...]."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.problems))


def check_fields(
    obj: Any, minimums: dict[str, tuple[float, bool]], nonempty: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Problems of `obj`'s numeric fields (name -> (minimum, strict)) and non-empty strings."""
    problems = []
    for name, (minimum, strict) in minimums.items():
        v = getattr(obj, name)
        if isinstance(v, float) and not math.isfinite(v):
            problems.append((name, f"must be a finite number, got {v!r}"))
        elif v < minimum or (strict and v == minimum):
            problems.append((name, f"must be {'>' if strict else '>='} {minimum}, got {v!r}"))
    problems += [(name, "must not be empty") for name in nonempty if not getattr(obj, name)]
    return problems


def raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise FieldError(problems)
