"""Writing one output file (calibrate --out): checked before the work that produces it, written whole or
not at all."""

from __future__ import annotations

import os
from pathlib import Path

from solver.errors import UserError


def check_out_file(out: Path, force: bool, flag: str = "--out") -> None:
    """UserError unless out can be written: not a folder, its folder exists and is writable, and
    it is absent or force is given."""
    if out.is_dir():
        raise UserError(f"{flag} {out} is a folder; name a file (e.g. {out / 'calibration.yaml'}).")
    if out.exists() and not force:
        raise UserError(f"{flag} {out} exists; pass --force to overwrite it, or name another file")
    parent = out.absolute().parent
    if not parent.is_dir():
        what = "is a file, not a folder" if parent.exists() else "does not exist"
        raise UserError(f"{flag} {out}: {parent} {what}; name a file in an existing folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {out}: the folder {parent} is not writable; name a file in a folder you can write to.")


def write_text_atomically(out: Path, text: str, flag: str = "--out") -> None:
    """Write text to a hidden file beside out, then rename it over out; on any failure (SIGTERM and
    Ctrl+C included) the hidden file is removed and out is unchanged."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, out)
    except OSError as e:
        raise UserError(f"cannot write {flag} {out}: {e.strerror or e}; nothing was written.") from None
    finally:
        if tmp.exists():
            tmp.unlink()
