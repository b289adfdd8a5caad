"""Inference: transcription with Whisper baselines (and, later, susurrus models)."""

from susurrus.infer.transcribe import DEFAULT_MODEL, ENGINES, get_engine, transcribe
from susurrus.infer.transcript import FORMATS, Segment, Transcript, render, write
from susurrus.infer.whisper_longform import LongFormOptions

__all__ = ["DEFAULT_MODEL", "ENGINES", "FORMATS", "LongFormOptions", "Segment", "Transcript",
           "get_engine", "render", "transcribe", "write"]
