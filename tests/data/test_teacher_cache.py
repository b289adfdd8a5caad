"""The teacher cache: write shards, read every chunk back."""

from __future__ import annotations

import numpy as np
import pytest

from susurrus.data.teacher_cache import (
    BadTeacherCacheError,
    TeacherCache,
    TeacherChunk,
    write_teacher_shard,
)
from susurrus.errors import UserError


def _chunk(cid: str, m: int, k: int = 4, h: int = 8, seed: int = 0) -> TeacherChunk:
    rng = np.random.default_rng(seed)
    probs = -np.sort(-rng.dirichlet(np.ones(50), size=m), axis=1)[:, :k]
    starts = np.cumsum(rng.integers(1, 4, size=m))
    return TeacherChunk(id=cid, text=f"Rzeszów {cid}: 12.9% — don't",
                        ids=rng.integers(0, 49152, size=(m, k)).astype(np.int32),
                        probs=probs.astype(np.float32),
                        spans=np.stack([starts, starts + 2], axis=1).astype(np.int32),
                        context=rng.normal(size=h).astype(np.float32))


def test_round_trip_over_two_shards(tmp_path):
    first = [_chunk("a-s000", 5, seed=1), _chunk("a-s001", 1, seed=2), _chunk("a-s002", 9, seed=3)]
    second = [_chunk("b-s000", 3, seed=4)]
    write_teacher_shard(tmp_path / "shard-000.safetensors", first, "smollm2-135m-instruct")
    write_teacher_shard(tmp_path / "shard-001.safetensors", second, "smollm2-135m-instruct")
    cache = TeacherCache.open(tmp_path)
    assert len(cache) == 4 and cache.ids == ["a-s000", "a-s001", "a-s002", "b-s000"]
    assert cache.teacher == "smollm2-135m-instruct" and cache.top_k == 4 and "b-s000" in cache
    for want in first + second:
        got = cache[want.id]
        assert got.text == want.text
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.spans, want.spans)
        np.testing.assert_allclose(got.probs, want.probs, rtol=1e-3, atol=1e-4)  # float16
        np.testing.assert_allclose(got.context, want.context, rtol=1e-3, atol=1e-3)
        assert got.probs.dtype == np.float32 and got.ids.dtype == np.int32
    assert not list(tmp_path.glob("*.partial"))


def test_bad_shards_are_refused_with_the_file_named(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a shard")
    with pytest.raises(BadTeacherCacheError, match="junk.safetensors") as e:
        TeacherCache.open(tmp_path)
    assert isinstance(e.value, UserError)
    (tmp_path / "junk.safetensors").unlink()
    with pytest.raises(BadTeacherCacheError, match="no teacher cache shards"):
        TeacherCache.open(tmp_path)
    write_teacher_shard(tmp_path / "a.safetensors", [_chunk("x", 2)], "t1")
    write_teacher_shard(tmp_path / "b.safetensors", [_chunk("x", 2)], "t1")
    with pytest.raises(BadTeacherCacheError, match="chunk x is also in"):
        TeacherCache.open(tmp_path)
    write_teacher_shard(tmp_path / "b.safetensors", [_chunk("y", 2, k=3)], "t1")
    with pytest.raises(BadTeacherCacheError, match="K=3"):
        TeacherCache.open(tmp_path)
    write_teacher_shard(tmp_path / "b.safetensors", [_chunk("y", 2)], "t1")
    with pytest.raises(KeyError, match="'z' is not in the teacher cache"):
        TeacherCache.open(tmp_path)["z"]


def test_inconsistent_chunks_are_refused(tmp_path):
    with pytest.raises(ValueError, match="differ in K or H"):
        write_teacher_shard(tmp_path / "s.safetensors", [_chunk("a", 2), _chunk("b", 2, h=4)], "t")
    with pytest.raises(ValueError, match="repeat"):
        write_teacher_shard(tmp_path / "s.safetensors", [_chunk("a", 2), _chunk("a", 3)], "t")
    c = _chunk("a", 3)
    with pytest.raises(ValueError, match="spans must be"):
        TeacherChunk(c.id, c.text, c.ids, c.probs, c.spans[:2], c.context)
