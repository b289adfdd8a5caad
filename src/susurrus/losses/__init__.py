"""Training losses, each an `nn.Module` or function tested against a slow, obviously-correct
reference (tests/losses): the speech LLM's CTC alignment onto the LLM's embeddings today; the
distillation losses of papers 002 and 003 join here."""
