"""The training tasks, one module each, listed in `susurrus.train.task.TASKS`:
`speech_llm` (papers 001 and 000), `whisper_distill` (paper 002) and `multitalker_ctc` (paper
003's encoder-only model)."""
