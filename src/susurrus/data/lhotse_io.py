"""Lhotse manifests in and out, so lhotse's recipes (LibriSpeech, LibriMix, AMI, ...) feed every
susurrus command.

A cut becomes utterances this way:
- one supervision: one utterance (the cut's span of its recording);
- several supervisions that do not overlap (a conversation, a meeting cut to turns): one utterance
  per supervision, `session` = the cut, `turn` = the order — conversational context works as is;
- overlapping supervisions in a short cut (<= 60 s; LibriMix): one mixture utterance with a
  talker per speaker; a longer cut (a meeting with some crosstalk) stays a session of turns.
Audio must be one file source (what most recipes write). A cut lhotse mixes on the fly (a
`MixedCut`: lhotse's LibriMix recipe, `CutSet.mix`) is refused with the cut id and the command that
renders it to files once (`susurrus prepare cuts`, `susurrus.data.render_cuts`).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from susurrus.data.manifest import (
    MANIFEST_KINDS,
    ManifestError,
    ManifestNotFoundError,
    Talker,
    Utterance,
    check_manifest_path,
    read_manifest,
)

MIXTURE_MAX_SECONDS = 60.0


def file_source(cut) -> Path | None:
    """The one audio file a cut reads, or None (a MixedCut, several sources, in-memory audio)."""
    rec = getattr(cut, "recording", None)  # a MixedCut has none (and raises AttributeError)
    if rec is None or len(rec.sources) != 1 or rec.sources[0].type != "file":
        return None
    return Path(rec.sources[0].source)


def _audio_path(cut) -> Path:
    path = file_source(cut)
    if path is None:
        rec = getattr(cut, "recording", None)
        found = (type(cut).__name__ if rec is None
                 else ", ".join(src.type for src in rec.sources) or "no source")
        raise ManifestError(f"cut {cut.id!r}", 0, "recording.sources",
                            f"susurrus reads lhotse cuts whose audio is one file source "
                            f"(found: {found}); write its audio to files once with "
                            f"`susurrus prepare cuts CUTS --out DIR` and give DIR's manifest")
    return path


def _overlaps(sups) -> bool:
    spans = sorted((s.start, s.end) for s in sups)
    return any(b[0] < a[1] - 1e-3 for a, b in zip(spans, spans[1:], strict=False))


def utterances_from_cuts(cuts) -> list[Utterance]:
    """A lhotse CutSet (or any iterable of cuts) -> utterances (see the module doc)."""
    out: list[Utterance] = []
    for cut in cuts:
        out.extend(cut_utterances(cut, _audio_path(cut), cut.start))
    return out


def cut_utterances(cut, audio: Path, start: float) -> list[Utterance]:
    """One cut's utterances (see the module doc), its audio at `start` s of the file `audio`."""
    sups = sorted(cut.supervisions, key=lambda s: s.start)
    if not sups:
        return []
    # A short overlapped cut (LibriMix) is a mixture; a long meeting or call with some
    # crosstalk stays a session of turns.
    if len(sups) > 1 and cut.duration <= MIXTURE_MAX_SECONDS and _overlaps(sups):
        by_spk: dict[str, list] = defaultdict(list)
        for s in sups:
            by_spk[s.speaker or s.id].append(s)
        talkers = tuple(
            Talker(spk, round(max(ss[0].start, 0.0), 4), " ".join(s.text or "" for s in ss),
                   round(min(ss[-1].end, cut.duration) - max(ss[0].start, 0.0), 4))
            for spk, ss in by_spk.items()
        )
        return [Utterance(cut.id, audio, start=start, duration=cut.duration, talkers=talkers)]
    out: list[Utterance] = []
    for turn, s in enumerate(sups):
        custom = dict(s.custom or {})
        single = len(sups) == 1
        # A single-supervision cut written by `cuts_from_utterances` carries its session
        # and turn in `custom`; a multi-supervision cut is itself the session.
        session = custom.pop("session", None) if single else cut.id
        turn_no = custom.pop("turn", None) if single else turn
        out.append(Utterance(
            id=s.id, audio=audio, text=s.text or "",
            start=round(start + max(s.start, 0.0), 4),
            duration=round(min(s.duration, cut.duration - max(s.start, 0.0)), 4),
            session=session, turn=turn_no, speaker=s.speaker,
            entities=tuple(custom.pop("entities", ())), meta=custom,
        ))
    return out


def cuts_from_utterances(utterances: list[Utterance]):
    """Utterances -> a lhotse CutSet (Recording per audio file, one supervision per talker)."""
    from lhotse import CutSet, Recording, SupervisionSegment

    recordings: dict[Path, Recording] = {}
    cuts = []
    for u in utterances:
        if u.audio not in recordings:
            recordings[u.audio] = Recording.from_file(u.audio, recording_id=u.audio.stem)
        rec = recordings[u.audio]
        duration = u.duration if u.duration is not None else rec.duration - u.start
        if u.talkers:
            sups = [SupervisionSegment(f"{u.id}-{t.speaker}", rec.id, u.start + t.offset,
                                       t.duration or duration - t.offset, text=t.text,
                                       speaker=t.speaker) for t in u.talkers]
        else:
            custom = {**u.meta, "entities": list(u.entities), "session": u.session,
                      "turn": u.turn}
            custom = {k: v for k, v in custom.items() if v not in (None, [])} or None
            sups = [SupervisionSegment(u.id, rec.id, u.start, duration, text=u.text,
                                       speaker=u.speaker, custom=custom)]
        cut = rec.to_cut().truncate(offset=u.start, duration=duration, preserve_id=True)
        cut = cut.with_id(u.id)
        cut.supervisions = [s.with_offset(-u.start) for s in sups]
        cuts.append(cut)
    return CutSet.from_cuts(cuts)


def load_utterances(path: str | Path) -> list[Utterance]:
    """Any manifest susurrus accepts -> utterances.

    - `*.jsonl` (not gzipped): the susurrus interchange manifest;
    - a lhotse CutSet (`*.jsonl.gz`, `*.jsonl`, `*.json`) — e.g. `cuts_test.jsonl.gz`;
    - a lhotse RecordingSet whose SupervisionSet sits beside it with `recordings` -> `supervisions`
      in the name (what `lhotse prepare librispeech` writes).
    """
    path = check_manifest_path(path)
    if path.suffix == ".jsonl" and not _looks_like_lhotse(path):
        return read_manifest(path)
    return utterances_from_cuts(load_cuts(path))


def load_cuts(path: str | Path):
    """A lhotse CutSet file, or a RecordingSet with its SupervisionSet beside it, as a CutSet;
    anything else is a ManifestError naming the file."""
    from lhotse import CutSet, RecordingSet, load_manifest

    path = check_manifest_path(path)
    try:
        manifest = load_manifest(path)
    except ValueError as e:  # lhotse: "Not a valid manifest", or a field it cannot read
        raise ManifestError(path, 0, "<file>", f"not a manifest susurrus reads ({e}); give "
                            f"{MANIFEST_KINDS}") from None
    if isinstance(manifest, RecordingSet):
        sup_path = path.with_name(path.name.replace("recordings", "supervisions"))
        if sup_path == path or not sup_path.exists():
            raise ManifestNotFoundError(
                f"{path}: a lhotse RecordingSet needs its SupervisionSet beside it ({sup_path})")
        manifest = CutSet.from_manifests(recordings=manifest, supervisions=load_manifest(sup_path))
    if not isinstance(manifest, CutSet):
        raise ManifestError(path, 0, "<file>", f"a lhotse {type(manifest).__name__} is not "
                            "something to evaluate: give a CutSet or a RecordingSet")
    return manifest


def _looks_like_lhotse(path: Path) -> bool:
    import json

    with open(path, encoding="utf-8", errors="replace") as f:  # a sniff: read_manifest checks
        first = next((line for line in f if line.strip()), "{}")
    try:
        obj = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(obj, dict) and ("recording" in obj or "sources" in obj
                                      or ("recording_id" in obj and "audio" not in obj))
