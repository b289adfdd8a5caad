"""The OpenAI transcription contract, end to end: the real `openai` client against a real uvicorn
server, with fake recognizers whose text says what they were given (tests/serve/conftest.py)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from susurrus.serve import ServeConfig, create_app
from tests.serve.common import ClipEngine, fake_loader, openai_client, running

KEYS = ("key-a", "key-b")


class Broken:
    """A recognizer with a bug: the server must answer 500 in OpenAI's shape, no traceback."""

    name, model_name, kind = "fake", "fake-broken", "a broken recognizer"

    @property
    def capabilities(self):
        from susurrus.infer.recognizer import Capabilities

        return Capabilities()

    def recognize(self, audio, prompt=None, on_progress=None):
        raise RuntimeError("secret internal detail")


@pytest.fixture(scope="module")
def engine() -> ClipEngine:
    return ClipEngine()


@pytest.fixture(scope="module")
def server(tmp_path_factory, engine):
    load = fake_loader(engine)
    config = ServeConfig(models=("fake", "fake-duo", "fake-broken"), api_keys=KEYS,
                         state_dir=tmp_path_factory.mktemp("state"), batch_wait_s=0.05)
    app = create_app(config, lambda n: Broken() if n == "fake-broken" else load(n))
    with running(app) as url:
        yield url, app.state.serve


@pytest.fixture(scope="module")
def client(server):
    return openai_client(server[0], KEYS[0])


def create(client, path: Path, **kwargs):
    with open(path, "rb") as f:
        return client.audio.transcriptions.create(model=kwargs.pop("model", "fake"), file=f,
                                                  **kwargs)


def expect_error(status: int, param: str | None, call) -> dict:
    """`call` fails with `status`; the body is OpenAI's error shape, naming `param`."""
    with pytest.raises(openai.APIStatusError) as e:
        call()
    assert e.value.status_code == status, e.value
    body = e.value.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["param"] == param and body["error"]["message"]
    assert "Traceback" not in e.value.response.text
    return body["error"]


# -- every response format ------------------------------------------------------------------------
def test_json_and_text(client, clips):
    r = create(client, clips["short"])
    assert r.text == "clip 1.50 part 1 of 2 after 0. clip 1.50 part 2 of 2 after 0."
    assert r.usage.seconds == 2  # OpenAI bills whole seconds, rounded up
    assert create(client, clips["short"], response_format="text") == r.text + "\n"


def test_srt_and_vtt_carry_segment_times(client, clips):
    srt = create(client, clips["long"], response_format="srt")
    assert srt.splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:01,000",
                                    "clip 2.50 part 1 of 3 after 0."]
    assert "3\n00:00:02,000 --> 00:00:02,500\nclip 2.50 part 3 of 3 after 0." in srt
    vtt = create(client, clips["long"], response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nclip 2.50 part 1 of 3")


def test_verbose_json_has_segments_with_times(client, clips):
    r = create(client, clips["long"], response_format="verbose_json",
               timestamp_granularities=["segment", "word"])
    assert r.duration == pytest.approx(2.5) and r.language == "english"
    assert [(s.id, s.start, s.end) for s in r.segments] == [(0, 0.0, 1.0), (1, 1.0, 2.0),
                                                            (2, 2.0, 2.5)]
    assert r.text == "".join(s.text for s in r.segments).strip()
    assert r.words is None  # no served model times words; left out rather than invented


def test_stream_sends_deltas_then_done(client, clips):
    with open(clips["long"], "rb") as f:
        events = list(client.audio.transcriptions.create(model="fake", file=f, stream=True))
    assert [e.type for e in events] == ["transcript.text.delta"] * 3 + ["transcript.text.done"]
    assert "".join(e.delta for e in events[:-1]).strip() == events[-1].text
    assert events[-1].text == create(client, clips["long"]).text


def test_prompt_reaches_the_decoder(client, clips, engine):
    r = create(client, clips["short"], prompt="Siobhan and Reykjavik, please")
    assert r.text.endswith("after 4.")
    assert "Siobhan and Reykjavik, please" in engine.prompts


def test_silence_is_empty_text_not_an_error(client, clips):
    r = create(client, clips["silence"], response_format="verbose_json")
    assert r.text == "" and r.segments == [] and r.duration == pytest.approx(2.0)


def test_whisper_1_means_the_first_model(client, clips):
    assert create(client, clips["short"], model="whisper-1").text.startswith("clip 1.50")


def test_a_multi_talker_model_adds_its_streams(server, clips):
    with open(clips["long"], "rb") as f:
        r = httpx.post(f"{server[0]}/v1/audio/transcriptions",
                       headers={"Authorization": f"Bearer {KEYS[0]}"},
                       files={"file": f}, data={"model": "fake-duo",
                                                "response_format": "verbose_json"})
    body = r.json()
    assert [(t["speaker"], t["text"]) for t in body["talkers"]] == [("A", "hello from A"),
                                                                   ("B", "and B here")]
    assert body["talkers"][1]["segments"][0]["start"] == pytest.approx(0.625)
    assert body["text"] == "hello from A and B here"


def test_models(client):
    assert [m.id for m in client.models.list().data] == ["fake", "fake-duo", "fake-broken"]
    m = client.models.retrieve("fake-duo")
    assert (m.id, m.object, m.owned_by) == ("fake-duo", "model", "susurrus")
    assert expect_error(404, "model", lambda: client.models.retrieve("nope"))["code"] == \
        "model_not_found"


# -- errors, in OpenAI's shape --------------------------------------------------------------------
def test_401_without_or_with_a_wrong_key(server, clips):
    url = server[0]
    err = expect_error(401, None, lambda: create(openai_client(url, "wrong"), clips["short"]))
    assert err["code"] == "invalid_api_key"
    r = httpx.get(f"{url}/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{url}/health").status_code == 200  # outside /v1: no key needed


def test_404_for_an_unknown_model(client, clips):
    err = expect_error(404, "model", lambda: create(client, clips["short"], model="whisper-9"))
    assert "fake, fake-duo" in err["message"]


def test_413_for_a_body_over_25_mb(server):
    url, big = server[0], b"\0" * (25 * 2**20 + 1)
    headers = {"Authorization": f"Bearer {KEYS[0]}"}
    by_length = httpx.post(f"{url}/v1/audio/transcriptions", headers=headers,
                           files={"file": ("big.wav", big)})
    # the same body sent chunked, without a Content-Length: cut off while it is read
    form = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
            + big + b"\r\n--b--\r\n")
    chunked = httpx.post(f"{url}/v1/audio/transcriptions",
                         headers=headers | {"Content-Type": "multipart/form-data; boundary=b"},
                         content=(form[i:i + 2**20] for i in range(0, len(form), 2**20)))
    for r in (by_length, chunked):
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "request_too_large"


def test_415_for_undecodable_audio(client, clips):
    err = expect_error(415, "file", lambda: create(client, clips["bad"]))
    assert "not-audio.wav" in err["message"] and err["code"] == "invalid_audio"


@pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated")  # openai, on 'docx'
@pytest.mark.parametrize("kwargs, param", [
    ({"response_format": "docx"}, "response_format"),
    ({"language": "fr"}, "language"),
    ({"temperature": 1.5}, "temperature"),
    ({"temperature": 0.4}, "temperature"),
    ({"timestamp_granularities": ["segment"]}, "timestamp_granularities"),
    ({"timestamp_granularities": ["phoneme"], "response_format": "verbose_json"},
     "timestamp_granularities"),
    ({"model": "fake-duo", "prompt": "names"}, "prompt"),
])
def test_400_names_the_field(client, clips, kwargs, param):
    expect_error(400, param, lambda: create(client, clips["short"], **kwargs))


def test_400_for_a_missing_file(server):
    r = httpx.post(f"{server[0]}/v1/audio/transcriptions", data={"model": "fake"},
                   headers={"Authorization": f"Bearer {KEYS[0]}"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"


def test_a_bug_is_500_without_its_traceback(client, clips):
    err = expect_error(500, None, lambda: create(client, clips["short"], model="fake-broken"))
    assert "secret internal detail" not in err["message"] and err["type"] == "server_error"


# -- under load -----------------------------------------------------------------------------------
def test_waiting_requests_decode_as_one_batch(server, clips):
    recognizer = server[1].workers["fake"].recognizer
    client = openai_client(server[0], KEYS[1])
    gate = threading.Event()
    recognizer.engine.gate = gate  # hold the first decode while the others queue up
    before = len(recognizer.batches)
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(create, client, clips["short"])]
            while len(recognizer.batches) == before:  # the first decode started, held
                threading.Event().wait(0.01)
            futures += [pool.submit(create, client, clips["short"]) for _ in range(7)]
            while server[1].workers["fake"].depth < 7:
                threading.Event().wait(0.01)
            gate.set()
            texts = [f.result().text for f in futures]
    finally:
        recognizer.engine.gate = None
    assert len(set(texts)) == 1 and texts[0].startswith("clip 1.50")
    assert sorted(len(b) for b in recognizer.batches[before:]) == [1, 7]


def test_metrics_in_prometheus_text(server, client, clips):
    create(client, clips["short"])
    text = httpx.get(f"{server[0]}/metrics").text
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert int(lines['susurrus_requests_total{route="/v1/audio/transcriptions",status="200"}']) > 1
    assert 'susurrus_request_seconds_bucket{route="/v1/audio/transcriptions",le="+Inf"}' in lines
    assert float(lines['susurrus_audio_seconds_total{model="fake"}']) >= 1.5
    assert lines['susurrus_queue_depth{model="fake"}'] == "0"
    assert "# TYPE susurrus_request_seconds histogram" in text


def test_a_full_queue_is_429_with_retry_after(tmp_path, clips):
    engine = ClipEngine(gate=threading.Event())
    app = create_app(ServeConfig(models=("fake",), state_dir=tmp_path, max_queue=1,
                                 max_batch=1), fake_loader(engine))
    with running(app) as url:
        client = openai_client(url)
        worker = app.state.serve.workers["fake"]
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(create, client, clips["short"])  # taken: held at the gate
            while not worker.recognizer.batches:
                threading.Event().wait(0.01)
            second = pool.submit(create, client, clips["short"])  # waits in the queue
            while worker.depth < 1:
                threading.Event().wait(0.01)
            with pytest.raises(openai.RateLimitError) as e:
                create(client, clips["short"])
            engine.gate.set()
            assert first.result().text == second.result().text
    assert e.value.response.headers["retry-after"] == "1"
    assert e.value.response.json()["error"]["code"] == "queue_full"


def test_health_is_503_while_loading_then_200(tmp_path, clips):
    loaded = threading.Event()
    load = fake_loader()

    def slow(name):
        assert loaded.wait(30)
        return load(name)

    app = create_app(ServeConfig(models=("fake",), state_dir=tmp_path), slow)
    with running(app, wait_ready=False) as url:
        r = httpx.get(f"{url}/health")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        err = expect_error(503, None, lambda: create(openai_client(url), clips["short"]))
        assert err["code"] == "model_loading"
        loaded.set()
        for _ in range(200):
            if (r := httpx.get(f"{url}/health")).status_code == 200:
                break
            threading.Event().wait(0.02)
        assert r.status_code == 200 and json.loads(r.text)["models"] == ["fake"]
        assert create(openai_client(url), clips["short"]).text.startswith("clip 1.50")
