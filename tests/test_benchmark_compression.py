"""benchmarks/compression.py's plan: which systems the table trains, and how many tokens/s each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from compression import options_for, plan  # noqa: E402

RATES = [50, 25, 16.7, 12.5, 10]


def test_the_k1_identities_are_trained_once_as_none_and_query_keeps_its_own_runs():
    systems = plan(["stack", "avgpool", "segment", "query"], RATES, Path("runs"))
    names = [d.name for _, _, d in systems]
    assert len(names) == len(set(names)) == 18  # 4 x 5, stack/avgpool/segment at 50 as one
    assert names.count("none-50") == 1 and "query-50" in names
    assert not any(n in names for n in ("stack-50", "avgpool-50", "segment-50"))
    assert {"stack-10", "avgpool-16.7", "segment-25", "query-12.5"} <= set(names)
    none = next(s for s in systems if s[0] == "none")
    assert none[1] == {"k": 1}


@pytest.mark.parametrize("rate, k", zip(RATES, [1, 2, 3, 4, 5], strict=True))
def test_rates_map_to_integer_strides(rate, k):
    assert options_for("avgpool", rate) == {"k": k}
    assert options_for("query", rate) == {"num_queries": 1, "window": k}


def test_a_rate_that_is_not_50_over_an_integer_is_refused():
    with pytest.raises(SystemExit, match="rate 30"):
        options_for("stack", 30)
