"""The transformers key/value-cache argument, under the name the installed version reads.

transformers 5.x renamed `past_key_values` to `cache` (the forward argument and the output
field) and warns that the old name goes in 5.40 (issue 15, item 8). Older releases, which
pyproject still allows, only know `past_key_values` and would silently swallow `cache` in their
`**kwargs`. So the name is read off the model's own `forward` signature, once per class.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any


@cache
def _argument(cls: type) -> str:
    return "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"


def cache_kwargs(module: Any, cache: Any) -> dict[str, Any]:
    """`{name: cache}` for `module.forward`, name being `cache` or `past_key_values`."""
    return {_argument(type(module)): cache}


def returned_cache(output: Any) -> Any:
    """The cache a forward returned (`output.cache`, or `output.past_key_values` before 5.x)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values
