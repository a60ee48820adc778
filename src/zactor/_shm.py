"""Shared-memory segments that carry large out-of-band buffers between processes.

The sender copies a buffer once into a new file under ``/dev/shm`` and sends its
name; the receiver maps that file, unlinks the name at once and reads the data
in place, with no second copy. The memory is freed when the receiver's last view
of it goes away. Where ``/dev/shm`` is missing, :data:`AVAILABLE` is False and
callers keep buffers in band instead.

Plain files are used rather than ``multiprocessing.shared_memory``, whose
resource tracker warns about and unlinks segments that another process owns.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import re
import secrets
import stat
from collections.abc import Iterable

from ._errors import CodecError

log = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"

# Every segment name starts with this, so that attach never opens another
# program's memory and sweep never removes it.
NAME_PREFIX = "zactor-"

_NAME = re.compile(r"zactor-[A-Za-z0-9_.-]+")
_PREFIX = re.compile(r"zactor-[A-Za-z0-9_.-]*")

_CREATE_FLAGS = os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
_OPEN_FLAGS = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW


def _usable() -> bool:
    return os.path.isdir(SHM_DIR) and os.access(SHM_DIR, os.W_OK | os.X_OK)


AVAILABLE: bool = _usable()


def _check_prefix(prefix: str) -> None:
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"a shared-memory prefix must start with {NAME_PREFIX!r} and use only "
            f"letters, digits, '_', '.' and '-', got {prefix!r}"
        )


def _reserve(fd: int, size: int) -> None:
    """Give the file its size, with its pages reserved where the OS can.

    Reserving means a full /dev/shm fails here with ENOSPC, instead of killing
    the process with SIGBUS when the copy touches a page that has no memory.
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        os.ftruncate(fd, size)


def _as_bytes_view(buffer: memoryview) -> memoryview:
    """``buffer`` as a flat view of bytes, copied only if it is not contiguous."""
    if buffer.ndim == 1 and buffer.format == "B":
        return buffer
    if buffer.c_contiguous:
        return buffer.cast("B")
    return memoryview(buffer.tobytes("A"))


def _copy_into(fd: int, buffer: memoryview) -> None:
    source = _as_bytes_view(buffer)
    with mmap.mmap(fd, source.nbytes) as mapping, memoryview(mapping) as target:
        target[:] = source


def export(buffer: memoryview, prefix: str) -> str:
    """Copy ``buffer`` into a new segment named ``prefix`` plus a unique suffix.

    The sender's mapping is closed before returning; the segment lives on until
    the receiver attaches to it or someone removes it.

    Raises:
        ValueError: the buffer is empty, or ``prefix`` does not start with
            ``"zactor-"``.
        OSError: shared memory is unavailable or full.
    """
    if buffer.nbytes == 0:
        raise ValueError("an empty buffer needs no shared-memory segment")
    _check_prefix(prefix)
    if not AVAILABLE:
        raise OSError(f"shared memory needs the directory {SHM_DIR}")

    while True:
        name = f"{prefix}{secrets.token_hex(8)}"
        path = os.path.join(SHM_DIR, name)
        try:
            fd = os.open(path, _CREATE_FLAGS, 0o600)
        except FileExistsError:
            continue
        break

    try:
        _reserve(fd, buffer.nbytes)
        _copy_into(fd, buffer)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)
    return name


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise CodecError(f"{name!r} is not a zactor shared-memory segment name")


def attach(name: str, size: int) -> memoryview:
    """Map the segment ``name`` of ``size`` bytes and unlink its name at once.

    The returned view is the memory itself: nothing is copied, and the memory is
    freed when the last view of it is released.

    Raises:
        CodecError: the name is not a zactor segment name, the segment does not
            exist, or its size is not ``size``.
    """
    _check_name(name)
    if type(size) is not int or size <= 0:
        raise CodecError(f"a shared-memory segment size must be > 0, got {size!r}")

    path = os.path.join(SHM_DIR, name)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise CodecError(f"cannot open shared-memory segment {name}: {exc}") from exc

    try:
        os.unlink(path)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CodecError(f"shared-memory segment {name} is not a regular file")
        if info.st_size != size:
            raise CodecError(
                f"shared-memory segment {name} holds {info.st_size} bytes, "
                f"expected {size}"
            )
        mapping = mmap.mmap(fd, size)
    except OSError as exc:
        raise CodecError(f"cannot map shared-memory segment {name}: {exc}") from exc
    finally:
        os.close(fd)
    return memoryview(mapping)


def remove(names: Iterable[str]) -> None:
    """Unlink the segments ``names``; names already gone are skipped.

    Raises:
        ValueError: a name is not a zactor segment name.
    """
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a zactor shared-memory segment name")
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except FileNotFoundError:
            pass


def sweep(prefix: str) -> int:
    """Unlink every segment whose name starts with ``prefix``; return how many.

    Used to clean up after processes that died before their segments were
    attached.
    """
    _check_prefix(prefix)
    if not AVAILABLE:
        return 0

    removed = 0
    for name in os.listdir(SHM_DIR):
        if not name.startswith(prefix):
            continue
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot remove shared-memory segment %s: %s", name, exc)
            continue
        removed += 1
    if removed:
        log.debug("removed %d leftover shared-memory segments %s*", removed, prefix)
    return removed
