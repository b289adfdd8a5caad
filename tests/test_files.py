from pathlib import Path

from susurrus.files import write_text_atomic


def test_write_text_atomic_makes_the_folder_replaces_the_file_and_leaves_no_partial(
        tmp_path: Path) -> None:
    path = tmp_path / "new" / "log.jsonl"
    write_text_atomic("first ünïcode\n", path)
    assert path.read_text(encoding="utf-8") == "first ünïcode\n"
    write_text_atomic("second\n", path)
    assert path.read_text(encoding="utf-8") == "second\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["log.jsonl"]
