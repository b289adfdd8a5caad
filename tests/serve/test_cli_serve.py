"""`susurrus serve` flags -> ServeConfig, every check before anything loads or listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from susurrus.cli.main import build_parser, main
from susurrus.cli.serve import config_from
from susurrus.errors import UsageError
from susurrus.serve.config import MB, ServeConfig, read_api_keys


def parse(*argv: str):
    return build_parser().parse_args(["serve", *argv])


def test_flags_become_the_config(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("# the team\nkey-one\n\n  key-two  \n")
    c = config_from(parse("--model", "whisper-tiny.en", "--model", "speech-llm-tiny-abstract",
                          "--state-dir", str(tmp_path / "s"), "--api-keys", str(keys),
                          "--max-batch", "1", "--max-request-mb", "2"))
    assert c.models == ("whisper-tiny.en", "speech-llm-tiny-abstract")
    assert c.api_keys == ("key-one", "key-two") and c.state_dir == tmp_path / "s"
    assert (c.max_batch, c.max_request_bytes) == (1, 2 * MB)
    default = config_from(parse())
    assert default.models == ("whisper-tiny.en",) and default.api_keys == ()
    assert default.max_request_bytes == 25 * MB


@pytest.mark.parametrize("text, message", [("", "holds no key"), ("# only\n", "holds no key"),
                                           ("two words\n", "holds a space")])
def test_a_keys_file_without_usable_keys_is_refused(tmp_path, text, message):
    path = tmp_path / "keys.txt"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_api_keys(path)
    with pytest.raises(UsageError, match="no such file"):
        read_api_keys(tmp_path / "missing.txt")


def test_the_cli_reports_a_bad_flag_on_one_line(tmp_path, capsys):
    assert main(["serve", "--api-keys", str(tmp_path / "nope.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --api-keys") and "Traceback" not in err


@pytest.mark.parametrize("kwargs, field", [({"models": ()}, "--model"),
                                           ({"models": ("a", "a")}, "named twice"),
                                           ({"max_batch": 0}, "max_batch"),
                                           ({"max_queue": 0}, "max_queue"),
                                           ({"max_request_bytes": 0}, "max_request_bytes"),
                                           ({"api_keys": ("",)}, "api keys")])
def test_config_checks_every_field(kwargs, field):
    with pytest.raises(UsageError, match=field):
        ServeConfig(state_dir=Path("x"), **kwargs)
