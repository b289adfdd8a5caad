"""The CTC alignment warm-up: its head, its best-path decoding, and what it trains (and not)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from susurrus.losses.ctc_align import AlignHead, align_loss, greedy_classes
from susurrus.models.speech_llm.model import SpeechLLM
from susurrus.testing.speech_llm import D, build, load_parts
from susurrus.train.align import align

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["hello there", "good morning", "see you soon", "thanks a lot"]


@pytest.fixture(scope="module")
def parts(tiny_whisper_dir: Path, tiny_llm_dir: Path) -> tuple:
    return load_parts(tiny_whisper_dir, tiny_llm_dir)


def data(model: SpeechLLM) -> tuple[list[torch.Tensor], list[list[int]], list[float]]:
    """Four random feature sequences of 40-70 frames with short transcripts."""
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(40 + 10 * i, D, generator=g) for i in range(len(TEXTS))]
    targets = [model.tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    return feats, targets, [f.shape[0] / 50 for f in feats]


def test_the_head_scores_blank_then_the_sorted_vocabulary_subset() -> None:
    table = torch.randn(100, 8)
    head = AlignHead(table, [42, 7, 42, 9])
    assert head.classes([7, 9, 42]) == [1, 2, 3]
    logp = head(torch.randn(2, 5, 8))
    assert logp.shape == (2, 5, 4)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 5), atol=1e-5)
    # an audio token equal (up to length) to token 9's embedding scores class 2 highest
    probe = (3.0 * table[9])[None, None]
    assert int(head(probe).argmax(-1)) == 2
    with pytest.raises(ValueError, match="at least one"):
        AlignHead(table, [])


def test_best_path_merges_repeats_and_drops_blanks() -> None:
    path = [0, 3, 3, 0, 3, 1, 1, 0, 2]
    logp = torch.nn.functional.one_hot(torch.tensor(path), 5).float().log()
    assert greedy_classes(logp, len(path)) == [3, 3, 1, 2]
    assert greedy_classes(logp, 3) == [3]  # only the first n tokens count


def test_alignment_trains_compressor_and_projector_only_and_lowers_the_ctc_loss(parts) -> None:
    model = build(parts, lora_noise=0.0)
    feats, targets, durations = data(model)
    llm_before = {k: v.clone() for k, v in model.llm.state_dict().items()}
    proj_before = {k: v.clone() for k, v in model.projector.state_dict().items()}
    head = AlignHead(model.llm.get_input_embeddings().weight, [t for r in targets for t in r])
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    lengths = torch.tensor([f.shape[0] for f in feats])
    with torch.no_grad():
        before, _, _ = align_loss(model, head, x, lengths, targets)
    messages: list[str] = []
    result = align(model, feats, targets, durations, steps=60, lr=1e-2, batch_seconds=10.0,
                   seed=0, device=torch.device("cpu"), progress=False, log=messages.append,
                   head=head)
    assert result.steps == 60 and "alignment: 60 steps" in messages[0]
    with torch.no_grad():
        after, _, _ = align_loss(model, head, x, lengths, targets)
    assert float(after) < 0.5 * float(before), (float(before), float(after))
    assert result.token_error_rate < 0.5
    assert all(torch.equal(v, llm_before[k]) for k, v in model.llm.state_dict().items())
    assert any(not torch.equal(v, proj_before[k]) for k, v in model.projector.state_dict().items())


def test_alignment_is_deterministic_for_a_seed(parts) -> None:
    def trained(seed: int) -> dict[str, torch.Tensor]:
        model = build(parts, lora_noise=0.0)
        feats, targets, durations = data(model)
        align(model, feats, targets, durations, steps=5, lr=1e-2, batch_seconds=10.0, seed=seed,
              device=torch.device("cpu"), progress=False, log=lambda *_: None)
        return model.projector.state_dict()

    a, b, c = trained(0), trained(0), trained(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
