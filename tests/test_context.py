import pytest

from susurrus.context import CONTEXT_MODES, context_label, parse_context
from susurrus.errors import UsageError


@pytest.mark.parametrize("name, expected", [
    ("none", ("none", False)), ("text", ("text", False)), ("abstract", ("abstract", False)),
    ("prompt", ("text", False)), ("oracle-prompt", ("text", True)),
    ("raw (oracle)", ("raw", True)), ("text (oracle)", ("text", True)),
])
def test_parse_context_reads_every_spelling(name, expected):
    assert parse_context(name) == expected


def test_label_round_trips():
    for mode in CONTEXT_MODES[1:]:
        for oracle in (False, True):
            assert parse_context(context_label(mode, oracle)) == (mode, oracle)


@pytest.mark.parametrize("name", ["zip", "oracle", ""])
def test_unknown_context_names_the_valid_ones(name):
    with pytest.raises(UsageError, match="none, text, raw, abstract"):
        parse_context(name)


def test_oracle_none_is_refused():
    with pytest.raises(UsageError, match="oracle"):
        parse_context("none", oracle=True)
