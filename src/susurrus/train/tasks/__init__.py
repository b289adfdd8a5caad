"""The training tasks, one module each, listed in `susurrus.train.task.TASKS`:
`speech_llm` (papers 001 and 000) and `whisper_distill` (paper 002)."""
