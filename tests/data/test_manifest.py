"""The JSONL interchange manifest: round trips, and errors that name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from susurrus.data.manifest import (
    ManifestError,
    Talker,
    Utterance,
    check_manifest_path,
    group_sessions,
    read_manifest,
    write_manifest,
)
from susurrus.errors import BadManifestError


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ok(i: int, **extra) -> str:
    return json.dumps({"id": f"u{i}", "audio": f"a{i}.wav", "text": f"Turn {i}."} | extra)


# ------------------------------------------------------------------------------- round trips


def test_round_trip_keeps_every_field_and_unknown_keys(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "wav").mkdir(parents=True)
    outside = (tmp_path / "elsewhere" / "far.wav").resolve()
    outside.parent.mkdir()
    for p in (folder / "wav" / "s1.wav", outside):
        p.write_bytes(b"x")
    utts = [
        Utterance("s1-t0", folder / "wav" / "s1.wav", "Hi, Siobhan.", start=1.25, duration=2.5,
                  session="s1", turn=0, speaker="A", entities=("Siobhan",),
                  meta={"voice": "joe", "split": "test", "nested": {"k": [1, 2]}}),
        Utterance("s1-t1", outside, "Hello.", session="s1", turn=1, speaker="B"),
        Utterance("mix0", folder / "wav" / "s1.wav", duration=3.0, talkers=(
            Talker("joe", 0.0, "Good morning."), Talker("ann", 0.8, "Hello there.", 1.5))),
    ]
    path = write_manifest(utts, folder / "m.jsonl")

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["audio"] == "wav/s1.wav"  # relative to the manifest's folder
    assert lines[1]["audio"] == str(outside.resolve())  # outside it: absolute
    assert lines[0]["voice"] == "joe"  # meta written back as top-level keys
    assert "text" not in lines[2] and "start" not in lines[1]

    back = read_manifest(path)
    assert back == utts  # dataclass equality: every field but meta
    assert [u.meta for u in back] == [u.meta for u in utts]
    assert back[0].audio.resolve() == (folder / "wav" / "s1.wav").resolve()
    assert back[1].audio == outside.resolve()
    assert back[2].is_mixture and back[2].talkers[1] == Talker("ann", 0.8, "Hello there.", 1.5)
    assert back[2].reference == "Good morning. Hello there."


def test_audio_is_resolved_against_the_manifest_folder_not_the_cwd(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a0.wav").write_bytes(b"x")
    _write_lines(folder / "m.jsonl", [_ok(0), json.dumps(
        {"id": "abs", "audio": str(folder / "a0.wav"), "text": ""})])
    monkeypatch.chdir(tmp_path)
    relative, absolute = read_manifest(Path("data") / "m.jsonl")
    assert relative.audio.resolve() == (folder / "a0.wav").resolve()
    assert absolute.audio == folder / "a0.wav"


def test_unknown_keys_are_kept_in_meta_not_dropped(tmp_path):
    _write_lines(tmp_path / "m.jsonl", [_ok(0, voice="kal", domain="news", split=None)])
    (u,) = read_manifest(tmp_path / "m.jsonl", check_audio=False)
    assert u.meta == {"voice": "kal", "domain": "news", "split": None}
    assert u.to_json(tmp_path)["domain"] == "news"


def test_blank_lines_are_skipped_and_line_numbers_still_count_them(tmp_path):
    path = _write_lines(tmp_path / "m.jsonl", [_ok(0), "", "   ", _ok(1), "", '{"id": "x"}'])
    with pytest.raises(ManifestError) as e:
        read_manifest(path, check_audio=False)
    assert e.value.line == 6
    _write_lines(path, ["", _ok(0), "  ", _ok(1), ""])
    assert [u.id for u in read_manifest(path, check_audio=False)] == ["u0", "u1"]


# ------------------------------------------------------------------------------- errors


BAD_LINES = [  # (line, field, words the message must have)
    ('{"id": "u9", "audio": "a.wav", "text": "x"', "<line>", "not valid JSON"),
    ('["u9", "a.wav"]', "<line>", "JSON object"),
    ('{"audio": "a.wav", "text": "x"}', "id", "required"),
    ('{"id": "", "audio": "a.wav", "text": "x"}', "id", "required"),
    ('{"id": "u9", "text": "x"}', "audio", "required"),
    ('{"id": "u9", "audio": 3, "text": "x"}', "audio", "required"),
    ('{"id": "u9", "audio": "a.wav"}', "text", "required"),
    ('{"id": "u9", "audio": "a.wav", "text": 5}', "text", "string"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "start": "1.0"}', "start", "number"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "start": true}', "start", "number"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "start": -0.5}', "start", ">= 0"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "duration": -1}', "duration", "> 0"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "duration": 0}', "duration", "> 0"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "duration": NaN}', "duration", "finite"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "turn": 1.5}', "turn", "integer"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "turn": "2"}', "turn", "integer"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "entities": "Paris"}', "entities", "list"),
    ('{"id": "u9", "audio": "a.wav", "text": "x", "entities": ["Paris", 3]}', "entities",
     "list of strings"),
    ('{"id": "u9", "audio": "a.wav", "talkers": 5}', "talkers", "list"),
    ('{"id": "u9", "audio": "a.wav", "talkers": ["joe"]}', "talkers[0]", "needs"),
    ('{"id": "u9", "audio": "a.wav", "talkers": [{"speaker": "a", "offset": 0, "text": "x"},'
     ' {"speaker": "b", "offset": 1}]}', "talkers[1]", "text"),
    ('{"id": "u9", "audio": "a.wav", "talkers": [{"speaker": "a", "offset": "x", "text": "y"}]}',
     "talkers[0].offset", "number"),
    ('{"id": "u9", "audio": "a.wav", "talkers": [{"speaker": "a", "offset": 0, "text": "y",'
     ' "duration": 0}]}', "talkers[0].duration", "> 0"),
]


@pytest.mark.parametrize(("line", "field", "words"), BAD_LINES,
                         ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_LINES)])
def test_malformed_line_names_file_line_and_field(tmp_path, line, field, words):
    path = _write_lines(tmp_path / "bad.jsonl", [_ok(0), _ok(1), line, _ok(3)])
    with pytest.raises(ManifestError) as e:
        read_manifest(path, check_audio=False)
    assert (e.value.path, e.value.line, e.value.field) == (str(path), 3, field)
    msg = str(e.value)
    assert msg.startswith(f"{path}:3: field '{field}'") and words in msg


def test_duplicate_id_names_the_earlier_line(tmp_path):
    path = _write_lines(tmp_path / "m.jsonl", [_ok(0), _ok(1), "", _ok(1, text="again")])
    with pytest.raises(ManifestError) as e:
        read_manifest(path, check_audio=False)
    assert (e.value.line, e.value.field) == (4, "id")
    assert "'u1' repeats line 2" in str(e.value)


def test_missing_audio_fails_only_when_checked(tmp_path):
    (tmp_path / "a0.wav").write_bytes(b"x")
    path = _write_lines(tmp_path / "m.jsonl", [_ok(0), _ok(1)])
    with pytest.raises(ManifestError) as e:
        read_manifest(path)
    assert (e.value.line, e.value.field) == (2, "audio")
    assert "a1.wav does not exist" in str(e.value)
    assert len(read_manifest(path, check_audio=False)) == 2


def test_missing_manifest_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl") as e:
        read_manifest(tmp_path / "nope.jsonl")
    assert isinstance(e.value, BadManifestError)  # a user error: one line in the CLI


def test_a_folder_is_not_a_manifest_and_its_manifests_are_named(tmp_path):
    with pytest.raises(BadManifestError, match=r"is a folder, not a manifest; give"):
        read_manifest(tmp_path)
    _write_lines(tmp_path / "test.jsonl", [_ok(0)])
    (tmp_path / "cuts_test.jsonl.gz").write_bytes(b"")
    with pytest.raises(BadManifestError) as e:
        check_manifest_path(tmp_path)
    assert f"{tmp_path} is a folder, not a manifest (it holds cuts_test.jsonl.gz, test.jsonl)" \
        in str(e.value)


@pytest.mark.parametrize(("name", "head"), [("take.wav", b"RIFF\0\0\0\0WAVE"),
                                            ("take.FLAC", b"anything"),
                                            ("take.jsonl", b"RIFF\0\0\0\0WAVE"),
                                            ("take.dat", b"fLaC\0\0\0\x22")])
def test_an_audio_file_is_not_a_manifest_by_name_or_by_content(tmp_path, name, head):
    path = tmp_path / name
    path.write_bytes(head + bytes(64))
    with pytest.raises(BadManifestError, match="is an audio file, not a manifest: transcribe"):
        read_manifest(path)


def test_a_line_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes((_ok(0) + "\n").encode() + b'{"id": "\xff\xfe"}\n')
    with pytest.raises(ManifestError, match=r"m.jsonl:2: field '<line>': not UTF-8 text"):
        read_manifest(path, check_audio=False)


# ------------------------------------------------------------------------------- sessions


def test_group_sessions_orders_turns_and_keeps_sessions_apart():
    def u(id_: str, session: str | None, turn: int | None, start: float = 0.0) -> Utterance:
        return Utterance(id_, Path("x.wav"), session=session, turn=turn, start=start)

    utts = [u("b2", "b", 2), u("a1", "a", 1), u("solo", None, None), u("b0", "b", 0),
            u("a0", "a", 0), u("b1", "b", 1)]
    groups = group_sessions(utts)
    assert list(groups) == ["b", "a", "solo"]  # sessions in order of first appearance
    assert [x.id for x in groups["b"]] == ["b0", "b1", "b2"]
    assert [x.id for x in groups["a"]] == ["a0", "a1"]
    assert [x.id for x in groups["solo"]] == ["solo"]
    # without turns, the start time orders them
    later, earlier = u("late", "c", None, 9.0), u("early", "c", None, 1.0)
    assert [x.id for x in group_sessions([later, earlier])["c"]] == ["early", "late"]
