"""SpeechLLM on tiny random parts: the layout, padding invariance, every compressor, what trains,
and a tiny model that memorizes four utterances.

The encoder is never run here: `forward` and `generate` take encoder features, so random (B, T, D)
tensors stand in for them. Shapes: B batch, T encoder frames, D encoder width, E LLM width.
"""

from __future__ import annotations

import pytest
import torch

from susurrus.compression import COMPRESSORS
from susurrus.models.speech_llm.generation import GenerateOptions, repeated_tail
from susurrus.models.speech_llm.model import SpeechLLM, prompt_pieces
from susurrus.testing.speech_llm import OPTIONS, PROMPT, D, build

pytestmark = pytest.mark.usefixtures("one_thread")

@pytest.fixture(scope="module")
def model(one_thread, parts) -> SpeechLLM:
    return build(parts)


def features(lengths: list[int], seed: int = 0, garbage: float = 1e3
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features (B, max T, D) with huge values in the padding (which must not matter)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), D, generator=g) * garbage
    for b, n in enumerate(lengths):
        x[b, :n] = torch.randn(n, D, generator=g)
    return x, torch.tensor(lengths)


def embed(model: SpeechLLM, ids: list[int]) -> torch.Tensor:
    return model.llm.get_input_embeddings()(torch.tensor(ids, dtype=torch.long))


# --- the prompt and the layout ------------------------------------------------------------------


def test_prompt_pieces_wrap_the_audio_in_the_chat_template(model: SpeechLLM) -> None:
    before = model.tokenizer.decode(model.prefix_ids)
    after = model.tokenizer.decode(model.suffix_ids)
    assert before == f"<|im_start|>system\n{PROMPT}<|im_end|>\n<|im_start|>user\n"
    assert after == "<|im_end|>\n<|im_start|>assistant\n"


def test_prompt_pieces_without_a_chat_template() -> None:
    class CharTokenizer:
        chat_template = None

        def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
            return {"input_ids": [ord(c) for c in text]}

    before, after = prompt_pieces(CharTokenizer(), "Say it.")
    assert "".join(map(chr, before)) == "Say it.\n" and "".join(map(chr, after)) == "\n"


def test_training_layout_is_right_padded_with_targets_then_eos(model: SpeechLLM) -> None:
    E = model.llm.config.hidden_size
    audio = torch.randn(2, 5, E)
    n = torch.tensor([3, 5])
    targets = [[101, 102], [201, 202, 203, 204]]
    batch = model.assemble(audio, n, targets)
    P, S = len(model.prefix_ids), len(model.suffix_ids)
    lengths = [P + 3 + S + 2, P + 5 + S + 4]  # the EOS is a label, never an input
    L = max(lengths)
    assert batch.embeds.shape == (2, L, E)
    for b, (length, k, tgt) in enumerate(zip(lengths, [3, 5], targets, strict=True)):
        assert batch.attention_mask[b].tolist() == [1] * length + [0] * (L - length)
        row = batch.embeds[b]
        torch.testing.assert_close(row[:P], embed(model, model.prefix_ids))
        torch.testing.assert_close(row[P: P + k], audio[b, :k])
        torch.testing.assert_close(row[P + k: P + k + S], embed(model, model.suffix_ids))
        torch.testing.assert_close(row[P + k + S: length], embed(model, tgt))
        assert not row[length:].any()
        # the assistant cue's last position predicts the first target token, ..., the last EOS
        mine = batch.label_rows == b
        cue = P + k + S - 1
        assert batch.label_cols[mine].tolist() == list(range(cue, cue + len(tgt) + 1))
        assert batch.labels[mine].tolist() == tgt + [model.eos_id]
        # teacher forcing: each label is the input one position later
        for col, label in zip(batch.label_cols[mine][:-1].tolist(), batch.labels[mine][:-1],
                              strict=True):
            torch.testing.assert_close(row[col + 1], embed(model, [int(label)])[0])
    assert batch.label_cols.max() < L


def test_generation_layout_is_left_padded_and_ends_at_the_cue(model: SpeechLLM) -> None:
    E = model.llm.config.hidden_size
    audio = torch.randn(3, 4, E)
    batch = model.assemble(audio, torch.tensor([4, 1, 2]))
    P, S = len(model.prefix_ids), len(model.suffix_ids)
    L = P + 4 + S
    assert batch.embeds.shape == (3, L, E)
    assert batch.labels.numel() == batch.label_rows.numel() == batch.label_cols.numel() == 0
    for b, k in enumerate([4, 1, 2]):
        pad = L - (P + k + S)
        assert batch.attention_mask[b].tolist() == [0] * pad + [1] * (P + k + S)
        assert not batch.embeds[b, :pad].any()
        torch.testing.assert_close(batch.embeds[b, pad: pad + P], embed(model, model.prefix_ids))
        torch.testing.assert_close(batch.embeds[b, pad + P: pad + P + k], audio[b, :k])
        torch.testing.assert_close(batch.embeds[b, -S:], embed(model, model.suffix_ids))


# --- padding invariance, for every compressor ---------------------------------------------------


@pytest.mark.parametrize("name", list(COMPRESSORS))
def test_batch_loss_is_the_token_weighted_mean_of_the_samples_alone(
        name: str, parts) -> None:
    assert set(OPTIONS) == set(COMPRESSORS), "give every compressor a tiny instance here"
    model = build(parts, name)
    x, lengths = features([9, 20])
    targets = [[28120, 905, 17], [5, 6, 7, 8, 9, 10]]
    with torch.no_grad():
        alone = [float(model(x[b: b + 1, : lengths[b]], lengths[b: b + 1], [targets[b]]))
                 for b in range(2)]
        batch = float(model(x, lengths, targets))
        swapped = float(model(x.flip(0), lengths.flip(0), targets[::-1]))
    weights = [len(t) + 1 for t in targets]  # each target token and the EOS count once
    expected = sum(w * loss for w, loss in zip(weights, alone, strict=True)) / sum(weights)
    assert batch == pytest.approx(expected, abs=1e-5)
    assert swapped == pytest.approx(batch, abs=1e-5)
    assert abs(alone[0] - alone[1]) > 1e-3  # the weighting is actually tested


def test_token_weights_give_the_weighted_mean_of_the_per_token_losses(model: SpeechLLM) -> None:
    """Per-token weights (context-copy training): the loss is sum(w * ce) / sum(w) over every
    target token and EOS (EOS weighs 1); all ones is the plain mean; a 0 drops a token."""
    x, lengths = features([9, 20])
    targets = [[28120, 905, 17], [5, 6, 7, 8, 9, 10]]
    with torch.no_grad():
        plain = float(model(x, lengths, targets))
        ones = float(model(x, lengths, targets, weights=[[1.0] * 3, None]))
        # the per-label losses, one at a time: a weight 1 on one token, 0 elsewhere (EOS stays 1)
        eos = float(model(x[:1, :9], lengths[:1], targets[:1], weights=[[0.0] * 3]))
        first = 2 * float(model(x[:1, :9], lengths[:1], targets[:1],
                                weights=[[1.0, 0.0, 0.0]])) - eos
        weighted = float(model(x[:1, :9], lengths[:1], targets[:1], weights=[[3.0, 1.0, 1.0]]))
        alone = float(model(x[:1, :9], lengths[:1], targets[:1]))
    assert ones == pytest.approx(plain, abs=1e-6)
    # mean over 4 labels is `alone`; weight 3 on the first adds 2 * its loss over 6 weights
    assert weighted == pytest.approx((4 * alone + 2 * first) / 6, abs=1e-5)
    assert abs(first - alone) > 1e-3  # the weighting is actually tested
    with pytest.raises(ValueError, match="row 0: 2 weights for 3 target tokens"):
        model(x, lengths, targets, weights=[[1.0, 1.0], None])


@pytest.mark.parametrize("mode", ["text", "raw", "abstract"])
def test_with_context_the_batch_loss_is_the_weighted_mean_of_the_samples_alone(
        mode: str, parts) -> None:
    """Prior turns of different lengths are padded together in the context path: no leak."""
    model = build(parts, context="abstract" if mode == "abstract" else "none")
    x, lengths = features([9, 20])
    prior, prior_lengths = features([7, 30, 12], seed=5)  # huge garbage in the padding
    ctx = [[(prior[0, :7], [28120, 905]), (prior[1, :30], [17, 18, 19])],
           [(prior[2, :12], [5, 6])]]
    targets = [[28120, 905, 17], [5, 6, 7, 8, 9, 10]]
    with torch.no_grad():
        alone = [float(model(x[b: b + 1, : lengths[b]], lengths[b: b + 1], [targets[b]],
                             [ctx[b]], mode)) for b in range(2)]
        batch = float(model(x, lengths, targets, ctx, mode))
        plain = float(model(x[:1, :9], lengths[:1], targets[:1]))
    weights = [len(t) + 1 for t in targets]
    expected = sum(w * loss for w, loss in zip(weights, alone, strict=True)) / sum(weights)
    assert batch == pytest.approx(expected, abs=1e-5)
    assert abs(alone[0] - plain) > 1e-4  # the context is read


def test_no_prior_turn_is_the_single_turn_layout(parts) -> None:
    model = build(parts, context="abstract")
    x, lengths = features([9])
    with torch.no_grad():
        audio, n = model.audio_embeddings(x, lengths)
        a = model.assemble(audio, n, [[5, 6]])
        b = model.assemble(audio, n, [[5, 6]], [[]])
    assert torch.equal(a.embeds, b.embeds) and torch.equal(a.labels, b.labels)


def test_turn_pieces_rebuild_the_chat_template_of_a_conversation(model: SpeechLLM) -> None:
    p, tok = model.pieces, model.tokenizer
    ids = p.head + p.mid + tok("hi there", add_special_tokens=False)["input_ids"] + p.sep + p.tail
    expected = tok.apply_chat_template(
        [{"role": "system", "content": PROMPT}, {"role": "user", "content": ""},
         {"role": "assistant", "content": "hi there"}, {"role": "user", "content": ""}],
        tokenize=False, add_generation_prompt=True)
    assert tok.decode(ids) == expected


@pytest.mark.parametrize("name", list(COMPRESSORS))
def test_greedy_batch_generation_equals_each_sample_alone(name: str, parts) -> None:
    model = build(parts, name)
    x, lengths = features([10, 21], seed=1)
    # no repetition guard: every row runs to its own length limit (2 + 3 and 4 + 3 tokens)
    options = GenerateOptions(extra_tokens=3, max_repeats=0)
    batch = model.generate(x, lengths, options)
    alone = [model.generate(x[b: b + 1, : lengths[b]], lengths[b: b + 1], options)[0]
             for b in range(2)]
    assert batch == alone
    assert [len(r) for r in batch] == [5, 7]


def test_a_batch_of_one_shorter_than_one_window(parts) -> None:
    """3 encoder frames with k = 5 make one audio token; padding behind them changes nothing."""
    model = build(parts, "stack", {"k": 5})
    x, lengths = features([3])
    padded = torch.cat([x, torch.full((1, 4, D), 1e3)], dim=1)  # then 4 frames of garbage
    target = [[28120, 905]]
    audio, n = model.audio_embeddings(x, lengths)
    assert n.tolist() == [1] and audio.shape[:2] == (1, 1)
    with torch.no_grad():
        behind = float(model(padded, lengths, target))
    loss = model(x, lengths, target)
    assert float(loss.detach()) == pytest.approx(behind, abs=1e-6)
    loss.backward()
    assert model.projector.net[0].weight.grad.abs().sum() > 0
    options = GenerateOptions(extra_tokens=4, max_repeats=0)
    out = model.generate(x, lengths, options)
    assert len(out) == 1 and len(out[0]) == 1 + 4  # ceil(8 tokens/s * 0.06 s) + 4
    assert out == model.generate(padded, lengths, options)


# --- what trains --------------------------------------------------------------------------------


def test_train_mode_keeps_the_encoder_frozen_and_in_eval(parts) -> None:
    model = build(parts, "query")
    model.train()
    assert not model.encoder.training
    assert not any(m.training for m in model.encoder.modules())
    assert model.projector.training and model.compressor.training and model.llm.training
    assert not any(p.requires_grad for p in model.encoder.parameters())
    x, lengths = features([6, 9])
    model(x, lengths, [[5, 6], [7]]).backward()
    for name, p in model.named_parameters():
        trained = name.startswith(("compressor.", "projector.")) or "lora_" in name
        assert p.requires_grad == trained, name
        assert (p.grad is not None) == trained, name
    model.eval()
    assert not model.training and not model.encoder.training


def test_trainable_state_dict_holds_only_compressor_projector_and_lora(
        parts) -> None:
    model = build(parts, "query")
    state = model.trainable_state_dict()
    comp = {f"compressor.{k}" for k in model.compressor.state_dict()}
    proj = {f"projector.{k}" for k in model.projector.state_dict()}
    lora = {k for k in state if "lora_" in k}
    assert comp and proj
    assert set(state) == comp | proj | lora
    # A and B on q, k, v, o of both layers
    layers = model.llm.config.num_hidden_layers
    assert len(lora) == layers * 4 * 2
    assert not any(k.startswith("encoder.") or "embed_tokens" in k or "lm_head" in k
                   for k in state)
    trained = sum(t.numel() for t in state.values())
    assert trained < sum(p.numel() for p in model.parameters()) / 100
    params = dict(model.named_parameters())
    assert all(torch.equal(state[k], params[k]) for k in state if k in params)


def test_stack_has_no_weights_so_only_projector_and_lora_are_kept(model: SpeechLLM) -> None:
    state = model.trainable_state_dict()
    assert not any(k.startswith("compressor.") for k in state)
    assert {k for k in state if k.startswith("projector.")} == {
        f"projector.{k}" for k in model.projector.state_dict()}


def test_at_k1_stack_avgpool_and_segment_are_one_model(parts) -> None:
    """benchmarks/compression.py trains the k = 1 (50 tokens/s) point of these three once:
    the same seed gives the same weights, the same loss and the same gradients."""
    x, lengths = features([9, 4])
    targets = [[5, 6, 7], [8]]
    results = []
    for name in ("stack", "avgpool", "segment"):
        model = build(parts, name, {"k": 1}).train()
        loss = model(x, lengths, targets)
        loss.backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        results.append((model.trainable_state_dict(), float(loss.detach()), grads))
    (state, loss, grads), *others = results
    assert grads and not any(k.startswith("compressor.") for k in state)
    for other_state, other_loss, other_grads in others:
        assert other_state.keys() == state.keys()
        assert all(torch.equal(other_state[k], state[k]) for k in state)
        assert other_loss == loss
        assert other_grads.keys() == grads.keys()
        assert all(torch.equal(other_grads[k], grads[k]) for k in grads)


# --- it learns ----------------------------------------------------------------------------------


def test_a_tiny_model_memorizes_four_utterances(parts) -> None:
    model = build(parts, "stack", r=4, seed=1)
    with torch.no_grad():  # start the adapters at zero, as peft does
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.zero_()
    texts = ["hello world", "good morning", "the cat sat down", "open the door"]
    targets = [model.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    x, lengths = features([12, 8, 14, 10], seed=2)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    model.train()
    first = None
    for _ in range(150):
        loss = model(x, lengths, targets)
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        final = float(model(x, lengths, targets))
    assert first > 5 and final < 0.05
    assert model.generate(x, lengths) == targets
    assert [model.decode_text(ids) for ids in model.generate(x, lengths)] == texts
    # each utterance alone (no left padding) gives the same transcript
    for b in range(4):
        assert model.generate(x[b: b + 1, : lengths[b]], lengths[b: b + 1]) == [targets[b]]


def test_beam_search_batch_equals_each_sample_alone(model: SpeechLLM) -> None:
    x, lengths = features([10, 21], seed=3)
    options = GenerateOptions(num_beams=3, extra_tokens=3, max_repeats=0)
    batch = model.generate(x, lengths, options)
    alone = [model.generate(x[b: b + 1, : lengths[b]], lengths[b: b + 1], options)[0]
             for b in range(2)]
    assert batch == alone
    assert [len(r) for r in batch] == [5, 7]  # each row stops at its own limit


def test_repetition_guard_stops_a_looping_row_and_cuts_it_to_one_copy(model: SpeechLLM) -> None:
    x, lengths = features([10, 21], seed=3)
    free = model.generate(x, lengths, GenerateOptions(max_repeats=0))
    guarded = model.generate(x, lengths, GenerateOptions(max_repeats=4))
    cut_rows = 0
    for row, out in zip(free, guarded, strict=True):
        loops = [i for i in range(1, len(row) + 1) if repeated_tail(row[:i], 4, 8)]
        if loops:  # decoding stops where the loop is first seen, then the copies are cut
            i = loops[0]
            expected, cut_rows = row[: i - repeated_tail(row[:i], 4, 8)], cut_rows + 1
        else:
            expected = row
        assert out == expected
    assert cut_rows > 0, "the random model should loop somewhere, or this tests nothing"
