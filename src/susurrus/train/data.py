"""Training data: the recipe's utterances, and a disk cache of a frozen encoder's features.

The encoder is frozen, so its output for an utterance never changes: it is computed once and
stored as float16 under `root/<encoder fingerprint>/<key[:2]>/<key>.npy`. The key covers the audio
file's identity (path, size, mtime) and the segment, so an edited file gets new features.

Augmented variants (issue 16): variant 0 is the clean audio at the path above; variant k >= 1 is
`augment.augment(audio, config, seed, utt.id, variant=k)` encoded the same way, stored under
`root/<encoder fingerprint>/aug-<augment.fingerprint(config, seed)>/<key[:2]>/<key>/<k>.npy`, so
another augmentation config or seed never reuses them. A variant whose augmented audio outgrows
the encoder's window (slowed down) falls back to the clean audio rather than losing words.

Batches of them come from `susurrus.train.batches` (lhotse's sampler).

Shapes: B batch, M mel bins, T mel frames (100/s), T' encoder frames (50/s), D encoder width.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from susurrus.audio.features import FRAMES_PER_SECOND, N_FFT, log_mel_spectrogram
from susurrus.audio.io import SAMPLE_RATE, AudioFileNotFoundError, load_audio
from susurrus.data.augment import AugmentConfig
from susurrus.data.manifest import Utterance
from susurrus.encoders.whisper import AnyLengthWhisperEncoder

CACHE_FORMAT = 1  # bump when the stored features change meaning (mel recipe, layout, dtype)
_SAMPLED_ELEMENTS = 1024  # elements from each end of every tensor that the fingerprint hashes


def encoder_fingerprint(encoder_name: str, encoder: torch.nn.Module) -> str:
    """A folder name for this encoder's features: '<name>-<12 hex digits of its weights>'.

    Hashing every byte of a large encoder would take seconds; names, shapes, dtypes and the first
    and last elements of every tensor are enough to tell checkpoints apart (a fine-tune changes
    the ends of nearly every tensor).
    """
    h = hashlib.sha256(json.dumps([CACHE_FORMAT, encoder_name]).encode())
    for name, t in sorted(encoder.state_dict().items()):
        flat = t.detach().reshape(-1)
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        for part in (flat[:_SAMPLED_ELEMENTS], flat[-_SAMPLED_ELEMENTS:]):
            h.update(part.contiguous().view(torch.uint8).cpu().numpy().tobytes())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", encoder_name).strip("-") or "encoder"
    return f"{slug}-{h.hexdigest()[:12]}"


class FeatureCache:
    """Frozen encoder outputs of utterances, computed once and kept on disk as float16."""

    def __init__(self, root: Path, encoder_name: str, encoder: AnyLengthWhisperEncoder,
                 augment: AugmentConfig | None = None, augment_seed: int = 0) -> None:
        self.encoder_name = encoder_name
        self.encoder = encoder
        self.folder = Path(root) / encoder_fingerprint(encoder_name, encoder)
        self.max_seconds = encoder.max_frames / FRAMES_PER_SECOND  # 30 s for Whisper
        self.augment, self.augment_seed = augment, augment_seed
        self.augment_folder = None
        if augment is not None:
            from susurrus.data.augment import fingerprint

            self.augment_folder = self.folder / f"aug-{fingerprint(augment, augment_seed)}"

    def key(self, utt: Utterance) -> str:
        """sha256 of the encoder name, the audio file's identity and the segment."""
        path = Path(utt.audio).resolve()
        if not path.is_file():
            raise AudioFileNotFoundError(path, f"utterance {utt.id}: no such audio file")
        stat = path.stat()
        ident = [self.encoder_name, str(path), stat.st_size, stat.st_mtime_ns, utt.start,
                 utt.duration]
        return hashlib.sha256(json.dumps(ident).encode()).hexdigest()

    def path(self, utt: Utterance, variant: int = 0) -> Path:
        """Where the utterance's features (of augmented `variant`; 0 = clean) are stored."""
        key = self.key(utt)
        if variant == 0:
            return self.folder / key[:2] / f"{key}.npy"
        if self.augment_folder is None or variant < 0:
            raise ValueError(f"utterance {utt.id}: variant {variant} needs an augment config "
                             "(variants are 1..K; 0 is the clean audio)")
        return self.augment_folder / key[:2] / key / f"{variant}.npy"

    def get(self, utt: Utterance, variant: int = 0) -> torch.Tensor:
        """(T', D) float32 encoder output of the utterance's `variant`, from disk or computed."""
        path = self.path(utt, variant)
        cached = _read(path)
        if cached is not None:
            return cached
        return self._encode_and_store([(utt, variant)], [path])[0]

    def prepare(
        self, utterances: Sequence[Utterance], progress: bool = True, batch_size: int = 8,
        variants: int = 0,
    ) -> int:
        """Compute the features of every utterance (variants 0..`variants`) not yet cached;
        returns how many were computed.

        Utterances are encoded in batches of similar duration (padding is masked, so a batch
        gives each one the output it gets alone). Interrupted, it resumes where it stopped.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for utt in utterances:  # refuse before hours of work, not after
            if utt.duration is not None:
                self._check_length(utt, utt.duration)
        missing: dict[Path, tuple[Utterance, int]] = {}
        for utt in utterances:
            for k in range(variants + 1):
                path = self.path(utt, k)
                if path not in missing and not path.is_file():
                    missing[path] = (utt, k)
        order = sorted(missing, key=lambda p: _duration(missing[p][0]))
        with tqdm(total=len(order), desc="encoder features", unit="utt",
                  disable=not progress) as bar:
            for i in range(0, len(order), batch_size):
                paths = order[i : i + batch_size]
                self._encode_and_store([missing[p] for p in paths], paths)
                bar.update(len(paths))
        return len(order)

    def _check_length(self, utt: Utterance, seconds: float) -> None:
        if int(seconds * FRAMES_PER_SECOND) > self.encoder.max_frames:
            raise ValueError(
                f"utterance {utt.id}: {seconds:.2f} s is longer than the encoder's "
                f"{self.max_seconds:.0f} s; split it into segments of at most "
                f"{self.max_seconds:.0f} s (start/duration in the manifest)"
            )

    def _mel(self, utt: Utterance, variant: int = 0) -> torch.Tensor:
        """(M, T) log-mel of the utterance's audio (augmented `variant`; 0 = clean)."""
        audio = load_audio(utt.audio, utt.start, utt.duration)
        if variant:  # an augmented copy that outgrows max_seconds stays clean: words kept
            from susurrus.data.augment import utterance_variant

            audio = utterance_variant(audio, self.augment, self.augment_seed, utt.id, variant,
                                      int(self.max_seconds * SAMPLE_RATE), min_samples=N_FFT)
        if audio.size <= N_FFT:
            raise ValueError(f"utterance {utt.id}: only {audio.size} samples, too short to encode")
        mel = log_mel_spectrogram(audio, n_mels=self.encoder.n_mels)  # (M, T)
        if mel.shape[1] > self.encoder.max_frames:
            self._check_length(utt, audio.size / SAMPLE_RATE)
        return mel

    def _encode_and_store(
        self, items: Sequence[tuple[Utterance, int]], paths: Sequence[Path]
    ) -> list[torch.Tensor]:
        """Encode a batch of (utterance, variant), store each output, return them as (T', D)
        float32 tensors."""
        mels = [self._mel(u, k) for u, k in items]
        lengths = torch.tensor([m.shape[1] for m in mels])  # (B,)
        batch = torch.zeros(len(mels), mels[0].shape[0], int(lengths.max()))  # (B, M, T)
        for b, m in enumerate(mels):
            batch[b, :, : m.shape[1]] = m
        param = next(self.encoder.parameters())
        with torch.inference_mode():
            hidden, out_lengths = self.encoder(batch.to(param.device, param.dtype),
                                               lengths.to(param.device))  # (B, T', D), (B,)
        out = []
        for b, path in enumerate(paths):
            feats = hidden[b, : int(out_lengths[b])].float().cpu().numpy().astype(np.float16)
            _write(path, feats)
            # Return what a later cache hit returns, so results never depend on the cache state.
            out.append(torch.from_numpy(feats.astype(np.float32)))
        return out


def _duration(utt: Utterance) -> float:
    """Seconds of the utterance, from the manifest or the file's header (for sorting only)."""
    if utt.duration is not None:
        return utt.duration
    import soundfile as sf

    try:
        return sf.info(str(utt.audio)).duration - utt.start
    except (sf.LibsndfileError, RuntimeError):
        return 0.0


def _read(path: Path) -> torch.Tensor | None:
    """Stored features as (T', D) float32, or None when absent or unreadable (then recomputed)."""
    if not path.is_file():
        return None
    try:
        return torch.from_numpy(np.load(path).astype(np.float32))
    except (OSError, ValueError):
        return None


def _write(path: Path, array: np.ndarray) -> None:
    """Save atomically: readers see the old file or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:8]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prior_turns(utterances: Sequence[Utterance], max_turns: int | None) -> list[list[int]]:
    """For each utterance, the indices of its session's earlier turns (the last `max_turns`).

    The context a multi-turn sample reads: turns of the same session that come before it, in
    order (utterances without a session have none).
    """
    from susurrus.data.manifest import group_sessions

    index = {id(u): i for i, u in enumerate(utterances)}
    out: list[list[int]] = [[] for _ in utterances]
    for session, turns in group_sessions(list(utterances)).items():
        if session == turns[0].id and turns[0].session is None:
            continue
        order = [index[id(u)] for u in turns]
        for n, i in enumerate(order):
            start = 0 if max_turns is None else max(0, n - max_turns)
            out[i] = order[start:n]
    return out


def pick_variant(seed: int, epoch: int, example: int, variants: int) -> int:
    """The feature variant (0 = clean, 1..`variants` augmented) example `example` trains on in
    `epoch`: drawn from (seed, epoch, example) alone, so a resumed run draws the same ones."""
    if variants <= 0:
        return 0
    return int(np.random.default_rng([seed, epoch, example]).integers(variants + 1))


def time_mask(feats: torch.Tensor, seed: int, epoch: int, example: int, share: float,
              fraction: float, max_frames: int) -> torch.Tensor:
    """`feats` (T, D) with time masks, or unchanged: with probability `share` (drawn from
    (seed, epoch, example) alone, apart from `pick_variant`'s draw, so a resumed run masks the
    same frames), spans of 1..`max_frames` frames at random places are zeroed until at least
    `fraction` of the T frames are (SpecAugment's time masking, on encoder features)."""
    if share <= 0 or fraction <= 0:
        return feats
    rng = np.random.default_rng([seed, epoch, example, 1])
    if rng.random() >= share:
        return feats
    T = feats.shape[0]
    masked = np.zeros(T, dtype=bool)
    target = min(T, int(np.ceil(fraction * T)))
    while masked.sum() < target:
        width = int(rng.integers(1, max(1, min(max_frames, T)) + 1))
        start = int(rng.integers(0, T - width + 1))
        masked[start: start + width] = True
    out = feats.clone()
    out[torch.from_numpy(masked)] = 0
    return out


def pad_features(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """[(T_b, D)] -> (B, T, D) zero-padded, lengths (B,)."""
    lengths = torch.tensor([f.shape[0] for f in feats])
    out = feats[0].new_zeros(len(feats), int(lengths.max()), feats[0].shape[1])
    for b, f in enumerate(feats):
        out[b, : f.shape[0]] = f
    return out, lengths


def load_split(data, split: str, log: Callable[[str], None] = print) -> list[Utterance]:
    """The recipe's train or valid utterances (`data` a DataConfig): single-talker, with a
    reference, at most `data.max_duration` long. `data.train` may name several manifests (read
    as one set; an id may not repeat). Synthesizes the default corpus when the recipe names no
    manifest."""
    from susurrus.errors import BadManifestError

    given = list(data.train) if split == "train" else [data.valid] if data.valid else []
    if given:
        paths = [Path(p) for p in given]
    else:
        paths = [Path(data.synth_dir) / ("train.jsonl" if split == "train" else "dev.jsonl")]
        if not paths[0].exists():
            from susurrus.data.synth import synthesize

            log(f"no {split} manifest given: synthesizing {data.synth_hours} h of conversations "
                f"into {data.synth_dir} (seed {data.synth_seed})")
            synthesize("conversations", data.synth_dir, hours=data.synth_hours,
                       seed=data.synth_seed, splits=("train", "dev"))
    keep: list[Utterance] = []
    seen: dict[str, Path] = {}
    for path in paths:
        for u in _usable(path, split, data.max_duration, log):
            if u.id in seen:
                raise BadManifestError(f"data.{split}: utterance id {u.id!r} is in both "
                                       f"{seen[u.id]} and {path}; ids must be unique")
            seen[u.id] = path
            keep.append(u)
    return keep


def _usable(path: Path, split: str, max_duration: float, log: Callable[[str], None]
            ) -> list[Utterance]:
    """One manifest's single-talker utterances with a reference, at most max_duration long."""
    from susurrus.data.lhotse_io import load_utterances
    from susurrus.errors import BadManifestError

    if not path.exists():
        raise FileNotFoundError(f"data.{split}: {path} does not exist; give a manifest path")
    utts = load_utterances(path)
    keep = [u for u in utts if not u.is_mixture and u.text.strip()]
    long = [u for u in keep if u.duration is not None and u.duration > max_duration]
    if len(keep) < len(utts):
        log(f"{path}: skipping {len(utts) - len(keep)} mixtures or empty references")
    if long:
        log(f"{path}: skipping {len(long)} utterances over data.max_duration="
            f"{max_duration} s (e.g. {long[0].id}); split them to train on them")
        keep = [u for u in keep if u not in long]
    if not keep:
        raise BadManifestError(f"data.{split}: {path} holds no usable single-talker utterance")
    return keep
