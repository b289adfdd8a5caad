"""Mixture manifests for the multi-talker tasks (paper 003, issue 18): `multitalker_ctc`, and
`speech_llm` with serialized output training (`model.sot`).

A line is a mixture (`talkers`) or a plain utterance (one talker at 0 s); with no manifest
named, `susurrus synth mixtures` makes 1-, 2- and 3-talker mixtures (30% of the multi-talker
ones fully overlapped) into `data.synth_dir`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from susurrus.data.manifest import Utterance
from susurrus.losses.serialized_ctc import TalkerRef

SYNTH_TALKERS = (1, 2, 3)  # talker counts of the default corpus
SYNTH_OVERLAPPED = 0.3  # share of its multi-talker mixtures that start all at 0 s


def talkers_of(utt: Utterance) -> list[TalkerRef]:
    """A mixture's talkers, or a plain utterance as one talker at 0 s."""
    if utt.is_mixture:
        return [TalkerRef(t.offset, t.text, t.duration) for t in utt.talkers]
    return [TalkerRef(0.0, utt.text, utt.duration)]


def load_mixtures(data, split: str, log: Callable[[str], None]) -> list[Utterance]:
    """The recipe's train or valid lines (mixtures and plain utterances), synthesizing the
    default mixture corpus when the recipe names no manifest."""
    from susurrus.data.lhotse_io import load_utterances
    from susurrus.errors import BadManifestError

    given = list(data.train) if split == "train" else [data.valid] if data.valid else []
    paths = [Path(p) for p in given]
    if not given:
        paths = [Path(data.synth_dir) / ("train.jsonl" if split == "train" else "dev.jsonl")]
        if not paths[0].exists():
            from susurrus.data.synth import synthesize

            log(f"no {split} manifest given: synthesizing {data.synth_hours} h of 1-3-talker "
                f"mixtures into {data.synth_dir} (seed {data.synth_seed})")
            synthesize("mixtures", data.synth_dir, hours=data.synth_hours, seed=data.synth_seed,
                       splits=("train", "dev"), talkers=SYNTH_TALKERS,
                       overlapped_share=SYNTH_OVERLAPPED)
    keep = []
    for path in paths:
        if not path.exists():
            raise BadManifestError(f"data.{split}: {path} does not exist; give a manifest path")
        utts = [u for u in load_utterances(path)
                if any(t.text.strip() for t in talkers_of(u))]
        long = [u for u in utts if u.duration is not None and u.duration > data.max_duration]
        if long:
            log(f"{path}: skipping {len(long)} lines over data.max_duration="
                f"{data.max_duration} s (e.g. {long[0].id})")
        keep += [u for u in utts if u not in long]
    if not keep:
        raise BadManifestError(f"data.{split}: {', '.join(map(str, paths))} holds no line with "
                               "a reference")
    return keep
