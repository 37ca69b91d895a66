"""Published versions: one immutable file per publish, and a pointer naming the current one.

A publish renames its finished build to ``<stem>.v<N><suffix>`` (``ketaops.v12.duckdb``)
beside the published path, then swaps the published path itself, a symlink to that name,
in one atomic ``rename`` of a new link over it. So:

- ``data/ketaops.duckdb`` always opens the current version (``ketaops status``, analysts'
  SQL clients and every tool that reads the path keep working unchanged);
- a version file never changes after it is named, so a reader, a cache entry or a replica
  that names version N reads exactly N, whatever was published since;
- the pointer is the only thing a publish changes in place. A refresh killed before the swap
  leaves the pointer as it was (and at most an unpointed version file, removed by the next
  run); one killed after it has published.

The number is one more than the highest version on disk or pointed to, so numbers only grow
while the folder keeps a version. Versions a pointer no longer names are kept for
``grace_seconds`` after their successor was published (a page run that started on one, a
replica that has not synced the pointer yet) and the one just before the current is always
kept; ``prune`` removes the rest under the refresh lock. A version file is never renamed,
rewritten or given to another build.

A database published before versions existed is a regular file at the published path. The
first versioned publish gives it the name of version 0 (``compat.keep_pre_version_file``)
before the pointer replaces it, so it is retained and pruned like any other version.

Only ``<stem>.v<N><suffix>`` files are ever pruned. The stores kept beside the database
(``<stem>.reviews.sqlite``, ``ketaops-signals.sqlite``, any ``<stem>.<name>.sqlite``) never
match that name, and take their default path from the published path, the pointer
(``pointer_for`` maps a version file back to it).
"""

from __future__ import annotations

import glob
import os
import re
import time
from pathlib import Path

# A version's file name: the published file's stem, ``.v<N>``, the published file's suffix.
_VERSION = re.compile(r"^(?P<stem>.+)\.v(?P<n>\d+)(?P<suffix>\.[^.]*)?$")
POINTER_MARK = ".pointer-"  # a new link before it is renamed over the published path
DEFAULT_GRACE_SECONDS = 600.0


def version_path(db: Path, number: int) -> Path:
    """The file of version ``number`` of the database published at ``db``."""
    return db.with_name(f"{db.stem}.v{number}{db.suffix}")


def number_of(path: Path, db: Path | None = None) -> int | None:
    """The version number a file name carries (of ``db``'s versions only, if given); None if none."""
    found = _VERSION.match(path.name)
    if found is None:
        return None
    if db is not None and (found["stem"] != db.stem or (found["suffix"] or "") != db.suffix):
        return None
    return int(found["n"])


def pointer_for(path: Path) -> Path:
    """The published path a version file belongs to (``path`` itself if it is no version file)."""
    found = _VERSION.match(path.name)
    if found is None:
        return path
    return path.with_name(found["stem"] + (found["suffix"] or ""))


def current(db: Path) -> int | None:
    """The version the pointer names; None for a missing path or a regular (pre-version) file."""
    try:
        target = os.readlink(db)
    except (FileNotFoundError, OSError):
        return None
    return number_of(Path(target), db)


def on_disk(db: Path) -> dict[int, Path]:
    """Every version file of ``db`` in its folder, by number, lowest first."""
    found = {}
    for path in db.parent.glob(f"{glob.escape(db.stem)}.v*{glob.escape(db.suffix)}"):
        number = number_of(path, db)
        if number is not None:
            found[number] = path
    return dict(sorted(found.items()))


def next_number(db: Path) -> int:
    """One more than any version on disk or pointed to (1 for the first)."""
    known = [*on_disk(db), current(db) or 0]
    return max(known) + 1


def point(db: Path, target: Path) -> None:
    """Make ``db`` a symlink to ``target`` (a version file in the same folder) in one rename."""
    if target.parent.resolve() != db.parent.resolve():
        raise ValueError(f"{target} is not beside {db}")
    link = db.with_name(f"{db.name}{POINTER_MARK}{os.getpid()}")
    link.unlink(missing_ok=True)
    os.symlink(target.name, link)  # relative: the folder can be moved or synced whole
    os.replace(link, db)
    _fsync_dir(db.parent)


def prune(db: Path, grace_seconds: float = DEFAULT_GRACE_SECONDS, now: float | None = None) -> list[Path]:
    """Remove versions nobody should need any more; call only while holding the refresh lock.

    Kept: the current version, the one before it, and any version whose successor was
    published less than ``grace_seconds`` ago (a successor's mtime is when its build was
    finished, a few seconds before its publish: the grace is, if anything, shorter).
    Versions above the current one (a run killed between naming its file and swapping the
    pointer: never published) are kept until a later version is current, so the next
    publish numbers past them and a name is never given to two files. Without a pointer
    (no database, or a pre-version file) nothing is removed.
    """
    cur = current(db)
    if cur is None:
        return []
    now = time.time() if now is None else now
    files = on_disk(db)
    numbers = sorted(files)
    removed = []
    for i, number in enumerate(numbers):
        path = files[number]
        if number >= cur:
            continue
        older_than_previous = number < max(n for n in numbers if n < cur)
        successor = files[numbers[i + 1]]
        try:
            superseded_for = now - successor.stat().st_mtime
        except FileNotFoundError:
            superseded_for = grace_seconds
        if older_than_previous and superseded_for >= grace_seconds:
            path.unlink(missing_ok=True)
            removed.append(path)
    for link in db.parent.glob(f"{glob.escape(db.name)}{POINTER_MARK}*"):  # a link of a run killed mid-swap
        link.unlink(missing_ok=True)
    return removed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
