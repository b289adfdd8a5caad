"""The cache builds a folder once, atomically, and refuses folders that fail their checksums."""

from __future__ import annotations

import pytest

from susurrus.pretrained.cache import CHECKSUMS, CacheCorruptError, build_once, verify


def _writer(calls: list[int]):
    def build(tmp):
        calls.append(1)
        (tmp / "weights.bin").write_bytes(b"\x01\x02" * 1000)
        (tmp / "config.json").write_text("{}")

    return build


def test_builds_once_then_reuses(tmp_path):
    calls: list[int] = []
    folder = tmp_path / "models" / "m"
    assert build_once(folder, _writer(calls)) == folder
    assert build_once(folder, _writer(calls)) == folder
    assert len(calls) == 1
    assert (folder / CHECKSUMS).is_file()


def test_interrupted_build_leaves_nothing_that_loads(tmp_path):
    folder = tmp_path / "models" / "m"

    def crash(tmp):
        (tmp / "weights.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_once(folder, crash)
    assert not folder.exists()
    assert [p.name for p in folder.parent.iterdir() if not p.name.endswith(".lock")] == []
    calls: list[int] = []
    build_once(folder, _writer(calls))  # the next call builds it properly
    assert calls == [1]
    verify(folder)


def test_corrupted_file_is_refused_with_the_fix(tmp_path):
    folder = tmp_path / "models" / "m"
    build_once(folder, _writer([]))
    (folder / "weights.bin").write_bytes(b"tampered")
    with pytest.raises(CacheCorruptError, match="delete"):
        build_once(folder, _writer([]))
    (folder / "weights.bin").unlink()
    with pytest.raises(CacheCorruptError, match="weights.bin"):
        verify(folder)
