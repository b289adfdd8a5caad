"""Dynamic mixing: mixture i is a pure function of (seed, i), follows the rendered corpus's
rules (distinct voices, onsets, talker counts, length limit), and its talkers' onsets and
durations are those of the audio it returns."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from susurrus.data.dynamic_mixing import DynamicMixer, MixingConfig, load_sources, mixing_config
from susurrus.data.manifest import Talker, Utterance
from susurrus.errors import BadManifestError

SR = 16_000


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (150 + 40 * seed) * t) * (0.6 + 0.4 * np.sin(3 * t))
            + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def utts(tmp_path_factory) -> list[Utterance]:
    root = tmp_path_factory.mktemp("sources")
    out = []
    for i in range(8):
        path = root / f"u{i}.flac"
        sf.write(path, speechlike(1.0 + 0.25 * i, i), SR)
        out.append(Utterance(id=f"u{i}", audio=path, text=f"words of {i}", speaker=f"v{i % 4}",
                             meta={"voice": f"voice-{i % 4}"}))
    return out


def mixer(utts, **kw) -> DynamicMixer:
    config = MixingConfig(**({"sources": ("x.jsonl",), "mixtures": 40} | kw))
    return DynamicMixer(config, load_sources(utts, config.max_source_seconds), 30.0)


def test_a_mixture_is_the_same_audio_whatever_the_order_and_the_process(utts):
    a, b = mixer(utts), mixer(utts)
    first = [a.render(i) for i in (5, 3, 5)]
    again = b.render_many([3, 5], threads=2)
    assert np.array_equal(first[0][0], first[2][0]) and first[0][1] == first[2][1]
    assert np.array_equal(first[1][0], again[0][0]) and np.array_equal(first[0][0], again[1][0])
    other = mixer(utts, seed=1)
    assert not all(np.array_equal(a.render(i)[0], other.render(i)[0]) for i in range(5))


def test_mixtures_follow_the_rules_of_the_rendered_corpus(utts):
    m = mixer(utts, mixtures=120, augment={})
    counts = {1: 0, 2: 0, 3: 0}
    for i in range(len(m)):
        plan = m.plans[i]
        voices = [m.sources[k].voice for k in plan.sources]
        assert len(set(voices)) == len(voices)  # a mixture never has one voice twice
        audio, talkers = m.render(i)
        counts[len(talkers)] += 1
        assert talkers[0][0] == 0.0
        # onsets and durations are the audio's: the mixture ends with its last talker
        end = max(o + d for o, _, d in talkers)
        assert abs(end - len(audio) / SR) < 1e-6 and len(audio) == plan.length
        for (_, text, d), k in zip(talkers, plan.sources, strict=True):
            assert text == m.sources[k].text and abs(d - len(m.sources[k].audio) / SR) < 1e-6
    assert all(n > 20 for n in counts.values()), counts  # equal shares of 1, 2 and 3 talkers


def test_augmented_sources_keep_onsets_and_lengths_true(utts):
    m = mixer(utts, mixtures=30, augment={"speed": 1.0, "reverb": 1.0})
    for i in range(len(m)):
        audio, talkers = m.render(i)
        end = max(o + d for o, _, d in talkers)
        assert abs(end - len(audio) / SR) < 1e-6
        assert abs(len(audio) - m.plans[i].length) <= SR // 100  # the plan knew its length


def test_only_what_fits_is_drawn_and_impossible_asks_are_errors(utts):
    m = mixer(utts, max_source_seconds=1.6)
    assert max(len(s.audio) for s in m.sources) <= 1.6 * SR
    with pytest.raises(BadManifestError, match="voices"):
        mixer(utts[:2], talkers=(3,))
    with pytest.raises(BadManifestError, match="mixture"):
        load_sources([Utterance(id="m", audio=utts[0].audio, talkers=(
            Talker("a", 0.0, "x"), Talker("b", 0.2, "y")))], 10.0)


@pytest.mark.parametrize("values, field", [
    ({"sources": []}, "data.mixing.sources"),
    ({"sources": ["a"], "talkers": [0, 2]}, "data.mixing.talkers"),
    ({"sources": ["a"], "overlapped_share": 2}, "data.mixing.overlapped_share"),
    ({"sources": ["a"], "augment": {"echo": 0.5}}, "data.mixing.probabilities"),
    ({"sources": ["a"], "colour": 1}, "data.mixing.colour"),
])
def test_bad_mixing_settings_name_their_key(values, field):
    config, problems = mixing_config(values)
    assert config is None and any(p.startswith(field) for p in problems), problems
