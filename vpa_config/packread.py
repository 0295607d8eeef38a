"""Reading git objects from the object folder without dulwich.

A ``set`` needs only HEAD's commit, its trees and a few blobs. Opening the
repository through dulwich costs more than the rest of the read (its import
alone is about 20 ms), so :class:`ObjectReader` reads what git and vpa-config
write in the plain layout: loose objects (a zlib stream of "TYPE SIZE\\0"
and the content) and packs with a version 2 index, their entries whole or
as deltas (against an offset in the same pack, or an object id).

Anything else is not an error here: :meth:`ObjectReader.read` returns None
and the caller asks dulwich, which knows every layout (alternates, a
multi-pack index without indexes, a version 1 index, SHA-256) and says why
an object is missing or damaged.
"""

from __future__ import annotations

import os
import zlib
from binascii import unhexlify
from pathlib import Path

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from mmap import mmap

# Pack entry types (git's numbering).
_COMMIT, _TREE, _BLOB, _TAG, _OFS_DELTA, _REF_DELTA = 1, 2, 3, 4, 6, 7
TYPE_NAMES = {_COMMIT: b"commit", _TREE: b"tree", _BLOB: b"blob", _TAG: b"tag"}
_NAME_TYPES = {name: number for number, name in TYPE_NAMES.items()}
_IDX_MAGIC = b"\xfftOc"
_ID = 20  # SHA-1 ids only: a SHA-256 index does not pass the size check
# The longest delta chain followed before handing the object to dulwich
# (git's default depth is 50, ``gc --aggressive`` uses 50, at most 4095).
MAX_CHAIN = 10000
# Resolved objects kept per pack (delta bases for the next read).
CACHE_ENTRIES = 256
CACHE_BYTES = 4 * 1024 * 1024


class ObjectFormatError(Exception):
    """An object or pack entry this reader does not understand."""


# What reading a damaged or unfamiliar entry raises (an index past the end
# of a truncated delta, a bad zlib stream, an mmap gone).
_UNREADABLE = (ObjectFormatError, IndexError, ValueError, zlib.error, OSError)


class ObjectReader:
    """Loose and packed objects of one ``objects`` folder, read on demand.

    The pack folder is listed on the first packed read and again once on a
    miss (a ``gc`` or ``repack`` may have written a new pack since).
    """

    def __init__(self, objects: Path) -> None:
        self.objects = objects
        self._packs: list[_Pack] | None = None
        self._listed: frozenset[str] = frozenset()

    def read(self, hexsha: str) -> tuple[bytes, bytes] | None:
        """(type name, content) of an object, or None when not found here.

        None also for an object this reader does not understand (damaged, or
        in a layout it does not read): the caller's fallback says why.
        """
        try:
            found = self._read_loose(hexsha)
            if found is not None:
                return found
            return self._read_packed(unhexlify(hexsha))
        except _UNREADABLE:
            return None

    def contains(self, hexsha: str) -> bool:
        """Whether the object is loose or in a readable pack (no content read)."""
        if os.path.exists(self._loose_path(hexsha)):
            return True
        binsha = unhexlify(hexsha)
        try:
            packs = self._all_packs(binsha)
            return any(pack.find(binsha) is not None for pack in packs)
        except _UNREADABLE:
            return False

    def in_listed_packs(self, hexsha: str) -> bool:
        """Whether a pack listed already (listing them the first time) has it.

        The folder is not listed again on a miss: a change's new objects all
        miss, and a pack written since would only mean a second copy.
        """
        if self._packs is None:
            self._packs = self._list_packs()
        binsha = unhexlify(hexsha)
        try:
            return any(pack.find(binsha) is not None for pack in self._packs)
        except _UNREADABLE:
            return False

    def close(self) -> None:
        """Close the packs' files (reads reopen them)."""
        for pack in self._packs or ():
            pack.close()
        self._packs = None
        self._listed = frozenset()

    # --- loose objects -----------------------------------------------------

    def _loose_path(self, hexsha: str) -> str:
        return os.path.join(self.objects, hexsha[:2], hexsha[2:])

    def _read_loose(self, hexsha: str) -> tuple[bytes, bytes] | None:
        try:
            with open(self._loose_path(hexsha), "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        return parse_loose(data)

    # --- packs ---------------------------------------------------------

    def _read_packed(self, binsha: bytes) -> tuple[bytes, bytes] | None:
        for pack in self._all_packs(binsha):
            offset = pack.find(binsha)
            if offset is not None:
                kind, raw = self._resolve(pack, offset)
                return TYPE_NAMES[kind], raw
        return None

    def _all_packs(self, binsha: bytes) -> list[_Pack]:
        """The packs to search: those listed, or listed again after a miss."""
        if self._packs is None:
            self._packs = self._list_packs()
        elif not any(pack.find(binsha) is not None for pack in self._packs):
            names = self._pack_names()
            if names != self._listed:
                self.close()
                self._packs = self._list_packs(names)
        return self._packs

    def _pack_names(self) -> frozenset[str]:
        try:
            names = os.listdir(os.path.join(self.objects, "pack"))
        except OSError:
            return frozenset()
        return frozenset(
            name[:-4] for name in names
            if name.endswith(".idx") and name[:-4] + ".pack" in names
        )

    def _list_packs(self, names: frozenset[str] | None = None) -> list[_Pack]:
        if names is None:
            names = self._pack_names()
        self._listed = names
        folder = os.path.join(self.objects, "pack")
        packs = []
        for name in sorted(names):
            pack = _Pack.open(os.path.join(folder, name))
            if pack is not None:
                packs.append(pack)
        return packs

    def _resolve(self, pack: _Pack, offset: int) -> tuple[int, bytes]:
        """The type and content at ``offset``, its delta chain applied.

        Objects met on the way are kept (bounded) for the next read: a walk
        reads each tree a delta after the last one, as git's own base cache
        assumes.
        """
        chain: list[tuple[int, bytes]] = []
        while True:
            known = pack.cached.get(offset)
            if known is not None:
                kind, data = known
                break
            if len(chain) > MAX_CHAIN:
                raise ObjectFormatError("delta chain too long")
            kind, data, base = pack.entry(offset)
            if isinstance(base, int):  # OFS_DELTA
                chain.append((offset, data))
                offset = base
                continue
            if isinstance(base, bytes):  # REF_DELTA
                chain.append((offset, data))
                kind, data = self._ref_base(pack, base)
            else:
                pack.remember(offset, kind, data)
            break
        for at, delta in reversed(chain):
            data = apply_delta(data, delta)
            pack.remember(at, kind, data)
        return kind, data

    def _ref_base(self, pack: _Pack, binsha: bytes) -> tuple[int, bytes]:
        """A REF_DELTA's base: in the same pack, another pack, or loose."""
        offset = pack.find(binsha)
        if offset is not None:
            return self._resolve(pack, offset)
        found = self.read(binsha.hex())
        if found is None:
            raise ObjectFormatError("delta base not found")
        return _NAME_TYPES[found[0]], found[1]


def parse_loose(data: bytes) -> tuple[bytes, bytes] | None:
    """(type name, content) of a loose object file's bytes; None if unusual."""
    try:
        text = zlib.decompress(data)
    except zlib.error:
        return None
    header, sep, raw = text.partition(b"\x00")
    kind, _, size = header.partition(b" ")
    if not sep or kind not in _NAME_TYPES or not size.isdigit():
        return None
    if int(size) != len(raw):
        return None
    return kind, raw


class _Pack:
    """One ``.pack`` with its version 2 ``.idx``, both memory-mapped."""

    def __init__(self, idx: mmap, pack: mmap, count: int, large: int) -> None:
        self._idx = idx
        self._pack = pack
        self._count = count
        self._ids = 8 + 256 * 4
        self._offsets = self._ids + count * (_ID + 4)
        self._large = self._offsets + count * 4
        self._large_count = large
        # Resolved objects by offset (content never changes under an offset).
        self.cached: dict[int, tuple[int, bytes]] = {}
        self._cached_bytes = 0

    @classmethod
    def open(cls, base: str) -> _Pack | None:
        """The pack at ``base`` (.idx/.pack), or None if not a layout read here."""
        import mmap

        try:
            with open(base + ".idx", "rb") as idx_file:
                idx = mmap.mmap(idx_file.fileno(), 0, access=mmap.ACCESS_READ)
            with open(base + ".pack", "rb") as pack_file:
                pack = mmap.mmap(pack_file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        count = _index_count(idx)
        if count is None or pack[:4] != b"PACK" or _u32(pack, 4) not in (2, 3):
            idx.close()
            pack.close()
            return None
        extra = len(idx) - (8 + 1024 + count * (_ID + 8) + 2 * _ID)
        return cls(idx, pack, count, extra // 8)

    def remember(self, offset: int, kind: int, data: bytes) -> None:
        """Keep a resolved object, dropping the oldest beyond the bounds."""
        if len(data) > CACHE_BYTES // 8:
            return
        cached = self.cached
        while cached and (
            len(cached) >= CACHE_ENTRIES or self._cached_bytes + len(data) > CACHE_BYTES
        ):
            oldest = next(iter(cached))
            self._cached_bytes -= len(cached.pop(oldest)[1])
        cached[offset] = (kind, data)
        self._cached_bytes += len(data)

    def close(self) -> None:
        """Unmap both files."""
        self._idx.close()
        self._pack.close()

    def find(self, binsha: bytes) -> int | None:
        """The pack offset of ``binsha``, or None (binary search of the index)."""
        idx = self._idx
        first = binsha[0]
        low = _u32(idx, 8 + (first - 1) * 4) if first else 0
        high = _u32(idx, 8 + first * 4)
        ids = self._ids
        while low < high:
            mid = (low + high) // 2
            at = ids + mid * _ID
            found = idx[at:at + _ID]
            if found < binsha:
                low = mid + 1
            elif found > binsha:
                high = mid
            else:
                return self._offset(mid)
        return None

    def _offset(self, position: int) -> int:
        value = _u32(self._idx, self._offsets + position * 4)
        if not value & 0x80000000:
            return value
        slot = value & 0x7FFFFFFF
        if slot >= self._large_count:
            raise ObjectFormatError("large offset out of range")
        at = self._large + slot * 8
        return int.from_bytes(self._idx[at:at + 8], "big")

    def entry(self, offset: int) -> tuple[int, bytes, int | bytes | None]:
        """(type, inflated data, delta base) of the entry at ``offset``.

        The base is an offset for OFS_DELTA, a binary id for REF_DELTA, and
        None for a whole object.
        """
        pack = self._pack
        if offset < 12 or offset >= len(pack):
            raise ObjectFormatError("offset out of range")
        byte = pack[offset]
        kind = (byte >> 4) & 7
        size = byte & 0x0F
        shift = 4
        at = offset + 1
        while byte & 0x80:
            byte = pack[at]
            size |= (byte & 0x7F) << shift
            shift += 7
            at += 1
        base: int | bytes | None = None
        if kind == _OFS_DELTA:
            byte = pack[at]
            distance = byte & 0x7F
            at += 1
            while byte & 0x80:
                byte = pack[at]
                distance = ((distance + 1) << 7) | (byte & 0x7F)
                at += 1
            if distance <= 0 or offset - distance < 12:
                raise ObjectFormatError("delta base offset out of range")
            base = offset - distance
        elif kind == _REF_DELTA:
            base = pack[at:at + _ID]
            at += _ID
        elif kind not in TYPE_NAMES:
            raise ObjectFormatError(f"pack entry type {kind}")
        return kind, self._inflate(at, size), base

    def _inflate(self, at: int, size: int) -> bytes:
        inflater = zlib.decompressobj()
        chunk = max(size + 64, 4096)
        out = inflater.decompress(self._pack[at:at + chunk])
        while not inflater.eof:
            at += chunk
            more = self._pack[at:at + chunk]
            if not more:
                raise ObjectFormatError("pack entry truncated")
            out += inflater.decompress(more)
        if len(out) != size:
            raise ObjectFormatError("pack entry size mismatch")
        return out


def _u32(data: mmap, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "big")


def _index_count(idx: mmap) -> int | None:
    """Objects in a version 2 SHA-1 index, or None if it is not one."""
    size = len(idx)
    if size < 8 + 1024 + 2 * _ID or idx[:4] != _IDX_MAGIC or _u32(idx, 4) != 2:
        return None
    count = _u32(idx, 8 + 255 * 4)
    extra = size - (8 + 1024 + count * (_ID + 8) + 2 * _ID)
    # SHA-256 ids make the file 12 bytes an object longer: never a whole
    # number of 8-byte large offsets up to one per object.
    if extra < 0 or extra % 8 or extra // 8 > count:
        return None
    return count


def _varint(delta: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(delta):
            raise ObjectFormatError("delta header truncated")
        byte = delta[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def apply_delta(base: bytes, delta: bytes) -> bytes:
    """The object ``delta`` (git's copy/insert instructions) makes of ``base``."""
    source_size, at = _varint(delta, 0)
    target_size, at = _varint(delta, at)
    if source_size != len(base):
        raise ObjectFormatError("delta base size mismatch")
    parts = []
    end = len(delta)
    while at < end:
        op = delta[at]
        at += 1
        if op & 0x80:
            start = length = 0
            for bit in range(4):
                if op & (1 << bit):
                    start |= delta[at] << (8 * bit)
                    at += 1
            for bit in range(3):
                if op & (0x10 << bit):
                    length |= delta[at] << (8 * bit)
                    at += 1
            length = length or 0x10000
            if start + length > source_size:
                raise ObjectFormatError("delta copy out of range")
            parts.append(base[start:start + length])
        elif op:
            if at + op > end:
                raise ObjectFormatError("delta insert truncated")
            parts.append(delta[at:at + op])
            at += op
        else:
            raise ObjectFormatError("delta opcode 0")
    out = b"".join(parts)
    if len(out) != target_size:
        raise ObjectFormatError("delta result size mismatch")
    return out
