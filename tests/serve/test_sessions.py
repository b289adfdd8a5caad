"""Conversation sessions over HTTP: turns in order with the earlier ones as context, owned by a
key, kept on disk (a restarted server, or one that let the session leave memory, goes on the
same), deleted for good. The fake recognizer's text tells how many context words it read."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from susurrus.serve import ServeConfig, create_app
from tests.serve.common import fake_loader, running, tone

KEYS = ("key-a", "key-b")
A, B = ({"Authorization": f"Bearer {k}"} for k in KEYS)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def url(state_dir):
    app = create_app(ServeConfig(models=("fake",), api_keys=KEYS, state_dir=state_dir),
                     fake_loader())
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def turns(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("turns")
    return [tone(d / f"t{i}.wav", 0.5 + 0.25 * i, 200 + 40 * i) for i in range(5)]


def new(url: str, headers=A, **body) -> dict:
    r = httpx.post(f"{url}/v1/sessions", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def send(url: str, sid: str, path: Path, headers=A) -> httpx.Response:
    with open(path, "rb") as f:
        return httpx.post(f"{url}/v1/sessions/{sid}/turns", files={"file": f}, headers=headers,
                          timeout=60)


def test_turns_read_the_earlier_turns_in_order(url, turns):
    s = new(url, model="fake", context="text")
    assert re.fullmatch(r"sess_[0-9a-f]{24}", s["id"])
    assert (s["model"], s["context"], s["turns"]) == ("fake", "text", [])
    out = [send(url, s["id"], p).json() for p in turns[:3]]
    assert [t["turn"] for t in out] == [1, 2, 3] and [t["prior_turns"] for t in out] == [0, 1, 2]
    # each turn's prompt is the earlier turns' text: 0, then 8, then 16 words
    assert [t["text"] for t in out] == ["clip 0.50 part 1 of 1 after 0.",
                                        "clip 0.75 part 1 of 1 after 8.",
                                        "clip 1.00 part 1 of 1 after 16."]
    assert out[2]["context_text_tokens"] == 16 and out[2]["audio_seconds"] == 1.0
    got = httpx.get(f"{url}/v1/sessions/{s['id']}", headers=A).json()
    assert [t["text"] for t in got["turns"]] == [t["text"] for t in out]


def test_concurrent_turns_of_one_session_run_one_at_a_time(url, turns):
    sid = new(url)["id"]
    with ThreadPoolExecutor(4) as pool:
        out = [r.json() for r in pool.map(lambda p: send(url, sid, p), turns[:4])]
    done = sorted(out, key=lambda t: t["turn"])
    assert [t["prior_turns"] for t in done] == [0, 1, 2, 3]
    # each turn read every earlier turn's whole text, and nothing else
    heard = [int(re.search(r"after (\d+)\.$", t["text"])[1]) for t in done]
    assert heard == [sum(len(t["text"].split()) for t in done[:i]) for i in range(4)]


def test_context_none_reads_nothing(url, turns):
    sid = new(url, context="none", max_turns=None)["id"]
    out = [send(url, sid, p).json() for p in turns[:2]]
    assert [t["text"] for t in out][1].endswith("after 0.") and out[1]["prior_turns"] == 0


def test_a_session_belongs_to_its_key(url, turns):
    sid = new(url)["id"]
    assert send(url, sid, turns[0]).status_code == 200
    for r in (httpx.get(f"{url}/v1/sessions/{sid}", headers=B), send(url, sid, turns[1], B),
              httpx.delete(f"{url}/v1/sessions/{sid}", headers=B)):
        assert r.status_code == 404 and r.json()["error"]["param"] == "session_id"
    # the other key learns nothing: the same answer as for an id that never existed
    unknown = httpx.get(f"{url}/v1/sessions/sess_{'0' * 24}", headers=B).json()
    assert httpx.get(f"{url}/v1/sessions/{sid}", headers=B).json()["error"]["message"] == \
        unknown["error"]["message"].replace("0" * 24, sid[5:])
    assert httpx.get(f"{url}/v1/sessions/{sid}").status_code == 401
    assert len(httpx.get(f"{url}/v1/sessions/{sid}", headers=A).json()["turns"]) == 1


def test_a_turn_with_its_known_text_is_kept_as_context_without_decoding(url, turns):
    """A voice agent's own line (or a corrected turn) comes with its transcript: it is kept
    as given, marked known, later turns read it as they read a decoded one, and the session's
    turn list shows it. An empty text is refused naming the field, and adds no turn."""
    sid = new(url, context="text")["id"]
    line = "Thanks for calling Acme, this is Siobhan speaking."
    with open(turns[0], "rb") as f:
        known = httpx.post(f"{url}/v1/sessions/{sid}/turns", files={"file": f},
                           data={"text": line}, headers=A, timeout=60).json()
    assert (known["turn"], known["text"], known["known"]) == (1, line, True)
    assert known["prior_turns"] == 0 and known["audio_seconds"] == 0.5
    heard = send(url, sid, turns[1]).json()
    assert heard["known"] is False and heard["prior_turns"] == 1
    assert heard["text"].endswith(f"after {len(line.split())}.")  # it read the known line
    got = httpx.get(f"{url}/v1/sessions/{sid}", headers=A).json()["turns"]
    assert [(t["text"], t["known"]) for t in got] == [(line, True), (heard["text"], False)]
    with open(turns[2], "rb") as f:
        r = httpx.post(f"{url}/v1/sessions/{sid}/turns", files={"file": f}, data={"text": " "},
                       headers=A, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["param"] == "text", r.text
    assert len(httpx.get(f"{url}/v1/sessions/{sid}", headers=A).json()["turns"]) == 2


def test_delete(url, state_dir, turns):
    sid = new(url)["id"]
    send(url, sid, turns[0])
    assert (state_dir / "sessions" / sid).is_dir()
    r = httpx.delete(f"{url}/v1/sessions/{sid}", headers=A)
    assert r.json() == {"id": sid, "object": "session.deleted", "deleted": True}
    assert not (state_dir / "sessions" / sid).exists()
    assert httpx.get(f"{url}/v1/sessions/{sid}", headers=A).status_code == 404
    assert send(url, sid, turns[1]).status_code == 404


@pytest.mark.parametrize("body, status, param", [
    ({"context": "abstract"}, 400, "context"),  # the fake reads text only
    ({"context": "sideways"}, 400, "context"),
    ({"max_turns": -1}, 400, "max_turns"),
    ({"contxt": "text"}, 400, "contxt"),
    ({"model": "nope"}, 404, "model"),
])
def test_bad_sessions_are_refused_naming_the_field(url, body, status, param):
    r = httpx.post(f"{url}/v1/sessions", json=body, headers=A)
    assert r.status_code == status and r.json()["error"]["param"] == param, r.text


def test_ids_that_are_no_session_ids_are_404(url):
    for sid in ("..", "sess_..%2F..", "sess_xyz"):
        assert httpx.get(f"{url}/v1/sessions/{sid}", headers=A).status_code == 404


def test_a_restarted_or_idle_server_goes_on_from_disk(tmp_path, url, turns):
    """The same turns through one server, and through servers that keep nothing in memory
    (idle 0 s) and are restarted between turns, give the same turns."""
    sid = new(url)["id"]
    straight = [send(url, sid, p).json() for p in turns]
    config = ServeConfig(models=("fake",), api_keys=KEYS, state_dir=tmp_path,
                         session_idle_s=0.0)
    with running(create_app(config, fake_loader())) as u:
        other = new(u)["id"]
        resumed = [send(u, other, p).json() for p in turns[:3]]
        assert httpx.get(f"{u}/metrics").text.count("susurrus_sessions_in_memory 0") == 1
    with running(create_app(config, fake_loader())) as u:  # a new process would see the same
        assert len(httpx.get(f"{u}/v1/sessions/{other}", headers=A).json()["turns"]) == 3
        resumed += [send(u, other, p).json() for p in turns[3:]]
    strip = [{k: v for k, v in t.items() if k not in ("id", "seconds", "created")}
             for t in straight]
    assert [{k: v for k, v in t.items() if k not in ("id", "seconds", "created")}
            for t in resumed] == strip
