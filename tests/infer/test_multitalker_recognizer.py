"""The multi-talker CTC recognizer: chosen by the checkpoint's family, one stream per decoded
branch, the count head (or an oracle count) routing, cpWER of its streams as meeteval's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from meeteval.wer import cp_word_error_rate

from susurrus.errors import BadAudioError, IncompatibleOptionError
from susurrus.infer.multitalker import MultiTalkerOptions, MultiTalkerRecognizer
from susurrus.infer.registry import load_recognizer
from susurrus.metrics.scores import cp_word_errors
from susurrus.models.multitalker import MultiTalkerConfig
from susurrus.models.multitalker.checkpoint import from_encoder, save_checkpoint

SR = 16_000


@pytest.fixture(scope="module")
def checkpoint(tiny_whisper_dir, tmp_path_factory):
    """A saved tiny model whose heads write characters (large random weights) and whose count
    head says 3 talkers unless told otherwise."""
    from transformers import WhisperForConditionalGeneration

    from susurrus.encoders.whisper import AnyLengthWhisperEncoder

    whisper = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir)
    config = MultiTalkerConfig(encoder=str(tiny_whisper_dir), count_hidden=8,
                               separator_options={"hidden": 16, "branch_hidden": 16})
    torch.manual_seed(0)
    model = from_encoder(AnyLengthWhisperEncoder(whisper.model.encoder), config)
    with torch.no_grad():
        for head in model.heads:
            head.weight.normal_(0.0, 3.0)
            head.bias[model.vocab.index[" "]] += 4.0  # words, not one long string
        model.count_head[-1].weight.zero_()
        model.count_head[-1].bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
    folder = tmp_path_factory.mktemp("mt") / "model"
    return save_checkpoint(model, folder, {"task": "multitalker_ctc",
                                           "model": {**vars(config)}})


def mixtures() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(int(s * SR))).astype(np.float32) for s in (1.2, 0.7)]


def test_the_family_picks_the_recognizer_and_the_count_head_picks_the_streams(checkpoint):
    rec = load_recognizer(str(checkpoint))
    assert isinstance(rec, MultiTalkerRecognizer) and rec.capabilities.streams == 3
    hyps = rec.recognize(mixtures())
    assert [len(h.streams) for h in hyps] == [3, 3]
    assert [s.speaker for s in hyps[0].streams] == ["talker1", "talker2", "talker3"]
    assert sum(len(s.text.split()) for h in hyps for s in h.streams) >= 5  # words to score
    for s in (s for h in hyps for s in h.streams if s.text):
        (seg,) = s.segments
        assert 0.0 <= seg.start < seg.end <= 1.22 and seg.text == s.text


def test_an_oracle_count_decodes_that_many_branches_of_the_same_output(checkpoint):
    rec = MultiTalkerRecognizer(str(checkpoint))
    routed = rec.recognize(mixtures())
    oracle = rec.recognize_with_counts(mixtures(), [1, None])
    assert [len(h.streams) for h in oracle] == [1, 3]
    assert oracle[0].streams[0].text == routed[0].streams[0].text  # branch 1 is branch 1
    fixed = MultiTalkerRecognizer(str(checkpoint), options=MultiTalkerOptions(talkers=2))
    assert [len(h.streams) for h in fixed.recognize(mixtures())] == [2, 2]
    with pytest.raises(IncompatibleOptionError, match="3 branches"):
        MultiTalkerRecognizer(str(checkpoint), options=MultiTalkerOptions(talkers=4))


def test_padding_in_a_batch_does_not_change_a_hypothesis(checkpoint):
    rec = MultiTalkerRecognizer(str(checkpoint))
    a, b = mixtures()
    together = rec.recognize([a, b])
    alone = rec.recognize([b])
    assert [s.text for s in together[1].streams] == [s.text for s in alone[0].streams]


REFERENCES = {  # the streams' own words, reordered, cut, with talkers missing or added
    "reordered": lambda st: [st[2] + " zz", st[0], st[1].rsplit(" ", 1)[0]],
    "false talker": lambda st: [st[1], st[0]],
    "missed talker": lambda st: [*st[::-1], "not heard at all"],
}


@pytest.mark.parametrize("case", sorted(REFERENCES))
def test_cpwer_of_its_streams_agrees_with_meeteval(checkpoint, case):
    rec = MultiTalkerRecognizer(str(checkpoint))
    for hyp in rec.recognize(mixtures()):
        streams = [s.text for s in hyp.streams]
        refs = REFERENCES[case](streams)
        ours = cp_word_errors(refs, streams, normalizer=lambda s: s)
        theirs = cp_word_error_rate(refs, streams, reference_sort=False, hypothesis_sort=False)
        assert (ours.errors, ours.ref_words) == (theirs.errors, theirs.length)
        assert (ours.missed_talkers, ours.false_talkers) == (theirs.missed_speaker,
                                                             theirs.falarm_speaker)
        assert ours.substitutions + ours.deletions < ours.ref_words  # some words are found


def test_what_it_cannot_do_is_refused(checkpoint):
    rec = MultiTalkerRecognizer(str(checkpoint))
    with pytest.raises(IncompatibleOptionError, match="prompt"):
        rec.recognize(mixtures(), prompt="names")
    with pytest.raises(IncompatibleOptionError, match="conversation"):
        rec.session()
    with pytest.raises(BadAudioError, match="input 0: 31.0 s of audio, over the 30-s limit"):
        rec.recognize([np.zeros(31 * SR, np.float32)])
    with pytest.raises(IncompatibleOptionError, match="torch engine"):
        load_recognizer(str(checkpoint), engine="faster-whisper")


def test_a_file_too_long_is_named(checkpoint, tmp_path):
    import soundfile as sf

    from susurrus.infer.transcribe import transcribe

    path = tmp_path / "meeting.wav"
    sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(31 * SR).astype(np.float32), SR)
    with pytest.raises(BadAudioError, match=f"{path}: 31.0 s of audio, over the 30-s limit"):
        transcribe(path, model=str(checkpoint))


def test_transcribe_writes_one_labelled_stream_per_talker(checkpoint):
    import json

    from susurrus.infer.transcribe import transcribe
    from susurrus.infer.transcript import Segment, Transcript, render

    t = transcribe(mixtures()[0], model=str(checkpoint), sample_rate=SR)
    assert [k.speaker for k in t.talkers] == ["talker1", "talker2", "talker3"]
    data = json.loads(render(t, "json"))
    assert [k["text"] for k in data["talkers"]] == [k.text for k in t.talkers]
    srt, vtt = render(t, "srt"), render(t, "vtt")
    spoken = [k for k in t.talkers if k.text]
    assert spoken and all(f"{k.speaker}: {k.text}" in srt for k in spoken)
    assert all(f"<v {k.speaker}>{k.text}" in vtt for k in spoken)
    one = Transcript("<array>", "hi", [Segment(0.0, 1.0, "hi")], 1.0, "m", "torch")
    assert "talkers" not in json.loads(render(one, "json"))  # one talker: as before
    assert render(one, "srt") == "1\n00:00:00,000 --> 00:00:01,000\nhi\n"


# -- `susurrus eval --oracle-count` on mixtures ---------------------------------------------------
@pytest.fixture
def mixture_manifest(tmp_path):
    import soundfile as sf

    from susurrus.data.manifest import Talker, Utterance, write_manifest

    utts = []
    for i, (audio, texts) in enumerate(zip(mixtures(), (["good day", "hello there"], ["yes"]),
                                           strict=True)):
        sf.write(tmp_path / f"mix{i}.wav", audio, SR, subtype="FLOAT")
        utts.append(Utterance(f"mix{i}", tmp_path / f"mix{i}.wav", talkers=tuple(
            Talker(f"s{k}", 0.2 * k, t) for k, t in enumerate(texts))))
    return write_manifest(utts, tmp_path / "mix.jsonl")


def test_eval_oracle_count_decodes_each_mixture_with_its_true_count(checkpoint, mixture_manifest,
                                                                    tmp_path, capsys):
    import json

    from susurrus.cli.main import main as cli

    results = {}
    for name, flag in (("routed", []), ("oracle", ["--oracle-count"])):
        out = tmp_path / f"{name}.json"
        assert cli(["eval", "--manifest", str(mixture_manifest), "--model", str(checkpoint),
                    "--out", str(out), "--no-ner", "--quiet", *flag]) == 0
        lines = Path(str(out) + ".hyps.jsonl").read_text().splitlines()
        results[name] = (json.loads(out.read_text()),
                         [len(json.loads(x)["streams"]) for x in lines[1:]])
    (routed, routed_streams), (oracle, oracle_streams) = results["routed"], results["oracle"]
    assert routed_streams == [3, 3] and routed["talker_count_acc"] == 0.0  # the head says 3
    assert oracle_streams == [2, 1] and oracle["talker_count_acc"] == 1.0  # the references'
    assert (routed["oracle_count"], oracle["oracle_count"]) == (False, True)
    assert oracle["cpwer"] is not None
    assert "oracle count" in capsys.readouterr().out  # the table names the row


def test_eval_oracle_count_is_refused_for_a_model_that_cannot_be_told(
        tiny_whisper_dir, mixture_manifest, tmp_path, capsys):
    from susurrus.cli.main import main as cli

    out = tmp_path / "whisper.json"
    assert cli(["eval", "--manifest", str(mixture_manifest), "--model", str(tiny_whisper_dir),
                "--oracle-count", "--out", str(out), "--no-ner", "--quiet"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("error: oracle_count: ")
    assert str(tiny_whisper_dir) in err[0] and "a Whisper model" in err[0]
    assert "cannot be told how many talkers" in err[0]
    assert not out.exists() and not Path(str(out) + ".hyps.jsonl").exists()  # nothing decoded
    assert cli(["eval", "--manifest", str(mixture_manifest), "--model", str(tiny_whisper_dir),
                "--oracle-count", "--context", "text", "--no-ner", "--quiet"]) == 2
    assert "oracle_count" in capsys.readouterr().err
