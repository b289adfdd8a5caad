"""`susurrus transcribe --session`: the files (or a manifest's sessions) as conversation turns.

    susurrus transcribe --session --model runs/ctx-abstract turn1.wav turn2.wav turn3.wav
    susurrus transcribe --session --model runs/ctx-abstract calls.jsonl      # every session
    susurrus transcribe --session --session-state call.session turn4.wav     # go on later

Each turn reads the earlier turns of its conversation as context (the model's own context mode,
or `--context`). One line per turn: `[session turn] source<TAB>text`. With `--session-state`
(audio files only) the conversation is restored from that file when it exists and saved after
every turn, so it can go on across runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from susurrus.cli.common import Interrupted
from susurrus.errors import UsageError


def transcribe_session(args: argparse.Namespace, options: tuple | None = None) -> int:
    from susurrus.data.manifest import group_sessions

    files = [Path(f) for f in args.files]
    manifest = len(files) == 1 and files[0].suffix == ".jsonl"
    if manifest and args.session_state:
        raise UsageError("--session-state continues one conversation of audio files, not a "
                         "manifest")
    if args.prompt:
        raise UsageError("--session reads earlier turns as context; drop --prompt")
    if args.output_dir is not None:
        raise UsageError("--session prints one line per turn; drop --output-dir")
    from susurrus.infer import load_recognizer

    recognizer = load_recognizer(args.model, device=args.device, options=options)
    # else the window the model was trained with
    max_turns = "trained" if args.max_context_turns is None else args.max_context_turns
    if manifest:
        from susurrus.audio.io import load_audio
        from susurrus.data.lhotse_io import load_utterances

        for name, turns in group_sessions(load_utterances(files[0])).items():
            session = recognizer.session(args.context, max_turns)
            for u in turns:
                r = session.transcribe_turn(load_audio(u.audio, u.start, u.duration))
                print(f"[{name} {r.index + 1}] {u.id}\t{r.text}", flush=True)
                _warn(u.id, r)
        return 0
    state = Path(args.session_state) if args.session_state else None
    if state is not None and state.exists():
        session = recognizer.restore_session(
            state, None if args.max_context_turns is None else max_turns)
        print(f"continuing {state}: {len(session.turns)} earlier turns", file=sys.stderr)
    else:
        session = recognizer.session(args.context, max_turns)
    for i, path in enumerate(files):
        try:
            r = session.transcribe_turn(path)
        except KeyboardInterrupt:
            raise Interrupted(_kept(state, len(session.turns), files[i:])) from None
        print(f"[{r.index + 1}] {path}\t{r.text}", flush=True)
        _warn(str(path), r)
        if state is not None:
            session.save(state)
    return 0


def _warn(name: str, r) -> None:
    """One stderr line per way the turn's decoding went wrong (as `transcribe` warns)."""
    for issue in r.issues:
        print(f"warning: {name} {issue.message}", file=sys.stderr)


def _kept(state: Path | None, turns: int, left: list[Path]) -> str:
    """What an interrupted conversation leaves, and how to go on."""
    rest = " ".join(map(str, left))
    if state is None:
        return (f"nothing was written (no --session-state); the turns printed above are "
                f"complete; {rest} not transcribed")
    return (f"{state} holds the conversation's {turns} turn(s) so far; to go on, re-run with "
            f"the same --session-state and the turns not done: {rest}")
