"""Where a chain source keeps its verified headers between runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from tentenone.chain.headers import HEADER_SIZE, BlockHeader

__all__ = ["FileHeaderStore", "HeaderStore", "MemoryHeaderStore"]

_MAGIC = b"T1HDRS01"


class HeaderStore(Protocol):
    def load(self) -> tuple[int, list[BlockHeader]] | None:
        """(base height, headers from it) saved last, or None."""
        ...

    def save(self, base_height: int, from_height: int, headers: list[BlockHeader]) -> None:
        """Replace everything at and above ``from_height`` with ``headers``."""
        ...


class MemoryHeaderStore:
    def __init__(self) -> None:
        self._base: int | None = None
        self._headers: list[BlockHeader] = []

    def load(self) -> tuple[int, list[BlockHeader]] | None:
        return None if self._base is None else (self._base, list(self._headers))

    def save(self, base_height: int, from_height: int, headers: list[BlockHeader]) -> None:
        if self._base != base_height:
            self._base, self._headers = base_height, []
        del self._headers[from_height - base_height :]
        self._headers.extend(headers)


class FileHeaderStore:
    """A flat file: 8-byte magic, 4-byte base height, then 80-byte headers.

    Writes truncate then append and fsync; on load a torn tail (a crash
    mid-write) is cut at the first header that does not build on the one before.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> tuple[int, list[BlockHeader]] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) < 12 or data[:8] != _MAGIC:
            return None
        base = int.from_bytes(data[8:12], "little")
        headers: list[BlockHeader] = []
        for offset in range(12, len(data) - HEADER_SIZE + 1, HEADER_SIZE):
            header = BlockHeader(data[offset : offset + HEADER_SIZE])
            if headers and header.prev_hash != headers[-1].hash:
                break
            headers.append(header)
        return (base, headers) if headers else None

    def save(self, base_height: int, from_height: int, headers: list[BlockHeader]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        prefix = _MAGIC + base_height.to_bytes(4, "little")
        try:
            with open(self.path, "rb") as f:
                current = f.read(len(prefix))
        except FileNotFoundError:
            current = b""
        if current != prefix:
            with open(self.path, "wb") as f:
                f.write(prefix)
                f.flush()
                os.fsync(f.fileno())
        offset = len(prefix) + (from_height - base_height) * HEADER_SIZE
        with open(self.path, "r+b") as f:
            f.truncate(offset)
            f.seek(offset)
            f.write(b"".join(h.raw for h in headers))
            f.flush()
            os.fsync(f.fileno())
