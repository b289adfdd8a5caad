"""Training losses, each an `nn.Module` or function tested against a slow, obviously-correct
reference (tests/losses): the speech LLM's CTC alignment onto the LLM's embeddings
(`ctc_align`); paper 002's token-level OT distillation across tokenizers (`ot_distill`) and
representation loss (`representation`); paper 003's serialized / permutation-invariant CTC and
talker-count loss (`serialized_ctc`), whose distillation term joins here."""
