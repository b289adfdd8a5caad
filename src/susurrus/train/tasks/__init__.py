"""The training tasks, one module each, listed in `susurrus.train.task.TASKS`:
`speech_llm` (papers 001 and 000), `multitalker_ctc` (paper 003's encoder-only model).
`whisper_distill` (paper 002) holds the batch and the loss of a distillation step; it becomes a
task (and a TASKS line) with its first training run."""
