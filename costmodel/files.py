"""Reading a user's input file with bounds: a regular file only, and no more than a stated size.

`/dev/zero` would otherwise be read until memory runs out, and a FIFO would block forever on open.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from costmodel.errors import CostModelError

# Sizes past which an input is refused before it is parsed (bytes). A spec or a calibration file is a
# few hundred bytes; a model config.json a few KB; silicon_dev.csv (3,000 measured rows) is 1.1 MB.
MAX_SPEC_BYTES = 1 << 20
MAX_CONFIG_BYTES = 1 << 20
MAX_CSV_BYTES = 64 << 20


class BadInputFileError(CostModelError, ValueError):
    """An input file that is not a regular file, is too large, or cannot be read (message names the path)."""


def read_bytes(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; BadInputFileError otherwise.

    Opened without blocking (a FIFO answers at once) and checked with fstat on the open descriptor,
    so the file read is the file checked.
    """
    shown = str(path) if len(str(path)) <= 200 else str(path)[:197] + "..."
    shown = shown if shown.isprintable() else shown.encode("unicode_escape").decode("ascii")
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ENXIO:  # a FIFO or socket with nobody writing
            raise BadInputFileError(f"{shown}: not a regular file; give the path of a {what}.") from None
        raise BadInputFileError(f"cannot read {what} {shown}: {e.strerror or e}.") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise BadInputFileError(f"{shown}: is a folder, not a {what}.")
        if not stat.S_ISREG(st.st_mode):
            raise BadInputFileError(
                f"{shown}: not a regular file (a device, FIFO or socket); give the path of a {what}."
            )
        if st.st_size > limit:
            raise BadInputFileError(f"{shown}: {st.st_size:,} bytes is more than the {limit:,} a {what} may have.")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise BadInputFileError(f"cannot read {what} {shown}: {e.strerror or e}.") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # grew since fstat
        raise BadInputFileError(f"{shown}: more than the {limit:,} bytes a {what} may have.")
    return data


def read_text(path: str | os.PathLike, limit: int, what: str = "file") -> str:
    """read_bytes decoded as UTF-8 (a leading byte-order mark dropped); BadInputFileError if not UTF-8."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadInputFileError(
            f"{str(path)[:200]}: not UTF-8 text (byte {e.start}); save the {what} as UTF-8."
        ) from None


def is_regular(path: Path) -> bool:
    """Whether path names a regular file (symlinks followed); False on any error, a too-long name included."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def file_kind(path: str | os.PathLike) -> tuple[str, int]:
    """("file", size), ("folder", 0), ("other", 0) for a device, FIFO or socket, ("missing", 0) when stat fails."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return "missing", 0
    if stat.S_ISREG(st.st_mode):
        return "file", st.st_size
    return ("folder" if stat.S_ISDIR(st.st_mode) else "other"), 0
