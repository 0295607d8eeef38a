"""Which working files still hold what was committed, told by their stat.

Reading and hashing every working file before each change (is it hand
edited? what was it before?) cost a restore of 50 files three reads of each.
git's index already records, for each file, the blob it holds and the stat of
the file when it did (see ``gitindex.py``; the store writes those entries
after each change). A file whose stat is still exactly as recorded (change
and modification times to the nanosecond, device, inode, mode, owner, size)
holds the recorded blob, with one exception that git calls *racily clean*:
a file modified in the same timestamp tick as the index was written may have
been edited after its entry was made without any of those fields changing.
Such entries, whose modification or change time is not older than the index
file itself, are never trusted here; their files are read, as is every file
the index does not vouch for (no entry, another blob, any field different).

Editing a file by hand changes its change time (which no user can set), so
an edit that keeps the size and even puts the modification time back is
still seen.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from vpa_config import gitindex

# TODO(#9): the index entries that recovery and the dulwich fallback write
# take each file's stat when the index is written, not when the file was
# renamed into place (as a change's own entries do): an edit made in between,
# keeping the size, would pass as clean until the file is next touched.
FileTree = dict[str, tuple[int, str]]
_REGULAR = 0o100644
_EXECUTABLE = 0o100755
_NS = 1_000_000_000


def unchanged(
    controldir: Path, root: Path, tree: FileTree, names: Iterable[str]
) -> dict[str, int]:
    """Those of ``names`` whose file provably holds its blob in ``tree``.

    Maps each such name to the file's permission bits. A name missing here
    is not necessarily edited: its file must be read to know.
    """
    view = gitindex.stat_view(controldir)
    if view is None:
        return {}
    written = ((view.written_ns // _NS) & 0xFFFFFFFF, view.written_ns % _NS)
    found: dict[str, int] = {}
    base = os.fspath(root)
    for name in names:
        committed = tree.get(name)
        raw = view.entries.get(name.encode("utf-8", "surrogateescape"))
        if committed is None or raw is None:
            continue
        fields, blob = gitindex.entry_fields(raw)
        if blob != committed[1] or _racy(fields, written):
            continue
        try:
            st = os.lstat(os.path.join(base, name))
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        mode = _EXECUTABLE if st.st_mode & 0o100 else _REGULAR
        if gitindex.stat_fields(st, mode) == fields:
            found[name] = stat.S_IMODE(st.st_mode)
    return found


def _racy(fields: tuple[int, ...], written: tuple[int, int]) -> bool:
    """Whether the entry's file changed no earlier than the index was written."""
    return (fields[2], fields[3]) >= written or (fields[0], fields[1]) >= written
