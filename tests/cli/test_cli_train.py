"""`susurrus train`: overrides wherever they stand, recipe errors as one message, no traceback."""

from __future__ import annotations

import pytest

from susurrus.cli import main as cli_main


def test_overrides_after_an_option_still_reach_the_recipe(monkeypatch, tmp_path):
    seen = {}

    def fake_train(recipe, overwrite, progress):
        seen.update(recipe=recipe, overwrite=overwrite, progress=progress)
        from susurrus.train.loop import TrainResult

        return TrainResult(tmp_path, recipe.train.steps, 1.0, None, 0.0)

    monkeypatch.setattr("susurrus.train.loop.train", fake_train)
    code = cli_main.main(["train", "recipes/speech_llm/default.yaml", "train.steps=7", "--quiet",
                          "model.compressor=avgpool", f"train.out={tmp_path}"])
    assert code == 0
    r = seen["recipe"]
    assert (r.train.steps, r.model.compressor, r.train.out) == (7, "avgpool", str(tmp_path))
    assert seen["progress"] is False and seen["overwrite"] is False


def test_a_stray_argument_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main.main(["train", "recipes/speech_llm/default.yaml", "--quiet", "oops"])
    assert e.value.code == 2
    assert "unrecognized arguments: oops" in capsys.readouterr().err


def test_recipe_errors_are_one_message_naming_every_key(capsys):
    code = cli_main.main(["train", "recipes/speech_llm/default.yaml", "train.stepz=3",
                          "train.lr=fast"])
    err = capsys.readouterr().err
    assert code == 2
    assert "train.stepz" in err and "train.lr" in err and "Traceback" not in err
