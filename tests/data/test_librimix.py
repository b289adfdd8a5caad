"""Real LibriMix through lhotse's recipe, on a fake LibriSpeech + WHAM! + metadata folder."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from susurrus.data.lhotse_io import load_utterances
from susurrus.data.librimix import LibriMixError, prepare_librimix
from susurrus.data.manifest import ManifestError, read_manifest
from susurrus.losses.serialized_ctc import TalkerRef, onset_order

SR = 16_000
# speaker, chapter -> (seconds, text) of each utterance
LIBRI = {("1089", "134686"): [(2.0, "HE HOPED THERE WOULD BE STEW"), (1.5, "STUFF IT INTO YOU")],
         ("121", "121726"): [(3.0, "ALSO A POPULAR CONTRIVANCE"), (1.0, "HAY FEVER")],
         ("2300", "131720"): [(2.5, "THE PARIS PAPERS")]}
ROWS2 = [("1089-134686-0000_121-121726-0000", "1089/134686/1089-134686-0000", 0.8,
          "121/121726/121-121726-0000", 1.2),
         ("2300-131720-0000_1089-134686-0001", "2300/131720/2300-131720-0000", 1.0,
          "1089/134686/1089-134686-0001", 0.5)]


def _write(path: Path, seconds: float, seed: int, channels: int = 1, scale: float = 0.1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (round(seconds * SR), channels) if channels > 1 else round(seconds * SR)
    sf.write(path, (np.random.default_rng(seed).standard_normal(shape) * scale)
             .astype(np.float32), SR)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("librimix")
    seed = 0
    for (spk, chapter), utts in LIBRI.items():
        folder = root / "LibriSpeech" / "test-clean" / spk / chapter
        lines = []
        for i, (seconds, text) in enumerate(utts):
            uid = f"{spk}-{chapter}-{i:04d}"
            _write(folder / f"{uid}.flac", seconds, seed := seed + 1)
            lines.append(f"{uid} {text}")
        (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    for split in ("tr", "cv", "tt"):  # WHAM! noise is stereo; a short one is extended
        _write(root / "wham_noise" / split / f"n-{split}.wav", 2.0, seed := seed + 1, channels=2,
               scale=0.02)
    header = ["mixture_ID"]
    for meta, n, rows in (("Libri2Mix", 2, ROWS2),
                          ("Libri3Mix", 3, [(ROWS2[0][0] + "_x", *ROWS2[0][1:],
                                             "2300/131720/2300-131720-0000", 0.9)])):
        folder = root / "metadata" / meta
        folder.mkdir(parents=True)
        header = ["mixture_ID"] + [f"source_{k}_{f}" for k in range(1, n + 1)
                                   for f in ("path", "gain")] + ["noise_path", "noise_gain"]
        with open(folder / f"libri{n}mix_test-clean.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for mid, *sources in rows:
                cells = [mid]
                for path, gain in zip(sources[::2], sources[1::2], strict=True):
                    cells += [f"test-clean/{path}.flac", gain]
                w.writerow([*cells, "tt/n-tt.wav", 0.3])
        (folder / f"libri{n}mix_test-clean_info.csv").write_text("not,a,mixture\n")
    return {"librispeech": root / "LibriSpeech", "wham": root / "wham_noise",
            "metadata": root / "metadata"}


@pytest.fixture(scope="module")
def libri2mix(folders, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("libri2mix-out")
    prepare_librimix(**folders, out=out, mix=("clean", "noisy"), log=lambda _: None)
    return out


def test_libri2mix_mixtures_have_both_talkers_from_librispeech(libri2mix):
    clean = {u.id: u for u in read_manifest(libri2mix / "test-clean.jsonl")}
    assert set(clean) == {row[0] for row in ROWS2}
    first = clean[ROWS2[0][0]]
    assert first.is_mixture
    talkers = {t.speaker: t for t in first.talkers}
    assert set(talkers) == {"1089", "121"}
    assert talkers["1089"].text == "HE HOPED THERE WOULD BE STEW"
    assert talkers["121"].text == "ALSO A POPULAR CONTRIVANCE"
    assert all(t.offset == 0.0 for t in first.talkers)  # LibriMix: every talker starts at 0 s
    assert talkers["1089"].duration == pytest.approx(2.0)
    # `max` mode: the mixture lasts as long as its longest talker; the audio file is exactly that
    assert first.duration == pytest.approx(3.0)
    assert sf.info(first.audio).frames == 3 * SR and sf.info(first.audio).samplerate == SR
    # Serialized CTC's order: both start in the same frame, so the longer talker is first
    order = onset_order([TalkerRef(t.offset, t.text, t.duration) for t in first.talkers])
    assert [first.talkers[i].speaker for i in order] == ["121", "1089"]


def test_rendered_audio_is_lhotses_mix(libri2mix):
    from lhotse import load_manifest

    for name, split in (("libri2mix_test-clean", "test-clean"),
                        ("libri2mix_test-clean_noisy", "test-clean-noisy")):
        cuts = load_manifest(libri2mix / "lhotse" / "cuts" / f"librimix_cutset_{name}.jsonl.gz")
        rendered = {u.id: u.audio for u in read_manifest(libri2mix / f"{split}.jsonl")}
        for cut in cuts:
            ours, sr = sf.read(rendered[cut.id], dtype="float32")
            assert sr == SR
            np.testing.assert_allclose(ours, cut.load_audio()[0], atol=1 / 2**15 + 1e-6)
    clean = sf.read(rendered_path(libri2mix, "test-clean"))[0]
    noisy = sf.read(rendered_path(libri2mix, "test-clean-noisy"))[0]
    assert not np.allclose(clean, noisy)  # the noisy split has WHAM! noise added


def rendered_path(out: Path, split: str) -> Path:
    return read_manifest(out / f"{split}.jsonl")[0].audio


def test_a_second_run_keeps_what_the_first_rendered(folders, libri2mix):
    before = {p: p.stat().st_mtime_ns for p in (libri2mix / "audio").rglob("*.flac")}
    lines = []
    prepare_librimix(**folders, out=libri2mix, mix=("clean", "noisy"), log=lines.append)
    after = {p: p.stat().st_mtime_ns for p in (libri2mix / "audio").rglob("*.flac")}
    assert after == before and len(before) == 4
    assert not any("LibriSpeech" in line for line in lines)  # its manifests were kept too


def test_libri3mix_has_three_talkers(folders, tmp_path):
    manifests = prepare_librimix(**folders, out=tmp_path, talkers=3, log=lambda _: None)
    [mixture] = read_manifest(manifests["test-clean"])
    assert sorted(t.speaker for t in mixture.talkers) == ["1089", "121", "2300"]


def test_the_mixed_cuts_themselves_are_refused_with_the_command_that_renders_them(libri2mix):
    cuts = libri2mix / "lhotse" / "cuts" / "librimix_cutset_libri2mix_test-clean.jsonl.gz"
    with pytest.raises(ManifestError, match="MixedCut.*susurrus prepare cuts"):
        load_utterances(cuts)


def test_prepare_cuts_command_renders_a_cutset(libri2mix, tmp_path, capsys):
    from susurrus.cli.main import main

    cuts = libri2mix / "lhotse" / "cuts" / "librimix_cutset_libri2mix_test-clean.jsonl.gz"
    assert main(["prepare", "cuts", str(cuts), "--out", str(tmp_path), "--split", "mix",
                 "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"mix\t{tmp_path / 'mix.jsonl'}")
    utts = load_utterances(tmp_path / "mix.jsonl")
    assert len(utts) == 2 and all(u.is_mixture and len(u.talkers) == 2 for u in utts)


@pytest.mark.parametrize("change, message", [
    ({"parts": ("dev-clean",)}, "dev-clean not in the metadata; it has test-clean"),
    ({"metadata": Path("/nonexistent")}, "no LibriMix metadata"),
    ({"talkers": 4}, "2 or 3 talkers"),
    ({"mix": ("both",)}, "choose from clean, noisy"),
])
def test_bad_inputs_name_what_to_fix(folders, tmp_path, change, message):
    with pytest.raises(LibriMixError, match=message):
        prepare_librimix(**{**folders, **change}, out=tmp_path, log=lambda _: None)
    assert not (tmp_path / "lhotse").exists()


def test_a_missing_wham_split_is_named(folders, tmp_path):
    import shutil

    wham = tmp_path / "wham"
    shutil.copytree(folders["wham"], wham)
    shutil.rmtree(wham / "cv")
    with pytest.raises(LibriMixError, match=r"wham/cv: missing"):
        prepare_librimix(**{**folders, "wham": wham}, out=tmp_path / "out", log=lambda _: None)


def test_the_cli_needs_the_three_folders(capsys, tmp_path):
    from susurrus.cli.main import main

    assert main(["prepare", "librimix", "--out", str(tmp_path)]) == 2
    assert "--librispeech, --wham, --metadata" in capsys.readouterr().err


def test_cuts_that_would_share_a_file_are_refused(libri2mix, tmp_path):
    from lhotse import load_manifest

    from susurrus.data.render_cuts import RenderError, render_cuts

    cuts = list(load_manifest(
        libri2mix / "lhotse" / "cuts" / "librimix_cutset_libri2mix_test-clean.jsonl.gz"))
    cuts[0].id, cuts[1].id = "a/b", "a b"
    with pytest.raises(RenderError, match="'a b'.*a_b.flac"):
        render_cuts(cuts, tmp_path, "x")


def test_prepare_cuts_refuses_a_file_that_is_no_cutset(libri2mix, tmp_path, capsys):
    from susurrus.cli.main import main

    wham = libri2mix / "lhotse" / "wham" / "wham_recordings_tt.jsonl.gz"  # no supervisions
    assert main(["prepare", "cuts", str(wham), "--out", str(tmp_path), "--quiet"]) == 2
    assert "needs its SupervisionSet beside it" in capsys.readouterr().err
    assert not (tmp_path / "audio").exists()
