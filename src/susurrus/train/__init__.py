"""Training of the speech LLM (frozen Whisper encoder -> compressor -> projector -> LLM + LoRA).

`recipe` reads YAML recipes with dotted `key=value` overrides; `data` caches the frozen encoder's
features on disk and groups utterances into duration-bucketed batches; `loop` is the Accelerate
training loop with exact resume; `validate` scores greedy transcripts during training.
"""
