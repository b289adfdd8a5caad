"""`make demo`: synthesize a few entity-rich sentences and transcribe them with the baseline.

For now (foundation issue) the demo is the Whisper tiny.en baseline through both engines on
speech from three local TTS voices; later issues grow it into the full comparison. It prints a
table and writes `out/demo/report.md` and `out/demo/results.json`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SENTENCES = [
    ("espeak-ng", "en-us", "Siobhan will ship the new build to Reykjavik on the third of March."),
    ("flite", "slt", "Doctor Okafor prescribed amoxicillin twice a day for ten days."),
    ("festival", None, "The meeting with Acme Corporation moved to Thursday afternoon."),
]


def _wer(reference: str, hypothesis: str) -> float:
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                          jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    return jiwer.wer(norm(reference), norm(hypothesis))


def run(out_dir: Path) -> list[dict]:
    from susurrus import transcribe
    from susurrus.data.tts import speak
    from susurrus.infer import get_engine

    out_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, (engine, voice, text) in enumerate(SENTENCES):
        path = out_dir / f"clip{i}_{engine}.wav"
        if not path.exists():
            speak(text, path, engine, voice)
        clips.append((path, f"{engine}/{voice or 'default'}", text))
    rows = []
    for eng in ("torch", "faster-whisper"):
        t0 = time.perf_counter()
        get_engine("whisper-tiny.en", eng)  # load once; loading is not transcription time
        load = time.perf_counter() - t0
        for path, voice, text in clips:
            r = transcribe(path, engine=eng)
            rows.append(dict(engine=eng, voice=voice, reference=text, hypothesis=r.text,
                             wer=_wer(text, r.text), rtf=r.rtf, load_seconds=load))
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| engine | voice | WER | RTF | hypothesis |", "|---|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['voice']} | {r['wer']:.2f} | {r['rtf']:.3f} | "
                     f"{r['hypothesis']} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="where audio and report go")
    args = p.parse_args()
    t0 = time.perf_counter()
    rows = run(args.out)
    md = table(rows)
    print("\nWhisper tiny.en baseline on synthesized speech (model: whisper-tiny.en)\n")
    print(md)
    elapsed = time.perf_counter() - t0
    report = args.out / "report.md"
    report.write_text(
        "# susurrus demo\n\nWhisper tiny.en on three synthesized sentences, torch engine "
        "(susurrus decoding) and faster-whisper (CTranslate2), same weights.\n\n"
        f"{md}\n\nReferences:\n\n" + "\n".join(f"- {t}" for _, _, t in SENTENCES)
        + f"\n\nTotal time: {elapsed:.0f} s\n")
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"\nreport: {report}  ({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
