"""A hypothesis as OpenAI's transcription responses: json, text, srt, vtt, verbose_json, and
the server-sent events of `stream=true`.

text, srt and vtt are `susurrus.infer.render`'s own output (the CLI's files, byte for byte).
verbose_json follows OpenAI's `TranscriptionVerbose`; a multi-talker hypothesis adds `talkers`
(one entry per talker stream, paper 003) and a suspect window adds `issues` (both extensions an
OpenAI client ignores). `words` is left out: no served model times single words yet.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterator
from typing import Literal

from susurrus.infer.recognizer import Recognition
from susurrus.infer.transcript import Segment, Transcript, render

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("segment", "word")
LANGUAGE_NAMES = {"en": "english"}


def transcript(hyp: Recognition, duration: float, model: str, engine: str) -> Transcript:
    return Transcript(source="<upload>", text=hyp.text, segments=hyp.segments,
                      duration=duration, model=model, engine=engine, issues=list(hyp.issues),
                      talkers=hyp.talkers())


def _compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def _segment(i: int, s: Segment) -> dict:
    return {"id": i, "seek": int(round(s.start * 100)), "start": round(s.start, 3),
            "end": round(s.end, 3), "text": s.text, "tokens": list(s.tokens),
            "temperature": s.temperature, "avg_logprob": s.avg_logprob,
            "compression_ratio": round(_compression_ratio(s.text), 4),
            "no_speech_prob": s.no_speech_prob}


def usage(duration: float) -> dict:
    return {"type": "duration", "seconds": math.ceil(duration)}


def verbose_json(hyp: Recognition, duration: float, language: str) -> dict:
    out = {"task": "transcribe", "language": LANGUAGE_NAMES.get(language, language),
           "duration": round(duration, 3), "text": hyp.text,
           "segments": [_segment(i, s) for i, s in enumerate(hyp.segments)],
           "usage": usage(duration)}
    if len(hyp.streams) > 1:
        out["talkers"] = [{"speaker": st.speaker, "text": st.text,
                           "segments": [_segment(i, s) for i, s in enumerate(st.segments)]}
                          for st in hyp.streams]
    if hyp.issues:
        out["issues"] = [{"start": w.start, "end": w.end, "kind": w.kind, "message": w.message}
                         for w in hyp.issues]
    return out


def body(fmt: ResponseFormat, t: Transcript, hyp: Recognition, language: str
         ) -> tuple[str | dict, str]:
    """(content, media type) of one response format."""
    if fmt == "json":
        return {"text": t.text, "usage": usage(t.duration)}, "application/json"
    if fmt == "verbose_json":
        return verbose_json(hyp, t.duration, language), "application/json"
    if fmt == "text":
        return render(t, "txt"), "text/plain; charset=utf-8"
    return render(t, fmt), ("text/vtt" if fmt == "vtt" else "application/x-subrip")


def sse(hyp: Recognition) -> Iterator[str]:
    """`transcript.text.delta` per segment, then `transcript.text.done`, then `[DONE]`."""
    for s in hyp.segments:
        if s.text:
            yield f"data: {json.dumps({'type': 'transcript.text.delta', 'delta': s.text})}\n\n"
    yield f"data: {json.dumps({'type': 'transcript.text.done', 'text': hyp.text})}\n\n"
    yield "data: [DONE]\n\n"
