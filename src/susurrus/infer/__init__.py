"""Inference: every model family behind one `Recognizer` interface, chosen by what a checkpoint
says about itself (`load_recognizer`); `transcribe` and conversation sessions on top."""

from susurrus.infer.recognizer import (
    Capabilities,
    PromptSession,
    Recognition,
    Recognizer,
    Session,
    TalkerStream,
    TurnResult,
)
from susurrus.infer.registry import DEFAULT_MODEL, ENGINES, RECOGNIZERS, load_recognizer
from susurrus.infer.transcribe import transcribe
from susurrus.infer.transcript import FORMATS, Segment, Transcript, WindowIssue, render, write
from susurrus.infer.whisper_longform import LongFormOptions

__all__ = ["DEFAULT_MODEL", "ENGINES", "FORMATS", "RECOGNIZERS", "Capabilities", "LongFormOptions",
           "PromptSession", "Recognition", "Recognizer", "Segment", "Session", "TalkerStream",
           "Transcript", "TurnResult", "WindowIssue", "load_recognizer", "render", "transcribe",
           "write"]
