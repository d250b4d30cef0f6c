"""The hidden files downloads are streamed into, and cleaning up the ones a crash left behind.

A download streams into `.partial-<8 random characters>.download` beside its final name (see
`runway_mcp.upstream.downloads`) and holds an exclusive lock on it until it is done. A process killed
mid-download leaves that file behind: the server removes such files when it starts (in its output
directory) and before each download (in the target directory). Only files of exactly this naming are
considered, and only when they are stale: regular files of this user, not locked by a live download,
and not modified for a while. Nothing else in the directory is looked at twice.

No httpx here: the start-up cleanup must not load the upstream stack.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Final

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; age alone tells a stale file from a live one
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("runway_mcp.upstream.downloads")

PARTIAL_PREFIX: Final = ".partial-"
PARTIAL_SUFFIX: Final = ".download"
# What `tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX)` makes, and nothing else.
PARTIAL_NAME: Final = re.compile(r"\.partial-[a-z0-9_]{8}\.download")
# A partial file this recently modified may belong to a download that is starting (created, not yet
# locked) or, without locks, to one that is running: it is left alone.
STALE_AFTER_SECONDS: Final = 60.0
_OPEN_FLAGS: Final = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
)


def open_partial(directory: Path) -> tuple[int, str]:
    """A new partial file in `directory` (created if missing), locked until its descriptor is closed."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=directory)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else can hold it
    return fd, name


def remove_stale_partials(directory: Path, *, download_timeout_seconds: float) -> int:
    """Remove the stale partial files of this server's naming from `directory`; returns how many went.

    Where there are no advisory locks (Windows), a file counts as stale only once no live download could
    still be writing it (`download_timeout_seconds`, the longest a download may take, has passed). Never
    raises: a directory that cannot be read is simply left as it is.
    """
    idle_seconds = STALE_AFTER_SECONDS if fcntl is not None else download_timeout_seconds + STALE_AFTER_SECONDS
    cutoff = time.time() - idle_seconds
    removed = 0
    try:
        with os.scandir(directory) as entries:
            names = [entry.name for entry in entries if PARTIAL_NAME.fullmatch(entry.name)]
    except OSError:
        return 0
    for name in names:
        if _remove_if_stale(directory / name, cutoff):
            removed += 1
    if removed:
        logger.info("removed %d partial download(s) a stopped server left in %s", removed, directory)
    return removed


def _remove_if_stale(path: Path, cutoff: float) -> bool:
    try:
        # Not following a symlink, and not blocking on a FIFO planted under our name; checked once open.
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mtime > cutoff:
            return False
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            return False
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a live download holds it
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            return False  # replaced since it was opened
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
