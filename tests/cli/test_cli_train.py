"""`susurrus train`: overrides wherever they stand, recipe errors as one message, no traceback."""

from __future__ import annotations

from pathlib import Path

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


# --- a bad recipe is refused whole, before anything is written (issue 15, item 4) ---------------

DEFAULT = Path(__file__).parents[2] / "recipes" / "speech_llm" / "default.yaml"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["model.compressor=zip"], ["model.compressor: unknown compressor 'zip'",
                                    "valid: stack, avgpool, segment, query"]),
        (["model.compressor_options.k=0"], ["model.compressor_options.k: must be an integer >= 1"]),
        (["model.compressor_options.window=3"], ["model.compressor_options:",
                                                 "no option(s) window; valid: k"]),
        (["model.compressor=query", "model.compressor_options={num_querys: 2}"],
         ["no option(s) num_querys", "num_queries"]),
        (["train.stepz=3", "model.compressor=zip"], ["train.stepz", "unknown compressor"]),
    ],
)
def test_a_bad_builder_or_option_is_refused_before_the_run_folder_is_made(
        monkeypatch, tmp_path, capsys, overrides, words):
    monkeypatch.chdir(tmp_path)
    code = cli_main.main(["train", str(DEFAULT), f"train.out={tmp_path / 'run'}", *overrides])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert all(w in err for w in words), err
    assert list(tmp_path.iterdir()) == []  # no run folder, no recipe.yaml, nothing
    # the fixed command then reaches the trainer (and the run folder rules find nothing there)
    from susurrus.train.loop import TrainResult
    from susurrus.train.run import check_run_folder

    def fake_train(recipe, **_):
        check_run_folder(recipe, overwrite=False)
        return TrainResult(tmp_path / "run", 0, 0.0, None, 0.0)

    monkeypatch.setattr("susurrus.train.loop.train", fake_train)
    assert cli_main.main(["train", str(DEFAULT), f"train.out={tmp_path / 'run'}"]) == 0


@pytest.mark.parametrize("kind", ["wav", "flac", "bytes"])
def test_an_audio_or_binary_file_as_recipe_is_one_line(monkeypatch, tmp_path, capsys, kind):
    import numpy as np
    import soundfile as sf

    path = tmp_path / f"turn1.{kind if kind != 'bytes' else 'bin'}"
    if kind == "bytes":
        path.write_bytes(bytes(range(256)) * 4)
    else:
        sf.write(path, np.zeros(1600, dtype=np.float32), 16_000)
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    code = cli_main.main(["train", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert str(path) in err and "not a YAML recipe" in err
    assert ("an audio file" in err) == (kind != "bytes")
    assert sorted(tmp_path.iterdir()) == before
