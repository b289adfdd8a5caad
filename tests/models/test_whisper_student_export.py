"""The shippable student (issue 17): only the tensors training changed (matrices as int8 changes
from the base, the rest float16; or all float16), over the base it names; `--model FOLDER`
rebuilds the full Whisper on both engines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from susurrus.models.whisper_student import export_student, freeze_student, save_student
from susurrus.pretrained.whisper_overlay import OVERLAY, OverlayError, apply_overlay

pytestmark = pytest.mark.usefixtures("one_thread", "isolated_cache")
SR = 16_000


def _train_by_hand(tiny_whisper_dir: Path, folder: Path, train_decoder: bool,
                   token_embedding: bool = True) -> set[str]:
    """A student checkpoint as `susurrus train` saves one: the recipe's trainable tensors
    (the last encoder layer, and the decoder if asked) moved away from the base. Returns their
    names."""
    from susurrus.pretrained import load_whisper

    model, tok = load_whisper(str(tiny_whisper_dir))
    freeze_student(model, encoder_layers=1, decoder=train_decoder, token_embedding=token_embedding)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                scale = float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 0.1
                p.add_(0.3 * scale * torch.randn(p.shape, generator=gen))
    recipe = {"task": "whisper_distill", "model": {
        "student": str(tiny_whisper_dir), "encoder_layers": 1, "train_decoder": train_decoder}}
    save_student(model, tok, {}, folder / "run" / "model", recipe)
    return {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.fixture(scope="module", params=[False, True], ids=["encoder", "encoder+decoder"])
def student(request, tiny_whisper_dir, tmp_path_factory) -> tuple[Path, bool, set[str]]:
    folder = tmp_path_factory.mktemp("student")
    trained = _train_by_hand(tiny_whisper_dir, folder, request.param)
    return folder / "run", request.param, trained


TEXT = ("<|startoftranscript|><|notimestamps|> The quick brown fox jumps over the lazy dog "
        "near the river bank, and then it ran away to Paris. Did it come back? No.")


def _greedy(model_name: str, mel: torch.Tensor) -> tuple[list[int], list[int]]:
    """The model's greedy tokens: decoded freely (a random model soon repeats one token), and
    at every position of a forced text (what the model would write next at each step)."""
    from susurrus.infer.whisper_decoding import DecodingOptions, WindowDecoder
    from susurrus.pretrained import load_whisper

    model, tok = load_whisper(model_name)
    decoder = WindowDecoder(model, tok)
    options = DecodingOptions(timestamps=False, max_new_tokens=40)
    free = decoder.decode(decoder.encode(mel), [], options).tokens
    ids = tok(TEXT, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        forced = model(input_features=mel, decoder_input_ids=ids).logits.argmax(-1)[0]
    return free, forced.tolist()


def stored_names(folder: Path) -> set[str]:
    """The tensors an overlay changes (a delta's two keys name one tensor)."""
    from safetensors import safe_open

    with safe_open(str(folder / OVERLAY), "pt") as f:
        return {k.split("::")[0] for k in f.keys()}


@pytest.mark.parametrize("storage", ["int8-delta", "float16"])
def test_the_export_holds_only_the_trained_tensors(student, tiny_whisper_dir, tmp_path, storage):
    from safetensors import safe_open

    run, with_decoder, trained = student
    out, n = export_student(run, tmp_path / "ship", storage=storage)
    assert sorted(p.name for p in out.iterdir()) == [OVERLAY, "recipe.yaml"]
    with safe_open(str(out / OVERLAY), "pt") as f:
        keys, meta = set(f.keys()), f.metadata()
        dtypes = {k: f.get_tensor(k).dtype for k in keys}
    names = stored_names(out)
    assert n == len(names) and meta["storage"] == storage
    if storage == "float16":
        assert set(dtypes.values()) == {torch.float16} and keys == names
    else:  # matrices as int8 deltas with a float32 scale per row, vectors as float16
        assert dtypes["model.encoder.layers.1.fc1.weight::delta_int8"] == torch.int8
        assert dtypes["model.encoder.layers.1.fc1.weight::delta_scale"] == torch.float32
        assert dtypes["model.encoder.layers.1.fc1.bias"] == torch.float16
        assert {dtypes[k] for k in keys if "::" not in k} == {torch.float16}
    assert meta["base"] == str(tiny_whisper_dir) and meta["family"] == "whisper"
    # what freeze_student left trainable (named_parameters names a tied tensor once), and only
    # that: not the first encoder layer, nor the decoder unless it trained
    assert names == trained
    assert "model.encoder.layer_norm.weight" in names
    assert not any(k.startswith("model.encoder.layers.0.") for k in names)
    assert any(k.startswith("model.decoder.") for k in names) == with_decoder
    if with_decoder:  # the token embedding once: proj_out is tied to it
        assert "model.decoder.embed_tokens.weight" in names and "proj_out.weight" not in names
    full = (run / "model" / "model.safetensors").stat().st_size
    small = (out / OVERLAY).stat().st_size
    # encoder layer 1 of 2: a few % of the model; with the decoder (its 3.3M-parameter token
    # embedding), float16 halves it and int8 quarters it
    share = 0.6 if storage == "float16" else 0.35
    assert small < (share if with_decoder else 0.05) * full, (small, full)


def test_an_int8_delta_is_within_half_a_step_of_the_change():
    """quantize_delta against the exact rule: per row, scale = max|change| / 127 and every
    element within scale / 2; a zero row stays exactly zero."""
    from susurrus.pretrained.whisper_overlay import quantize_delta

    delta = torch.randn(6, 50, generator=torch.Generator().manual_seed(0)) * 1e-3
    delta[2] = 0.0
    q, scale = quantize_delta(delta)
    assert q.dtype == torch.int8 and scale.shape == (6, 1)
    assert torch.allclose(scale[[0, 1, 3, 4, 5]].squeeze(1),
                          delta[[0, 1, 3, 4, 5]].abs().amax(1) / 127)
    assert torch.all((q.float() * scale - delta).abs() <= scale / 2 + 1e-12)
    assert torch.equal(q[2], torch.zeros(50, dtype=torch.int8))
    assert int(q.abs().max()) == 127


def test_a_truncated_delta_is_refused(student, tmp_path):
    from safetensors.torch import load_file, save_file

    run, *_ = student
    out, _ = export_student(run, tmp_path / "ship")
    tensors = load_file(str(out / OVERLAY))
    from safetensors import safe_open

    with safe_open(str(out / OVERLAY), "pt") as f:
        meta = f.metadata()
    tensors.pop("model.encoder.layers.1.fc1.weight::delta_scale")
    save_file(tensors, str(out / OVERLAY), metadata=meta)
    with pytest.raises(OverlayError, match="fc1.weight are not a complete int8 delta"):
        apply_overlay(torch.nn.Linear(1, 1), out)


def test_a_decoder_trained_without_its_token_embedding_ships_small(tiny_whisper_dir, tmp_path):
    """`model.train_token_embedding=false`: the decoder's layers train, the token embedding (and
    the output layer tied to it) keeps the base's, and the export leaves it out."""

    from susurrus.train.recipe import load_recipe

    recipe = load_recipe(Path(__file__).parents[2] / "recipes" / "whisper_distill" / "tiny.yaml",
                         ["model.train_token_embedding=false"])
    assert recipe.model.train_token_embedding is False and recipe.model.train_decoder is True
    trained = _train_by_hand(tiny_whisper_dir, tmp_path, True, token_embedding=False)
    assert "model.decoder.layers.0.fc1.weight" in trained
    assert "model.decoder.embed_tokens.weight" not in trained
    out, _ = export_student(tmp_path / "run", tmp_path / "ship")
    assert stored_names(out) == trained
    full = (tmp_path / "run" / "model" / "model.safetensors").stat().st_size
    assert (out / OVERLAY).stat().st_size < 0.05 * full


@pytest.mark.parametrize("storage", ["int8-delta", "float16"])
def test_the_overlay_gives_the_full_students_greedy_tokens(student, tiny_whisper_dir, tmp_path,
                                                           storage):
    from susurrus.models.family import model_family

    run, *_ = student
    out, _ = export_student(run, tmp_path / "ship", storage=storage)
    assert model_family(str(out)) == "whisper"
    mel = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(3))
    full, shipped, base = (_greedy(m, mel) for m in (str(run), str(out), str(tiny_whisper_dir)))
    assert len(full[0]) >= 10 and len(full[1]) > 30
    assert shipped == full
    assert base[1] != full[1]  # the overlay is what makes it the student


def test_faster_whisper_runs_the_shipped_student_as_the_full_one(student, tmp_path):
    """The rebuilt Whisper converts to CTranslate2 as any Whisper folder does; its greedy tokens
    are the full student's, on the same engine."""
    from faster_whisper import WhisperModel

    from susurrus.infer.registry import load_recognizer
    from susurrus.pretrained import ct2_whisper_dir

    run, *_ = student
    out, _ = export_student(run, tmp_path / "ship")
    audio = np.random.default_rng(4).standard_normal(4 * SR).astype(np.float32) * 0.1

    def tokens(model: str) -> list[int]:
        fw = WhisperModel(ct2_whisper_dir(model), device="cpu", compute_type="float32")
        segments, _ = fw.transcribe(audio, beam_size=1, temperature=0.0, language="en",
                                    without_timestamps=True, condition_on_previous_text=False,
                                    vad_filter=False)
        return [t for s in segments for t in s.tokens]

    shipped = tokens(str(out))
    assert len(shipped) > 5 and shipped == tokens(str(run))
    recognizer = load_recognizer(str(out), engine="faster-whisper")
    assert recognizer.name == "faster-whisper" and recognizer.recognize([audio])[0].streams


def test_another_base_is_refused(student, tiny_whisper_dir, tmp_path):
    from susurrus.pretrained import load_whisper

    run, *_ = student
    out, _ = export_student(run, tmp_path / "ship")
    other, _ = load_whisper(str(tiny_whisper_dir))
    with torch.no_grad():
        other.model.encoder.layers[0].fc1.weight.add_(1e-3)  # a tensor the overlay leaves
    with pytest.raises(OverlayError, match="not the one this student was trained over"):
        apply_overlay(other, out)


def test_a_missing_base_is_named(student, tmp_path):
    from susurrus.pretrained import ModelNotFoundError, load_whisper
    from susurrus.pretrained.whisper_overlay import write_overlay

    run, *_ = student
    full, _ = load_whisper(str(run))
    base, _ = load_whisper(str(run))
    out = tmp_path / "ship"
    out.mkdir()
    write_overlay(full, base, str(tmp_path / "gone"), out)
    with pytest.raises(ModelNotFoundError, match=rf"{out} holds .* base '{tmp_path / 'gone'}'"):
        load_whisper(str(out))


def test_the_commands_export_and_transcribe(tiny_whisper_dir, tmp_path, capsys):
    from susurrus.cli.main import main

    _train_by_hand(tiny_whisper_dir, tmp_path, train_decoder=False)
    run, out = tmp_path / "run", tmp_path / "ship"
    assert main(["distill-export", str(run), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"{out}:" in said and "trained tensors" in said and "--model" in said
    assert main(["distill-export", str(run), "--out", str(out)]) == 2  # exists: kept
    assert "--overwrite" in capsys.readouterr().err
    assert main(["distill-export", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no Whisper-student checkpoint" in capsys.readouterr().err

    clip = tmp_path / "clip.wav"
    sf.write(clip, np.random.default_rng(5).standard_normal(3 * SR) * 0.1, SR)
    assert main(["transcribe", str(clip), "--model", str(out), "--format", "json",
                 "--output-dir", str(tmp_path / "t"), "--no-fallback", "--quiet"]) == 0
    data = json.loads((tmp_path / "t" / "clip.json").read_text())
    assert data["engine"] == "torch" and isinstance(data["text"], str)


def test_an_embedded_student_runs_as_its_folder_does(student, tmp_path, monkeypatch):
    """A student shipped as an embedded model (an overlay inside a package, as
    `whisper-tiny.en-distilled` is) resolves to the rebuilt Whisper on the torch engine and to
    its CTranslate2 conversion on faster-whisper, never to the overlay folder itself."""
    from susurrus.pretrained import ct2_whisper_dir, registry

    run, *_ = student
    out, _ = export_student(run, tmp_path / "ship")
    monkeypatch.setitem(registry.EMBEDDED, "tiny-student", registry.EmbeddedModel(
        "tiny-student", "whisper", "susurrus", "susurrus", str(out), "a test student"))
    folder = Path(registry.resolve("tiny-student", "whisper"))
    assert folder != out and (folder / "config.json").is_file()
    mel = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(3))
    assert _greedy("tiny-student", mel) == _greedy(str(out), mel)
    ct2 = Path(ct2_whisper_dir("tiny-student"))
    assert (ct2 / "model.bin").is_file() and ct2 != out
