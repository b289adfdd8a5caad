"""Feature cache (computed once, batched = alone, keyed on the file) and prior turns."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from susurrus.audio.features import log_mel_spectrogram
from susurrus.audio.io import load_audio
from susurrus.data.manifest import Utterance
from susurrus.encoders.whisper import AnyLengthWhisperEncoder
from susurrus.train.data import FeatureCache, encoder_fingerprint, prior_turns, time_mask

SR = 16_000


@pytest.fixture(scope="module")
def encoder(tiny_whisper_dir) -> AnyLengthWhisperEncoder:
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir).eval()
    return AnyLengthWhisperEncoder(model.model.encoder)


class CountingEncoder(torch.nn.Module):
    """The encoder, counting the utterances it is asked to encode."""

    def __init__(self, encoder: AnyLengthWhisperEncoder) -> None:
        super().__init__()
        self.inner = encoder
        self.n_mels, self.max_frames = encoder.n_mels, encoder.max_frames
        self.encoded = 0

    def forward(self, mel, mel_lengths):
        self.encoded += mel.shape[0]
        return self.inner(mel, mel_lengths)


def noise_wav(path: Path, seconds: float, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    audio = 0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.05 * rng.standard_normal(t.size)
    sf.write(path, audio.astype(np.float32), SR)
    return path


@pytest.fixture
def utts(tmp_path) -> list[Utterance]:
    """Whole files of different lengths, and two segments of one longer file."""
    out = [Utterance(id=f"u{i}", audio=noise_wav(tmp_path / f"u{i}.wav", s, i), text="x")
           for i, s in enumerate([0.7, 2.3, 1.1, 3.0, 0.4])]
    long = noise_wav(tmp_path / "long.wav", 5.0, 9)
    out += [Utterance(id="seg-a", audio=long, start=0.5, duration=1.5),
            Utterance(id="seg-b", audio=long, start=2.0, duration=2.75)]
    return out


def reference(encoder: AnyLengthWhisperEncoder, utt: Utterance) -> torch.Tensor:
    """(T', D) float32 encoder output of one utterance, computed directly."""
    mel = log_mel_spectrogram(load_audio(utt.audio, utt.start, utt.duration))[None]
    with torch.no_grad():
        hidden, _ = encoder(mel)
    return hidden[0]


def test_get_is_the_encoder_output_stored_once(tmp_path, encoder, utts):
    counting = CountingEncoder(encoder)
    cache = FeatureCache(tmp_path / "cache", "tiny", counting)
    first = cache.get(utts[1])
    ref = reference(encoder, utts[1])
    assert first.dtype == torch.float32 and first.shape == ref.shape == (115, 64)
    torch.testing.assert_close(first, ref, rtol=1e-3, atol=1e-3)  # float16 on disk
    stored = cache.path(utts[1])
    assert stored.parent.parent == cache.folder and stored.parent.name == stored.stem[:2]
    assert np.load(stored).dtype == np.float16
    mtime = stored.stat().st_mtime_ns
    again = cache.get(utts[1])
    assert counting.encoded == 1 and stored.stat().st_mtime_ns == mtime
    assert torch.equal(first, again)  # a hit returns exactly what the miss returned
    assert not list(cache.folder.rglob("*.tmp"))


def test_batched_prepare_equals_one_at_a_time(tmp_path, encoder, utts):
    counting = CountingEncoder(encoder)
    batched = FeatureCache(tmp_path / "a", "tiny", counting)
    assert batched.prepare(utts + utts[:2], progress=False, batch_size=3) == len(utts)
    assert counting.encoded == len(utts)
    assert batched.prepare(utts, progress=False) == 0 and counting.encoded == len(utts)
    alone = FeatureCache(tmp_path / "b", "tiny", encoder)
    for u in utts:
        x, y = batched.get(u), alone.get(u)
        assert x.shape == y.shape
        torch.testing.assert_close(x, y, rtol=1e-3, atol=1e-3)
    assert counting.encoded == len(utts)  # every get after prepare was a hit


def test_changed_file_gets_a_new_key(tmp_path, encoder, utts):
    cache = FeatureCache(tmp_path / "cache", "tiny", encoder)
    u = utts[0]
    before_key, before = cache.key(u), cache.get(u)
    noise_wav(u.audio, 0.9, seed=7)
    assert cache.key(u) != before_key
    after = cache.get(u)
    assert after.shape[0] == 45 != before.shape[0]
    # the segment is part of the key: two segments of one file never share features
    assert cache.key(utts[5]) != cache.key(utts[6])
    assert cache.key(u) != FeatureCache(tmp_path / "cache", "other", encoder).key(u)


def test_different_weights_never_share_a_folder(tmp_path, encoder):
    same = FeatureCache(tmp_path, "tiny", encoder)
    assert same.folder == FeatureCache(tmp_path, "tiny", encoder).folder
    assert same.folder.name.startswith("tiny-")
    other = copy.deepcopy(encoder)
    with torch.no_grad():
        other.layers[1].fc2.bias[0] += 1.0
    assert encoder_fingerprint("tiny", other) != encoder_fingerprint("tiny", encoder)
    assert encoder_fingerprint("tiny-v2", encoder) != encoder_fingerprint("tiny", encoder)


def test_too_long_audio_is_refused_with_its_id(tmp_path, encoder):
    long = noise_wav(tmp_path / "long.wav", 31.0)
    cache = FeatureCache(tmp_path / "cache", "tiny", encoder)
    whole = Utterance(id="talk-7", audio=long)  # duration unknown until loaded
    with pytest.raises(ValueError, match=r"utterance talk-7: 31\.00 s .* split it"):
        cache.get(whole)
    # with a known duration, prepare refuses before encoding anything
    ok = Utterance(id="ok", audio=long, duration=10.0)
    segment = Utterance(id="seg-9", audio=long, start=0.0, duration=30.5)
    with pytest.raises(ValueError, match="utterance seg-9"):
        cache.prepare([ok, segment], progress=False)
    assert not cache.folder.exists()
    assert cache.get(Utterance(id="edge", audio=long, duration=30.0)).shape == (1500, 64)


def test_prior_turns_are_the_sessions_earlier_turns_in_order() -> None:
    def u(i: str, session: str | None, turn: int | None) -> Utterance:
        return Utterance(id=i, audio=Path("x.wav"), text="x", session=session, turn=turn)

    utts = [u("b2", "b", 2), u("a1", "a", 1), u("a3", "a", 3), u("solo", None, None),
            u("a2", "a", 2), u("b1", "b", 1)]
    assert prior_turns(utts, None) == [[5], [], [1, 4], [], [1], []]
    assert prior_turns(utts, 1) == [[5], [], [4], [], [1], []]


# --- augmented variants (issue 16) --------------------------------------------------------------

# noise and reverb only: numpy/scipy pieces, no sox or ffmpeg needed
AUG = dict(probabilities={"noise": 1.0, "reverb": 0.5}, snr_db_range=(5.0, 10.0))


def test_variant_paths_keep_the_clean_cache_where_it_was(tmp_path, encoder, utts):
    from susurrus.data.augment import AugmentConfig, fingerprint

    plain = FeatureCache(tmp_path / "cache", "tiny", encoder)
    config = AugmentConfig(**AUG)
    aug = FeatureCache(tmp_path / "cache", "tiny", encoder, config, augment_seed=3)
    u = utts[0]
    assert aug.path(u) == aug.path(u, 0) == plain.path(u)  # variant 0: today's file
    key = aug.key(u)
    assert aug.path(u, 2) == (plain.folder / f"aug-{fingerprint(config, 3)}" / key[:2] / key
                              / "2.npy")
    other_seed = FeatureCache(tmp_path / "cache", "tiny", encoder, config, augment_seed=4)
    assert other_seed.path(u, 1) != aug.path(u, 1)
    with pytest.raises(ValueError, match="variant 1 needs an augment config"):
        plain.path(u, 1)


def test_an_existing_clean_cache_serves_variant_0_without_encoding(tmp_path, encoder, utts):
    from susurrus.data.augment import AugmentConfig

    plain = FeatureCache(tmp_path / "cache", "tiny", encoder)
    plain.prepare(utts, progress=False)
    stamps = {plain.path(u): plain.path(u).stat().st_mtime_ns for u in utts}
    aug = FeatureCache(tmp_path / "cache", "tiny", encoder, AugmentConfig(**AUG))
    assert aug.prepare(utts, progress=False, variants=2) == 2 * len(utts)  # only the new ones
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # the clean files untouched
    assert aug.prepare(utts, progress=False, variants=2) == 0  # resumable: all there now
    for u in utts[:2]:
        torch.testing.assert_close(aug.get(u, 0), reference(encoder, u), atol=2e-3, rtol=2e-3)


def test_a_variant_differs_from_the_clean_features_and_reads_back_identical(
        tmp_path, encoder, utts):
    from susurrus.data.augment import AugmentConfig, augment

    config = AugmentConfig(**AUG)
    cache = FeatureCache(tmp_path / "cache", "tiny", encoder, config, augment_seed=1)
    u = utts[3]
    first = cache.get(u, 1)  # computed and stored
    again = FeatureCache(tmp_path / "cache", "tiny", encoder, config, augment_seed=1).get(u, 1)
    assert torch.equal(first, again)
    clean, second = cache.get(u, 0), cache.get(u, 2)
    n = min(len(first), len(clean), len(second))  # reverb lengthens the tail
    assert (first[:n] - clean[:n]).abs().mean() > 4e-3  # the tiny encoder is nearly flat
    assert (second[:n] - first[:n]).abs().mean() > 4e-3  # the tiny encoder is nearly flat
    # what was stored is the encoder's output on the augmented audio
    audio = augment(load_audio(u.audio), config, 1, u.id, variant=1)
    with torch.no_grad():
        direct = encoder(log_mel_spectrogram(audio)[None])[0][0]
    torch.testing.assert_close(first, direct, atol=2e-3, rtol=2e-3)


def test_the_variant_choice_is_deterministic_and_covers_every_variant():
    from susurrus.train.data import pick_variant

    picks = [[pick_variant(0, epoch, i, 2) for i in range(50)] for epoch in range(4)]
    assert picks == [[pick_variant(0, epoch, i, 2) for i in range(50)] for epoch in range(4)]
    assert set(sum(picks, [])) == {0, 1, 2}
    assert picks[0] != picks[1]  # a new draw each epoch
    assert [pick_variant(1, 0, i, 2) for i in range(50)] != picks[0]  # and per seed
    assert {pick_variant(0, e, i, 0) for e in range(3) for i in range(20)} == {0}  # off


# -- time masks -----------------------------------------------------------------------------------
def test_time_masks_zero_at_least_their_fraction_the_same_way_for_the_same_draw():
    feats = torch.randn(200, 8) + 5.0  # no frame is zero by chance
    masked = time_mask(feats, seed=3, epoch=1, example=7, share=1.0, fraction=0.3, max_frames=10)
    zero = (masked == 0).all(1)
    assert 60 <= int(zero.sum()) < 200
    assert torch.equal(masked[~zero], feats[~zero])  # the other frames untouched
    assert (feats != 0).all()  # the input is not changed
    again = time_mask(feats, seed=3, epoch=1, example=7, share=1.0, fraction=0.3, max_frames=10)
    assert torch.equal(again, masked)  # a resumed run masks the same frames
    other = time_mask(feats, seed=3, epoch=2, example=7, share=1.0, fraction=0.3, max_frames=10)
    assert not torch.equal(other, masked)  # another epoch, other spans


def test_time_masks_spans_are_at_most_max_frames_long_where_they_do_not_touch():
    feats = torch.ones(1000, 2)
    zero = (time_mask(feats, 0, 0, 0, share=1.0, fraction=0.05, max_frames=4) == 0).all(1)
    runs, length = [], 0
    for z in zero.tolist() + [False]:
        if z:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    assert runs and max(runs) <= 8  # spans of <= 4 frames (two may touch), 50 frames masked


def test_time_masks_fall_on_their_share_of_the_examples():
    feats = torch.ones(50, 2)
    hit = [bool((time_mask(feats, 0, 0, i, share=0.3, fraction=0.2, max_frames=5) == 0).any())
           for i in range(400)]
    assert 0.22 < sum(hit) / len(hit) < 0.38
    assert time_mask(feats, 0, 0, 0, share=0.0, fraction=0.2, max_frames=5) is feats
