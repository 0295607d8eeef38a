"""A change's files renamed into place together: all placed, or the failures kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vpa_config import fsutil
from vpa_config.errors import StorageError


def _staged(folder: Path, count: int) -> tuple[fsutil.StagedWrites, list[Path]]:
    staged = fsutil.StagedWrites()
    paths = [folder / f"f{number:02d}.yaml" for number in range(count)]
    for number, path in enumerate(paths):
        path.write_bytes(b"old\n")
        staged.write(path, f"new {number}\n".encode(), 0o640)
    staged.sync()
    return staged, paths


def test_every_file_is_placed_with_its_stat_taken_after_the_rename(
    tmp_path: Path,
) -> None:
    staged, paths = _staged(tmp_path, 20)

    folders = staged.place(paths, sync_dirs=True)

    assert folders == {str(tmp_path)}
    for number, path in enumerate(paths):
        assert path.read_bytes() == f"new {number}\n".encode()
        assert os.lstat(path).st_mode & 0o777 == 0o640
        st = os.lstat(path)
        assert (staged.placed[path].st_ino, staged.placed[path].st_ctime_ns) == (
            st.st_ino, st.st_ctime_ns
        )
    assert list(tmp_path.glob(f"{fsutil.TMP_PREFIX}*")) == []


def test_a_rename_that_fails_keeps_its_copy_for_discard(tmp_path: Path) -> None:
    staged, paths = _staged(tmp_path, 6)
    blocked = paths[3]
    blocked.unlink()
    blocked.mkdir()  # a folder where the file goes: its rename fails
    (blocked / "keep").write_text("x")

    with pytest.raises(StorageError, match="f03.yaml"):
        staged.place(paths, sync_dirs=False)
    staged.discard()

    for number, path in enumerate(paths):
        if path != blocked:
            assert path.read_bytes() == f"new {number}\n".encode()
    assert (blocked / "keep").read_text() == "x"
    assert list(tmp_path.glob(f"{fsutil.TMP_PREFIX}*")) == []
    assert blocked not in staged.placed
