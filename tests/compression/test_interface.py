"""What every compressor promises: shapes, masks, short audio and padding-independence."""

from __future__ import annotations

import pytest
import torch

from susurrus.compression import COMPRESSORS, Compressor
from tests.compression.common import (
    TINY,
    D,
    expected_n,
    expected_out_length,
    padded_batch,
    random_samples,
    tiny,
)

NAMES = list(COMPRESSORS)


def test_every_registered_compressor_is_tested():
    assert set(TINY) == set(COMPRESSORS)


@pytest.mark.parametrize("name", NAMES)
def test_follows_the_protocol(name):
    c = tiny(name)
    assert isinstance(c, Compressor) and isinstance(c, torch.nn.Module)
    assert c.out_dim == (3 * D if name == "stack" else D)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_masks_on_a_variable_length_batch(name):
    lengths = [13, 7, 1, 3, 12]
    x, lens = padded_batch(random_samples(lengths), T=14)
    with torch.no_grad():
        y, out_lengths = tiny(name)(x, lens)
    assert y.shape == (5, expected_n(name, 14), tiny(name).out_dim)
    assert out_lengths.tolist() == [expected_out_length(name, L) for L in lengths]
    assert out_lengths.dtype == torch.long
    for b, n in enumerate(out_lengths.tolist()):
        assert (y[b, n:] == 0).all(), f"sample {b}: tokens past out_length {n} are not zero"
        assert (y[b, :n].abs().sum(-1) > 0).all(), f"sample {b}: a valid token is all zeros"
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_out_lengths_without_running_forward_agree_with_forward(name):
    lengths = [13, 7, 1, 0, 3, 12, 14]
    x, lens = padded_batch(random_samples([max(n, 1) for n in lengths]), T=14)
    lens = torch.tensor(lengths)
    with torch.no_grad():
        _, out_lengths = tiny(name)(x, lens)
    assert torch.equal(tiny(name).out_lengths(lens), out_lengths)


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_one_without_padding(name):
    (s,) = random_samples([10])
    with torch.no_grad():
        y, out_lengths = tiny(name)(s[None], torch.tensor([10]))
    assert y.shape == (1, expected_n(name, 10), tiny(name).out_dim)
    assert out_lengths.tolist() == [y.shape[1]]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("length", [1, 2])  # shorter than one window (k = w - 1 = 3)
def test_audio_shorter_than_one_window_gives_one_group(name, length):
    (s,) = random_samples([length])
    with torch.no_grad():
        y, out_lengths = tiny(name)(s[None], torch.tensor([length]))
    groups = TINY[name].get("num_queries", 1)  # tokens per window
    assert out_lengths.tolist() == [groups] and y.shape[1] == groups
    assert torch.isfinite(y).all() and (y.abs().sum(-1) > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_a_zero_length_sample_gives_no_tokens_and_no_nan(name):
    x, lens = padded_batch(random_samples([9, 1]), T=9)
    lens[1] = 0
    with torch.no_grad():
        y, out_lengths = tiny(name)(x, lens)
    assert out_lengths[1] == 0 and (y[1] == 0).all() and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("garbage", [1e3, float("nan")])
def test_padding_does_not_change_a_samples_output(name, garbage):
    lengths = [17, 5, 1, 11, 2]
    samples = random_samples(lengths, seed=1)
    x, lens = padded_batch(samples, T=20, garbage=garbage)
    c = tiny(name)
    with torch.no_grad():
        y, out_lengths = c(x, lens)
        for b, s in enumerate(samples):
            alone, alone_lengths = c(s[None], torch.tensor([len(s)]))
            n = int(alone_lengths[0])
            assert n == out_lengths[b] == alone.shape[1]
            torch.testing.assert_close(y[b, :n], alone[0], rtol=1e-5, atol=1e-5)
            assert (y[b, n:] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_valid_frames_only(name):
    x, lens = padded_batch(random_samples([10, 4]), T=10)
    x.requires_grad_(True)
    y, _ = tiny(name)(x, lens)
    y.pow(2).sum().backward()
    assert (x.grad[1, 4:] == 0).all(), "padding frames must get no gradient"
    assert (x.grad[0].abs().sum(-1) > 0).all() and (x.grad[1, :4].abs().sum(-1) > 0).all()


RATES = [50.0, 25.0, 50.0 / 3, 12.5, 10.0]  # k = 1 .. 5 at Whisper's 50 frames/s


@pytest.mark.parametrize("name", ["stack", "avgpool", "segment"])
@pytest.mark.parametrize("k, rate", list(zip([1, 2, 3, 4, 5], RATES, strict=True)))
def test_tokens_per_second_of_the_pooling_compressors(name, k, rate):
    from susurrus.compression import build_compressor

    c = build_compressor(name, D, k=k)
    assert c.tokens_per_second() == pytest.approx(rate)
    assert c.tokens_per_second(frames_per_second=100.0) == pytest.approx(2 * rate)


@pytest.mark.parametrize("K, w, rate", [(1, 1, 50.0), (2, 4, 25.0), (1, 3, 50.0 / 3),
                                        (4, 16, 12.5), (3, 15, 10.0)])
def test_tokens_per_second_of_the_query_compressor(K, w, rate):
    from susurrus.compression import build_compressor

    c = build_compressor("query", D, num_queries=K, window=w, num_heads=2)
    assert c.tokens_per_second() == pytest.approx(rate)
    # and the rate is what it does on a long input (a whole number of windows)
    with torch.no_grad():
        _, out_lengths = c(torch.randn(1, 240, D), torch.tensor([240]))
    assert int(out_lengths[0]) == pytest.approx(rate * 240 / 50)
