"""Real-time factor of the torch path and the faster-whisper path on the same audio, side by side.

    .venv/bin/python benchmarks/transcribe_baseline.py [--minutes 5] [--threads N]

Synthesizes long-form read speech (tests/data/longform.txt, espeak-ng and flite voices), then runs
Whisper tiny.en through: susurrus's torch engine (float32; bf16 autocast too) and faster-whisper
(CTranslate2 float32 and int8) — greedy, same weights, same audio. Prints a table and writes
benchmarks/results/transcribe_baseline.{md,json}; the JSON holds everything the table shows, and
`python benchmarks/transcribe_baseline.py --render benchmarks/results/transcribe_baseline.json`
redraws the table from it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import render_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "tests" / "data" / "longform.txt"


def make_audio(out: Path, minutes: float) -> tuple[list[Path], list[str]]:
    from susurrus.data.tts import speak

    text = " ".join(TEXT.read_text().split())
    voices = [("espeak-ng", "en-us", 140), ("flite", "slt", None), ("espeak-ng", "en-gb", 160),
              ("flite", "awb", None)]
    paths, refs, total = [], [], 0.0
    for i, (engine, voice, speed) in enumerate(voices):
        if total >= minutes * 60:
            break
        p = out / f"long{i}_{engine}_{voice}.wav"
        if not p.exists():
            speak(text, p, engine, voice, speed)
        import soundfile as sf

        total += sf.info(str(p)).duration
        paths.append(p)
        refs.append(text)
    return paths, refs


def wer(ref: str, hyp: str) -> tuple[int, int]:
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                          jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    out = jiwer.process_words(norm(ref), norm(hyp))
    return out.substitutions + out.deletions + out.insertions, len(norm(ref).split())


def run_system(name: str, transcribe_fn, audios, refs) -> dict:
    errors = words = 0
    audio_s = wall = 0.0
    for audio, ref in zip(audios, refs, strict=True):
        t0 = time.perf_counter()
        text = transcribe_fn(audio)
        wall += time.perf_counter() - t0
        audio_s += audio.shape[0] / 16000
        e, n = wer(ref, text)
        errors, words = errors + e, words + n
    row = dict(system=name, audio_seconds=audio_s, wall_seconds=wall, rtf=wall / audio_s,
               wer=errors / words, errors=errors, words=words)
    print(f"  {name:<30} RTF {row['rtf']:.3f}  WER {row['wer']:.3f}", flush=True)
    return row


def markdown(results: dict) -> str:
    """The table (transcribe_baseline.md) from what `main` writes to transcribe_baseline.json."""
    header = "| system | audio (s) | wall (s) | RTF | WER |\n|---|---:|---:|---:|---:|\n"
    body = "\n".join(f"| {r['system']} | {r['audio_seconds']:.0f} | {r['wall_seconds']:.1f} | "
                     f"{r['rtf']:.3f} | {r['wer']:.3f} |" for r in results["rows"])
    return (f"Whisper tiny.en, greedy + temperature fallback, {results['machine']}; fastest of "
            f"{results['repeats']} interleaved runs\n\n{header}{body}\n")


def main() -> None:
    if render_main(markdown):  # --render RESULTS.json: the table again, from the JSON alone
        return
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="at least this much audio")
    ap.add_argument("--repeats", type=int, default=2, help="runs per system; the fastest counts")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench_audio")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    paths, refs = make_audio(args.work, args.minutes)

    from susurrus.audio import load_audio
    from susurrus.infer import LongFormOptions, load_recognizer
    from susurrus.infer.whisper import FasterWhisperRecognizer

    opts = LongFormOptions()
    torch_engine = load_recognizer("whisper-tiny.en", "torch", "cpu", opts)

    def torch_fn(a):
        return "".join(s.text for s in torch_engine.recognize([a])[0].segments)

    def torch_bf16_fn(a):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return torch_fn(a)

    systems = {"susurrus torch fp32": torch_fn, "susurrus torch bf16-autocast": torch_bf16_fn}
    for ct in ("float32", "int8"):
        fw = FasterWhisperRecognizer("whisper-tiny.en", "cpu", opts, compute_type=ct)
        systems[f"faster-whisper {ct}"] = (
            lambda a, fw=fw: "".join(s.text for s in fw.segments(a, None)))
    audios = [load_audio(p) for p in paths]
    # Shared machines drift: interleave the systems in every repeat and keep each one's fastest.
    best: dict[str, dict] = {}
    for rep in range(args.repeats):
        print(f"repeat {rep + 1}/{args.repeats}: {len(paths)} files, {args.threads} threads")
        for name, fn in systems.items():
            row = run_system(name, fn, audios, refs)
            if name not in best or row["wall_seconds"] < best[name]["wall_seconds"]:
                best[name] = row
    machine = f"{platform.processor() or platform.machine()}, {args.threads} threads, torch " \
              f"{torch.__version__}"
    results = dict(machine=machine, repeats=args.repeats, rows=list(best.values()))
    md = markdown(results)
    print("\n" + md)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "transcribe_baseline.md").write_text(md)
    (args.results / "transcribe_baseline.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
