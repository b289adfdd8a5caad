"""Training by task: one generic loop for every model family.

`recipe` reads YAML recipes (`task:` + the task's `model:` config + `data:` + `train:`) with
dotted `key=value` overrides, checking everything before a run starts; `task` is the protocol a
family implements and the `TASKS` registry; `tasks/` holds one module per family (`speech_llm`);
`loop` is the Accelerate loop (batches from `batches`, lhotse's sampler sharded by process) with
exact resume and the run-folder rules of `run`. The speech LLM's helpers: `data` (utterances, the
frozen encoder's feature cache), `align` (its CTC warm-up), `validate` (its validation WER).
"""
