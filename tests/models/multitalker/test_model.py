"""MultiTalkerCTC: distinct branches at init, padding-free outputs, count-routed decoding, and a
tiny model that overfits four two-talker mixtures."""

from __future__ import annotations

import copy

import pytest
import torch

from susurrus.losses.serialized_ctc import MultiTalkerLoss, TalkerRef, serialized_targets
from susurrus.models.multitalker import MultiTalkerConfig, MultiTalkerOutput
from susurrus.models.multitalker.checkpoint import (
    from_encoder,
    load_multitalker,
    save_checkpoint,
)

SMALL = {"lstm": {"hidden": 32, "branch_hidden": 32},
         "mask": {"bottleneck": 16, "hidden": 32, "blocks": 2, "repeats": 1}}


def model_for(encoder, separator: str = "lstm", seed: int = 0, **kw):
    torch.manual_seed(seed)
    config = MultiTalkerConfig(encoder="tiny", separator=separator,
                               separator_options=SMALL[separator], count_hidden=16, **kw)
    return from_encoder(copy.deepcopy(encoder), config).eval()


@pytest.mark.parametrize("separator", ["lstm", "mask"])
def test_branches_differ_at_init(tiny_encoder, separator):
    model = model_for(tiny_encoder, separator)
    with torch.no_grad():
        out = model(torch.randn(1, 80, 200), torch.tensor([200]))
    assert out.log_probs.shape == (1, 3, 100, 39) and out.branches.shape == (1, 3, 100, 64)
    for a in range(3):
        for b in range(a + 1, 3):
            assert (out.branches[0, a] - out.branches[0, b]).abs().mean() > 1e-3
            assert (out.log_probs[0, a] - out.log_probs[0, b]).abs().mean() > 1e-4


@pytest.mark.parametrize("separator", ["lstm", "mask"])
def test_padding_does_not_change_a_samples_output(tiny_encoder, separator):
    model = model_for(tiny_encoder, separator)
    g = torch.Generator().manual_seed(1)
    short, long = torch.randn(80, 120, generator=g), torch.randn(80, 300, generator=g)
    batch = torch.zeros(2, 80, 300)
    batch[0, :, :120], batch[1] = short, long
    with torch.no_grad():
        alone = model(short[None], torch.tensor([120]))
        both = model(batch, torch.tensor([120, 300]))
    assert both.lengths.tolist() == [60, 150]
    torch.testing.assert_close(both.log_probs[0, :, :60], alone.log_probs[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(both.count_logits[0], alone.count_logits[0], atol=1e-4, rtol=1e-4)
    assert both.branches[0, :, 60:].abs().max() == 0  # nothing past the end


def routed(model, logits: list[float]) -> MultiTalkerOutput:
    """An output whose count head says `logits` and whose branches write 'a', 'b', 'c'."""
    S, T, C = 3, 6, len(model.vocab)
    lp = torch.full((1, S, T, C), -9.0)
    lp[..., 0] = 0.0  # blank everywhere ...
    for s, ch in enumerate("abc"):
        lp[0, s, 2, model.vocab.index[ch]] = 1.0  # ... but frame 2 of branch s writes its letter
    return MultiTalkerOutput(lp, torch.tensor([T]), torch.tensor([logits]), torch.zeros(1))


def test_count_head_routes_decoding(tiny_encoder):
    model = model_for(tiny_encoder)
    assert [b.text for b in model.decode(routed(model, [0.0, 5.0, 1.0]))[0]] == ["a", "b"]
    assert [b.text for b in model.decode(routed(model, [0.0, 1.0, 5.0]))[0]] == ["a", "b", "c"]
    assert [b.text for b in model.decode(routed(model, [0.0, 5.0, 1.0]), [1])[0]] == ["a"]
    first = model.decode(routed(model, [9.0, 0.0, 0.0]))[0]
    assert len(first) == 1 and (first[0].first, first[0].last) == (2, 2)
    with pytest.raises(ValueError, match="1..3"):
        model.decode(routed(model, [1.0, 0.0, 0.0]), [4])


def test_train_layers_choose_what_trains(tiny_encoder):
    frozen = model_for(tiny_encoder)
    assert not any(p.requires_grad for p in frozen.encoder.parameters())
    top = model_for(tiny_encoder, train_layers=1)
    trains = {n for n, p in top.encoder.named_parameters() if p.requires_grad}
    assert trains and all(n.startswith(("layers.1.", "layer_norm.")) for n in trains)
    with pytest.raises(ValueError, match="train_layers"):
        model_for(tiny_encoder, train_layers=3)


def mixtures(model):
    """Four two-talker 'mixtures': each character a fixed random mel pattern, a talker's
    characters every 12 (or 9) frames from its onset, the talkers summed; texts and onsets."""
    g = torch.Generator().manual_seed(3)
    sound = torch.randn(len(model.vocab), 80, 4, generator=g) * 2  # (C, M, 4 frames)
    texts = [("hi", "no"), ("yes", "ok"), ("go", "up"), ("sit", "be")]
    onsets = [(0.0, 0.3), (0.2, 0.0), (0.0, 0.0), (0.1, 0.4)]
    mels = torch.zeros(4, 80, 160)
    for b, (on, tx) in enumerate(zip(onsets, texts, strict=True)):
        for k, (o, t) in enumerate(zip(on, tx, strict=True)):
            for j, c in enumerate(model.vocab.encode(t)):
                at = int(o * 100) + 5 + (12 - 3 * k) * j  # each talker at its own pace
                mels[b, :, at:at + 4] += sound[c]
    targets = [serialized_targets([TalkerRef(o, t) for o, t in zip(on, tx, strict=True)],
                                  2, model.vocab.encode) for on, tx in zip(onsets, texts,
                                                                         strict=True)]
    return mels, targets


@pytest.mark.parametrize("separator", ["lstm", "mask"])
def test_tiny_model_overfits_four_two_talker_mixtures(tiny_encoder, tmp_path, separator):
    loud = copy.deepcopy(tiny_encoder)
    with torch.no_grad():  # a random encoder passes little of its input (convs at std 0.02)
        loud.conv1.weight.mul_(8)
        loud.conv2.weight.mul_(8)
    model = model_for(loud, separator, max_talkers=2).train()
    mels, targets = mixtures(model)
    assert [len(t) for t in targets] == [2, 2, 2, 2]
    lengths = torch.full((4,), 160)
    want = [["".join(model.vocab.alphabet[c - 1] for c in branch) for branch in t]
            for t in targets]
    assert want[1] == ["ok", "yes"] and want[2] == ["yes"[:0] + "go", "up"]  # onset; tie
    loss_fn = MultiTalkerLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-2)
    got = None
    for step in range(600):
        out = model(mels, lengths)
        loss, _ = loss_fn(out.log_probs, out.lengths, out.count_logits, targets)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 25 == 24:
            with torch.no_grad():
                out = model.eval()(mels, lengths)
            model.train()
            got = [[b.text for b in branches] for branches in model.decode(out)]
            if got == want:
                break
    assert got == want
    # the checkpoint gives back the same outputs
    save_checkpoint(model, tmp_path / "ck", {"task": "multitalker_ctc",
                                            "model": {"encoder": "tiny", "max_talkers": 2,
                                                      "separator": separator,
                                                      "separator_options": SMALL[separator],
                                                      "count_hidden": 16}})
    again = load_multitalker(tmp_path / "ck", encoder=copy.deepcopy(loud))
    with torch.no_grad():
        torch.testing.assert_close(again(mels, lengths).log_probs, out.log_probs)


def test_the_vocabulary_writes_what_the_wer_normalizer_keeps():
    from susurrus.models.multitalker import ALPHABET, CharVocab

    vocab = CharVocab(ALPHABET)
    ids = vocab.encode("Felix  Mašek, v12!")
    assert "".join(vocab.alphabet[i - 1] for i in ids) == "felix masek v12"
    assert 0 not in ids and len(vocab) == 39
