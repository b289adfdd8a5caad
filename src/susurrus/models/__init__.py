"""Model families, one subpackage each: a pure `nn.Module`, its config, how it is built and
checkpointed. `speech_llm` (papers 001 and 000) and `multitalker` (paper 003's encoder-only
multi-talker CTC model) today."""
