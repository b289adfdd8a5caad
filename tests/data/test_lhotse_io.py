"""lhotse manifests in and out: recipes' RecordingSets, CutSets, mixtures and conversations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from susurrus.data.lhotse_io import cuts_from_utterances, load_utterances, utterances_from_cuts
from susurrus.data.manifest import ManifestError, Talker, Utterance

SR = 16_000


def _noise(path: Path, seconds: float, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.random.default_rng(seed).standard_normal(round(seconds * SR)) * 0.1
    sf.write(path, audio.astype(np.float32), SR)
    return path


# A fake LibriSpeech dev-clean: speaker/chapter/utt.flac and speaker-chapter.trans.txt.
LIBRI = {("84", "121123"): ["HELLO WORLD", "THE SECOND ONE"], ("174", "50561"): ["A THIRD"]}


@pytest.fixture
def librispeech_recordings(tmp_path) -> Path:
    from lhotse.recipes import prepare_librispeech

    corpus = tmp_path / "LibriSpeech"
    for (spk, chapter), texts in LIBRI.items():
        folder = corpus / "dev-clean" / spk / chapter
        lines = []
        for i, text in enumerate(texts):
            uid = f"{spk}-{chapter}-{i:04d}"
            _noise(folder / f"{uid}.flac", 1.0 + 0.25 * i, seed=i)
            lines.append(f"{uid} {text}")
        (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "manifests"
    prepare_librispeech(corpus, dataset_parts=["dev-clean"], output_dir=out)
    return out / "librispeech_recordings_dev-clean.jsonl.gz"


def test_librispeech_recipe_output_loads_as_utterances(librispeech_recordings):
    utts = {u.id: u for u in load_utterances(librispeech_recordings)}
    assert set(utts) == {"84-121123-0000", "84-121123-0001", "174-50561-0000"}
    second = utts["84-121123-0001"]
    assert second.text == "THE SECOND ONE" and second.speaker == "84"
    assert second.start == 0.0 and second.duration == pytest.approx(1.25)
    assert utts["174-50561-0000"].duration == pytest.approx(1.0)
    assert utts["174-50561-0000"].speaker == "174"
    assert second.audio.name == "84-121123-0001.flac" and second.audio.is_file()
    assert not any(u.is_mixture or u.session for u in utts.values())


def test_recordings_without_their_supervisions_fail_clearly(librispeech_recordings):
    sups = librispeech_recordings.with_name("librispeech_supervisions_dev-clean.jsonl.gz")
    sups.unlink()
    with pytest.raises(FileNotFoundError, match="SupervisionSet") as e:
        load_utterances(librispeech_recordings)
    assert sups.name in str(e.value)


def test_a_supervision_set_alone_is_refused(librispeech_recordings):
    sups = librispeech_recordings.with_name("librispeech_supervisions_dev-clean.jsonl.gz")
    with pytest.raises(ManifestError, match="SupervisionSet is not something to evaluate"):
        load_utterances(sups)


@pytest.mark.parametrize("name", ["cuts.jsonl.gz", "cuts.jsonl"])
def test_cutset_file_round_trips(tmp_path, name):
    wav = _noise(tmp_path / "talk.wav", 3.0)
    utts = [
        Utterance("a", wav, "Hi, Siobhan.", start=0.5, duration=1.0, speaker="A",
                  entities=("Siobhan",), meta={"voice": "kal"}),
        Utterance("b", wav, "Bye.", start=2.0, duration=0.75, speaker="B", session="s1",
                  turn=3),
        Utterance("c", _noise(tmp_path / "other.wav", 1.5), "Whole file."),
    ]
    path = tmp_path / name
    cuts_from_utterances(utts).to_file(path)
    back = load_utterances(path)  # a lhotse .jsonl is told apart from a susurrus one
    assert [u.id for u in back] == ["a", "b", "c"]
    assert [u.text for u in back] == ["Hi, Siobhan.", "Bye.", "Whole file."]
    assert [(u.start, u.duration) for u in back] == [(0.5, 1.0), (2.0, 0.75), (0.0, 1.5)]
    assert [u.speaker for u in back] == ["A", "B", None]
    assert back[0].entities == ("Siobhan",) and back[0].meta == {"voice": "kal"}
    assert back[1].entities == () and back[2].audio == tmp_path / "other.wav"
    # conversation order survives, so --context prompt works on the CutSet too
    assert [(u.session, u.turn) for u in back] == [(None, None), ("s1", 3), (None, None)]
    assert back[1].meta == {}


def test_mixture_round_trips_through_a_cutset(tmp_path):
    wav = _noise(tmp_path / "mix.wav", 2.0)
    mix = Utterance("mix0", wav, duration=2.0, talkers=(
        Talker("joe", 0.0, "Good morning.", 1.5), Talker("ann", 0.5, "Hello there.", 1.5)))
    (back,) = utterances_from_cuts(cuts_from_utterances([mix]))
    assert back.id == "mix0" and back.talkers == mix.talkers
    assert (back.start, back.duration) == (0.0, 2.0)


def _cut(wav: Path, sups: list[tuple[str, str, float, float, str]], offset: float = 0.0,
         duration: float | None = None):
    """A MonoCut of `wav` from `offset`; sups = (id, speaker, start, duration, text), relative
    to the cut."""
    from lhotse import Recording, SupervisionSegment

    rec = Recording.from_file(wav)
    cut = rec.to_cut().truncate(offset=offset, duration=duration)
    cut = cut.with_id("cut0")
    cut.supervisions = [SupervisionSegment(i, rec.id, start, dur, text=text, speaker=spk)
                        for i, spk, start, dur, text in sups]
    return cut


def test_overlapping_supervisions_become_one_mixture(tmp_path):
    # LibriMix-like: two speakers overlap; ann speaks twice
    cut = _cut(_noise(tmp_path / "mix.wav", 5.0), [
        ("s-ann-2", "ann", 2.25, 1.0, "again."),
        ("s-joe", "joe", 0.0, 2.0, "Good morning."),
        ("s-ann-1", "ann", 0.5, 1.0, "Hello there,"),
    ], offset=1.0, duration=3.5)
    (u,) = utterances_from_cuts([cut])
    assert u.id == "cut0" and u.is_mixture and u.text == ""
    assert (u.start, u.duration) == (1.0, 3.5)  # the cut's span of its recording
    assert len(u.talkers) == 2
    talkers = {t.speaker: t for t in u.talkers}
    assert talkers["joe"] == Talker("joe", 0.0, "Good morning.", 2.0)
    # ann: offset of her first supervision, texts in time order, span to her last one's end
    assert talkers["ann"] == Talker("ann", 0.5, "Hello there, again.", 2.75)
    assert u.reference == "Good morning. Hello there, again."


def test_non_overlapping_supervisions_become_a_session_of_turns(tmp_path):
    cut = _cut(_noise(tmp_path / "talk.wav", 5.0), [
        ("t2", "A", 2.5, 1.0, "Fine, thanks."),
        ("t0", "A", 0.0, 1.0, "Hi, Siobhan."),
        ("t1", "B", 1.2, 1.0, "Hello! How are you?"),
    ], offset=0.5, duration=4.0)
    utts = utterances_from_cuts([cut])
    assert [u.id for u in utts] == ["t0", "t1", "t2"]  # in time order
    assert [u.turn for u in utts] == [0, 1, 2]
    assert {u.session for u in utts} == {"cut0"}
    assert [u.speaker for u in utts] == ["A", "B", "A"]
    assert [u.text for u in utts] == ["Hi, Siobhan.", "Hello! How are you?", "Fine, thanks."]
    # start in the recording = the cut's offset + the supervision's start within the cut
    assert [u.start for u in utts] == [0.5, 1.7, 3.0]
    assert [u.duration for u in utts] == [1.0, 1.0, 1.0]


def test_supervision_past_the_cut_end_is_clipped(tmp_path):
    cut = _cut(_noise(tmp_path / "talk.wav", 5.0), [("t0", "A", 0.0, 1.0, "One."),
                                                    ("t1", "B", 1.5, 3.0, "Two.")],
               duration=3.0)
    assert [u.duration for u in utterances_from_cuts([cut])] == [1.0, 1.5]


def test_cut_without_supervisions_is_skipped(tmp_path):
    cut = _cut(_noise(tmp_path / "x.wav", 1.0), [])
    assert utterances_from_cuts([cut]) == []


def test_audio_that_is_not_a_file_fails_naming_the_cut(tmp_path):
    from lhotse import AudioSource, Recording

    rec = Recording(id="remote", sources=[AudioSource("url", [0], "https://example.org/a.wav")],
                    sampling_rate=SR, num_samples=SR, duration=1.0)
    cut = rec.to_cut().with_id("web-cut-7")
    with pytest.raises(ManifestError) as e:
        utterances_from_cuts([cut])
    assert "web-cut-7" in str(e.value) and e.value.field == "recording.sources"
    assert "url" in str(e.value)


def test_mixed_cut_fails_naming_the_cut_not_with_an_attribute_error(tmp_path):
    from lhotse import Recording

    rec = Recording.from_file(_noise(tmp_path / "x.wav", 1.0))
    mixed = rec.to_cut().with_id("a").mix(rec.to_cut().with_id("b")).with_id("mixed-9")
    with pytest.raises(ManifestError, match="mixed-9.*one file source"):
        utterances_from_cuts([mixed])


def test_susurrus_jsonl_is_read_as_the_interchange_manifest(tmp_path):
    from susurrus.data.manifest import write_manifest

    wav = _noise(tmp_path / "a.wav", 1.0)
    path = write_manifest([Utterance("u0", wav, "Hello.", session="s", turn=0)],
                          tmp_path / "m.jsonl")
    assert load_utterances(path) == [Utterance("u0", wav, "Hello.", session="s", turn=0)]
    with pytest.raises(FileNotFoundError, match="no such manifest"):
        load_utterances(tmp_path / "missing.jsonl")


def test_something_neither_format_reads_is_one_manifest_error(tmp_path):
    from susurrus.data.manifest import ManifestError
    from susurrus.errors import BadManifestError

    notes = tmp_path / "notes.txt"
    notes.write_text("not a manifest")
    with pytest.raises(ManifestError, match=r"notes.txt:0: field '<file>': not a manifest "
                                            r"susurrus reads \(.*\); give a susurrus JSONL"):
        load_utterances(notes)
    with pytest.raises(BadManifestError, match="is a folder"):
        load_utterances(tmp_path)


def test_long_cut_with_crosstalk_stays_a_session(tmp_path):
    """A meeting (> 60 s) whose turns overlap a little is a conversation, not a mixture."""
    cut = _cut(_noise(tmp_path / "meeting.wav", 70.0), [
        ("m-1", "ann", 0.0, 10.0, "First point."),
        ("m-2", "joe", 9.5, 20.0, "I disagree."),
        ("m-3", "ann", 30.0, 30.0, "Let us vote."),
    ], duration=70.0)
    utts = utterances_from_cuts([cut])
    assert [u.id for u in utts] == ["m-1", "m-2", "m-3"]
    assert not any(u.is_mixture for u in utts)
    assert [(u.session, u.turn) for u in utts] == [("cut0", 0), ("cut0", 1), ("cut0", 2)]
