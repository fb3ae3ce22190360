# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe file writes shared by every module: temp file beside the target, validate, fsync, rename.

Plain Python, no Ansible imports, so it is unit-tested directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time


class WriteError(Exception):
    """A write could not be completed; the target is left as it was."""


def read_text(path):
    """Return the file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def backup_file(path, now=None):
    """Copy ``path`` to ``path.<timestamp>~`` (the ansible-core naming) and return the backup's path.

    Returns None when there is nothing to back up.
    """
    if not os.path.exists(path):
        return None
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now))
    dest = "%s.%d.%s~" % (path, os.getpid(), stamp)
    shutil.copy2(path, dest)
    return dest


def atomic_write(path, data, mode=None, validate=None, makedirs=True, dir_mode=0o755):
    """Write ``data`` (str or bytes) to ``path`` atomically.

    The content goes to a temporary file in the target's directory, is flushed to disk, optionally checked by
    ``validate(temp_path)`` (which raises to refuse it), then renamed over the target. On any failure the temporary
    file is removed and the target keeps its old content. New files get ``mode`` (default 0o644); an existing
    file keeps its mode unless ``mode`` is given.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        if not makedirs:
            raise WriteError("directory %s does not exist" % directory)
        os.makedirs(directory, mode=dir_mode, exist_ok=True)
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if validate is not None:
            validate(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)
    return path


def remove_file(path):
    """Remove ``path``; return True when something was removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
