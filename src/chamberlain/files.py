"""Reading files within bounds: regular files only, their size checked before reading.

``Path.read_bytes()`` on a ``*.yaml`` symlink to ``/dev/zero`` reads until memory runs out, and on a
FIFO it blocks until a writer appears (forever, for a server starting up). :func:`read_bounded`
opens without blocking (``O_NONBLOCK``), refuses anything that is not a regular file once opened
(``fstat``, so a file swapped for a FIFO after a check is still refused), refuses a file whose size
is over the limit before reading it, and reads at most the limit (a file that grows meanwhile is
refused too). Symbolic links to regular files are followed, as Kubernetes ConfigMap volumes need.
"""

from __future__ import annotations

import os
import stat

from chamberlain.errors import Error


class FileRefused(Error):
    """A file that is not read: not a regular file, too large, or unreadable; the message says which."""


def describe_size(limit: int) -> str:
    """``2 MiB``, ``64 KiB`` or ``1000 bytes``: a limit as people read it."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift} {unit}"
    return f"{limit} bytes"


def regular_size(path: str | os.PathLike[str]) -> int:
    """The size of ``path`` if it is (or links to) a regular file; raises :class:`FileRefused` otherwise."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FileRefused(f"cannot read the file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"not a regular file ({_kind(info.st_mode)}): only regular files are read")
    return info.st_size


def read_bounded(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The contents of the regular file ``path``, at most ``limit`` bytes; raises :class:`FileRefused`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise FileRefused(f"cannot read the {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"not a regular file ({_kind(info.st_mode)}): only regular files are read")
        if info.st_size > limit:
            raise FileRefused(_too_large(info.st_size, limit, what))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(_too_large(size, limit, what))
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(f"cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text_bounded(path: str | os.PathLike[str], limit: int, what: str = "file") -> str:
    """:func:`read_bounded`, decoded as UTF-8 (a BOM is dropped); raises :class:`FileRefused` on other bytes."""
    data = read_bounded(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"the {what} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None


def _too_large(size: int, limit: int, what: str) -> str:
    return f"the {what} is {size} bytes, over the {describe_size(limit)} limit"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "a special file"


#: Configuration, key, token, registry and request files: far above any real one.
MAX_CONFIG_BYTES = 1 << 20
