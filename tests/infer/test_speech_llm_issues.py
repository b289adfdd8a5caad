"""Suspect windows of a speech LLM are decoded again hotter, and those still suspect are reported,
never silently dropped (issue 16): no text from a window with speech, a loop the repetition guard
cut, the length limit hit."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from susurrus.audio.io import SAMPLE_RATE
from susurrus.cli.main import main as cli
from susurrus.infer.speech_llm import SpeechLLMRecognizer
from susurrus.infer.suspect import has_speech, speech_seconds, window_issues
from susurrus.infer.transcript import WindowIssue
from susurrus.models.speech_llm.generation import (
    GeneratedRow,
    GenerateOptions,
    decode_with_fallback,
    repeated_tail,
)
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.testing.speech_llm import build, load_parts

pytestmark = pytest.mark.usefixtures("one_thread")
SR = SAMPLE_RATE


def talk_then_silence(talk: float, silence: float, seed: int = 0) -> np.ndarray:
    """Noise at speech level (-20 dBFS) for `talk` s, then near-silence (-80 dBFS)."""
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal(int((talk + silence) * SR)).astype(np.float32) * 1e-4
    audio[: int(talk * SR)] *= 1e3
    return audio


@pytest.fixture(scope="module")
def model(one_thread, tiny_whisper_dir, tiny_llm_dir) -> SpeechLLM:
    return build(load_parts(tiny_whisper_dir, tiny_llm_dir))


def fake_rows(rows: list[GeneratedRow]):
    """A `generate_rows` that returns `rows` in order, whatever the audio."""
    def generate_rows(feats, feat_lengths, options=None, context=None, hypotheses=None):
        assert feats.shape[0] == len(rows)
        return list(rows)
    return generate_rows


# -- the energy VAD -------------------------------------------------------------------------------
def test_speech_is_found_where_the_file_is_loud_and_not_in_its_silence():
    audio = talk_then_silence(10.0, 10.0)
    spans = [(0, 5 * SR), (5 * SR, 10 * SR), (10 * SR, 15 * SR), (15 * SR, 20 * SR),
             (int(9.7 * SR), 15 * SR)]  # the last: 0.3 s of talk, under SPEECH_MIN_SECONDS
    assert has_speech(audio, spans) == [True, True, False, False, False]
    assert has_speech(np.zeros(5 * SR, np.float32), [(0, 5 * SR)]) == [False]
    assert has_speech(talk_then_silence(0.0, 5.0), [(0, 5 * SR)]) == [False]  # all quiet


def test_speech_seconds_counts_the_active_frames():
    audio = talk_then_silence(10.0, 10.0)
    assert speech_seconds(audio, [(0, 20 * SR), (5 * SR, 15 * SR), (12 * SR, 20 * SR)]) == \
        pytest.approx([10.0, 5.0, 0.0])


def test_a_quiet_talker_still_holds_speech_but_the_floor_does_not():
    audio = talk_then_silence(4.0, 4.0) * 0.05  # talk at -46 dBFS, floor at -106
    assert has_speech(audio, [(0, 4 * SR), (4 * SR, 8 * SR)]) == [True, False]


# -- one window's issues --------------------------------------------------------------------------
@pytest.mark.parametrize("text,speech,row,kinds", [
    ("", 1.0, GeneratedRow([]), ["no_text"]),
    (". . .", 2.0, GeneratedRow([1, 1, 1]), ["no_text"]),
    ("", 0.0, GeneratedRow([]), []),  # silence that yields nothing is fine
    ("", 0.4, GeneratedRow([]), []),  # a click is not speech
    ("hello there", 2.0, GeneratedRow([5, 6]), []),
    ("hello there", 2.5, GeneratedRow([5, 6]), ["little_text"]),  # 2 tokens for 2.5 s
    ("half of it", 20.0, GeneratedRow(list(range(19))), ["little_text"]),
    ("all of it", 20.0, GeneratedRow(list(range(20))), []),
    ("no no", 1.0, GeneratedRow([5, 5], looped=True), ["loop"]),
    ("...", 1.0, GeneratedRow([1] * 8, hit_limit=True, limit=8), ["no_text", "length_limit"]),
])
def test_window_issues(text, speech, row, kinds):
    issues = window_issues(30.0, 58.2, text, row, speech)
    assert [i.kind for i in issues] == kinds
    assert all((i.start, i.end) == (30.0, 58.2) for i in issues)


def test_an_issue_reads_as_the_warning_line():
    assert WindowIssue(30.0, 58.24, "no_text").message == \
        "30.0-58.2 s: no text from a window with speech"


# -- generation reports its guards without changing its ids ---------------------------------------
def features(lengths: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(len(lengths), max(lengths), 64, generator=g), torch.tensor(lengths)


def test_generate_rows_flags_the_loops_it_cut_and_keeps_the_ids(model):
    x, lengths = features([10, 21], seed=3)
    options = GenerateOptions(max_repeats=4)
    rows = model.generate_rows(x, lengths, options)
    assert [r.ids for r in rows] == model.generate(x, lengths, options)
    free = model.generate(x, lengths, replace(options, max_repeats=0))
    loops = [any(repeated_tail(f[:i], 4, 8) for i in range(1, len(f) + 1)) for f in free]
    assert [r.looped for r in rows] == loops
    assert any(loops), "the random model should loop somewhere, or this tests nothing"


def test_generate_rows_flags_the_length_limit(model):
    x, lengths = features([10, 21], seed=3)
    options = GenerateOptions(extra_tokens=3, max_repeats=0)
    rows = model.generate_rows(x, lengths, options)
    assert [len(r.ids) for r in rows] == [r.limit for r in rows] == [5, 7]
    assert all(r.hit_limit and not r.looped for r in rows)
    roomy = model.generate_rows(x, lengths, GenerateOptions(extra_tokens=400, max_repeats=4))
    assert not any(r.hit_limit for r in roomy if len(r.ids) < r.limit)


# -- the recognizer -------------------------------------------------------------------------------
def test_empty_text_is_reported_only_where_there_is_speech(model, monkeypatch):
    dots = model.tokenizer(". . .", add_special_tokens=False)["input_ids"]
    words = model.tokenizer(" hello world", add_special_tokens=False)["input_ids"]
    audio = talk_then_silence(18.0, 26.0)  # 20-s windows: talk | silence | silence
    monkeypatch.setattr(model, "generate_rows", fake_rows(
        [GeneratedRow(dots), GeneratedRow([]), GeneratedRow(words)]))
    [hyp] = SpeechLLMRecognizer(model, fallback=()).recognize([audio])
    segs = hyp.segments
    assert len(segs) == 3 and segs[1].text == "" and segs[0].text.strip() == ". . ."
    assert [(i.start, i.end, i.kind) for i in hyp.issues] == \
        [(segs[0].start, segs[0].end, "no_text")]
    assert segs[2].text.strip() == "hello world"  # text from silence is the model's: kept


def test_a_looping_window_is_reported_and_its_text_kept(model, monkeypatch):
    words = model.tokenizer(" yes", add_special_tokens=False)["input_ids"]
    audio = talk_then_silence(30.0, 0.0)  # two windows of at most 20 s
    monkeypatch.setattr(model, "generate_rows", fake_rows(  # 40 tokens for <= 20 s of speech
        [GeneratedRow(words * 40), GeneratedRow(words * 40, looped=True)]))
    [hyp] = SpeechLLMRecognizer(model, fallback=()).recognize([audio])
    assert [i.kind for i in hyp.issues] == ["loop"]
    assert hyp.issues[0].start == hyp.segments[1].start and hyp.issues[0].end == 30.0
    assert [s.text.strip() for s in hyp.segments] == [" ".join(["yes"] * 40)] * 2


def test_hypotheses_are_unchanged_by_the_reporting(model):
    audio = [talk_then_silence(3.0, 1.0, seed=1), talk_then_silence(35.0, 0.0, seed=2)]
    rec = SpeechLLMRecognizer(model, fallback=())
    hyps = rec.recognize(audio)
    assert len(hyps[0].segments) == 1 and len(hyps[1].segments) == 2
    clips = [audio[0]] + [audio[1][int(s.start * SR): int(round(s.end * SR))]
                          for s in hyps[1].segments]
    with torch.inference_mode():
        feats, lengths = model.encode_audio(clips)
        ids = model.generate(feats, lengths, rec.options)
    assert [list(s.tokens) for h in hyps for s in h.segments] == ids
    assert [s.text for h in hyps for s in h.segments] == \
        [(" " + model.decode_text(i)) if model.decode_text(i) else "" for i in ids]


# -- the temperature fallback -------------------------------------------------------------------
def test_the_fallback_retries_only_suspect_rows_hotter_until_each_is_fine():
    calls = []

    def decode(rows, options):
        calls.append((rows, options.temperature, options.seed))
        # row 0 is fine from 0.4 on, row 1 always, row 2 never
        return [GeneratedRow([i], looped=(i == 2 or (i == 0 and options.temperature < 0.4)),
                             temperature=options.temperature) for i in rows]

    out = decode_with_fallback(decode, 3, GenerateOptions(seed=7),
                               lambda i, row: row.guarded)
    assert calls == [([0, 1, 2], 0.0, 7), ([0, 2], 0.2, 7), ([0, 2], 0.4, 8),
                     ([2], 0.6, 9), ([2], 0.8, 10), ([2], 1.0, 11)]
    assert [(r.ids, r.temperature, r.looped) for r in out] == \
        [([0], 0.4, False), ([1], 0.0, False), ([2], 0.0, True)]  # 2 keeps its greedy pass
    calls.clear()
    decode_with_fallback(decode, 3, GenerateOptions(fallback=()), lambda i, row: row.guarded)
    assert [c[1] for c in calls] == [0.0]


def test_fallback_options_are_checked():
    for bad in ({"best_of": 0}, {"fallback": (0.0,)}, {"temperature": -0.1}):
        with pytest.raises(ValueError):
            GenerateOptions(**bad)


def test_a_sampled_pass_is_seeded_and_keeps_its_most_likely_unguarded_sample(model):
    x, lengths = features([10, 21], seed=3)
    hot = GenerateOptions(temperature=1.0, best_of=4, max_repeats=4)
    rows = model.generate_rows(x, lengths, hot)
    assert [r.ids for r in rows] == [r.ids for r in model.generate_rows(x, lengths, hot)]
    assert all(r.temperature == 1.0 and -50 < r.avg_logprob < 0 for r in rows)
    one = [model.generate_rows(x, lengths, replace(hot, best_of=1, seed=s)) for s in range(3)]
    assert len({tuple(r[1].ids) for r in one}) > 1, "samples of other seeds should differ"
    greedy = model.generate_rows(x, lengths, GenerateOptions(max_repeats=4))
    assert all(r.temperature == 0.0 and r.avg_logprob == 0.0 for r in greedy)


def test_a_looping_window_is_decoded_again_hotter_and_then_not_reported(model, monkeypatch):
    words = model.tokenizer(" yes", add_special_tokens=False)["input_ids"]
    other = model.tokenizer(" and then we left", add_special_tokens=False)["input_ids"]
    seen = []

    def generate_rows(feats, feat_lengths, options=None, context=None, hypotheses=None):
        seen.append((feats.shape[0], options.temperature))
        if options.temperature == 0.0:  # window 2 loops when greedy, then is fine at 0.4
            return [GeneratedRow(words * 40), GeneratedRow(words * 40, looped=True)]
        return [GeneratedRow(other * 10, looped=options.temperature < 0.4,
                             temperature=options.temperature, avg_logprob=-0.5)]

    monkeypatch.setattr(model, "generate_rows", generate_rows)
    [hyp] = SpeechLLMRecognizer(model).recognize([talk_then_silence(30.0, 0.0)])
    assert seen == [(2, 0.0), (1, 0.2), (1, 0.4)]
    assert hyp.issues == []
    assert [(s.temperature, s.avg_logprob) for s in hyp.segments] == [(0.0, 0.0), (0.4, -0.5)]
    assert hyp.segments[1].text.strip() == " ".join(["and then we left"] * 10)


def test_no_fallback_from_the_cli_options_reaches_the_speech_llm(run_folder, tiny_whisper_dir):
    from susurrus.infer import LongFormOptions, load_recognizer

    rec = load_recognizer(str(run_folder), options=LongFormOptions(temperatures=(0.0,)))
    assert rec.options.fallback == ()
    assert load_recognizer(str(run_folder)).options.fallback == GenerateOptions().fallback
    assert load_recognizer(str(run_folder), options=LongFormOptions()).options.fallback == \
        (0.2, 0.4, 0.6, 0.8, 1.0)
    # a tuple of several families' options: each takes its own
    both = load_recognizer(str(run_folder), options=(
        LongFormOptions(temperatures=(0.0,)), GenerateOptions(first_pass_choice="llm")))
    assert both.options.fallback == () and both.options.first_pass_choice == "llm"
    whisper = load_recognizer(str(tiny_whisper_dir), options=(
        LongFormOptions(temperatures=(0.0,)), GenerateOptions(first_pass_choice="llm")))
    assert whisper.options.temperatures == (0.0,)


# -- the CLI and the JSON output ------------------------------------------------------------------
@pytest.fixture
def run_folder(one_thread, tiny_whisper_dir, tiny_llm_dir, tmp_path):
    from susurrus.models.speech_llm.build import build_speech_llm
    from susurrus.models.speech_llm.checkpoint import save_checkpoint
    from susurrus.models.speech_llm.config import LoraConfig, ModelConfig
    from susurrus.train.recipe import Recipe, recipe_to_dict

    config = ModelConfig(encoder=str(tiny_whisper_dir), llm=str(tiny_llm_dir),
                         compressor="stack", compressor_options={"k": 5}, projector_hidden=32,
                         lora=LoraConfig(r=2, alpha=4))
    torch.manual_seed(0)
    save_checkpoint(build_speech_llm(config), tmp_path / "run" / "model",
                    recipe_to_dict(Recipe(model=config)))
    return tmp_path / "run"


def test_the_cli_warns_per_problem_window_exits_0_and_the_json_carries_it(
        run_folder, tmp_path, monkeypatch, capsys):
    import soundfile as sf

    wav = tmp_path / "talk.wav"
    sf.write(wav, talk_then_silence(18.0, 26.0), SR, subtype="FLOAT")
    monkeypatch.setattr(SpeechLLM, "generate_rows", lambda self, feats, *a, **k: [
        GeneratedRow([]) for _ in range(feats.shape[0])])
    out = tmp_path / "out"
    assert cli(["transcribe", str(wav), "--model", str(run_folder), "--format", "json",
                "--output-dir", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("warning:")]
    assert len(warnings) == 1  # the talk window only: the two silent windows are fine
    assert warnings[0].startswith(f"warning: {wav} 0.0-")
    assert warnings[0].endswith(" s: no text from a window with speech")
    data = json.loads((out / "talk.json").read_text())
    assert [i["kind"] for i in data["issues"]] == ["no_text"]
    assert data["issues"][0]["start"] == 0.0 and data["issues"][0]["end"] <= 20.0


def test_every_recognizer_result_has_the_issues_field_empty_when_fine(tiny_whisper_dir):
    """Whisper has its own guards (temperature fallback, no-speech); its results carry the same
    field, empty, so the interface is uniform."""
    from susurrus.infer import WindowIssue as Exported
    from susurrus.infer.recognizer import Recognition, TalkerStream
    from susurrus.infer.transcript import Transcript, render
    from susurrus.infer.whisper import TorchWhisperRecognizer

    assert Exported is WindowIssue
    assert Recognition([TalkerStream([])]).issues == []
    t = Transcript("x.wav", "", [], 1.0, "m", "torch")
    assert json.loads(render(t, "json"))["issues"] == []
    t.issues.append(WindowIssue(0.0, 1.0, "loop"))
    assert json.loads(render(t, "json"))["issues"] == [{"start": 0.0, "end": 1.0, "kind": "loop"}]
    [hyp] = TorchWhisperRecognizer(str(tiny_whisper_dir)).recognize([talk_then_silence(2.0, 1.0)])
    assert hyp.issues == []


@pytest.mark.parametrize("flag, choice", [([], "joint"), (["--first-pass-choice", "llm"], "llm")])
def test_first_pass_choice_from_the_transcribe_cli_reaches_the_recognizer(
        tmp_path, monkeypatch, capsys, flag, choice):
    import soundfile as sf

    import susurrus.infer as infer
    from susurrus.errors import IncompatibleOptionError

    wav = tmp_path / "talk.wav"
    sf.write(wav, talk_then_silence(1.0, 0.5), SR, subtype="FLOAT")
    asked = []

    def spy(model, engine, device, options):
        asked.append(options)
        raise IncompatibleOptionError("stopped by the test")

    monkeypatch.setattr(infer, "load_recognizer", spy)
    assert cli(["transcribe", str(wav), "--model", "m", "--quiet", *flag]) == 2
    assert "stopped by the test" in capsys.readouterr().err
    [options] = asked
    generate = [o for o in options if isinstance(o, GenerateOptions)]
    assert (generate[0].first_pass_choice if generate else "joint") == choice
