"""The any-length encoder is Hugging Face's encoder at 3000 frames and honest on shorter input."""

from __future__ import annotations

import pytest
import torch

from susurrus.encoders import AnyLengthWhisperEncoder, encoder_lengths


@pytest.fixture(scope="module")
def tiny(tiny_whisper_dir):
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir).eval()
    return model.model.encoder, AnyLengthWhisperEncoder(model.model.encoder)


def test_equals_hf_encoder_at_3000_frames(tiny):
    hf, ours = tiny
    mel = torch.randn(2, 80, 3000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = hf(mel).last_hidden_state
        out, lengths = ours(mel)
    assert out.shape == ref.shape == (2, 1500, 64)
    assert lengths.tolist() == [1500, 1500]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_shares_weights_instead_of_copying(tiny):
    hf, ours = tiny
    assert ours.conv1.weight is hf.conv1.weight and ours.layers[0] is hf.layers[0]


@pytest.mark.parametrize("T", [1, 2, 7, 500, 2999])
def test_runs_on_any_length(tiny, T):
    _, ours = tiny
    with torch.no_grad():
        out, lengths = ours(torch.randn(1, 80, T))
    assert out.shape == (1, (T - 1) // 2 + 1, 64)
    assert lengths.tolist() == [out.shape[1]]


def test_padding_does_not_change_a_samples_output(tiny):
    _, ours = tiny
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(1, 80, 613, generator=g), torch.randn(1, 80, 240, generator=g)
    batch = torch.zeros(2, 80, 613)
    batch[0], batch[1, :, :240] = a[0], b[0]
    batch[1, :, 240:] = 3.0  # garbage in the padding must not leak in
    with torch.no_grad():
        out, lengths = ours(batch, torch.tensor([613, 240]))
        alone_a, _ = ours(a)
        alone_b, _ = ours(b)
    assert lengths.tolist() == [307, 120]
    torch.testing.assert_close(out[0], alone_a[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[1, :120], alone_b[0], rtol=1e-5, atol=1e-5)
    assert out[1, 120:].abs().max() == 0


def test_short_input_costs_less(tiny):
    """5 s of audio runs the transformer on 250 frames, not 1500."""
    _, ours = tiny
    seen: list[int] = []
    hook = ours.layers[0].self_attn_layer_norm.register_forward_hook(
        lambda m, i, o: seen.append(o.shape[1]))
    with torch.no_grad():
        ours(torch.randn(1, 80, 500))
    hook.remove()
    assert seen == [250]


def test_too_long_input_says_to_chunk(tiny):
    _, ours = tiny
    with pytest.raises(ValueError, match="chunk"):
        ours(torch.randn(1, 80, 3002))


def test_encoder_lengths():
    assert encoder_lengths(torch.tensor([1, 2, 3, 3000])).tolist() == [1, 1, 2, 1500]


@pytest.mark.integration
def test_real_tiny_en_equals_hf_at_3000_frames(whisper_tiny):
    model, _ = whisper_tiny
    ours = AnyLengthWhisperEncoder(model.model.encoder)
    mel = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(mel)[0], model.model.encoder(mel).last_hidden_state,
                                   rtol=1e-4, atol=1e-4)
