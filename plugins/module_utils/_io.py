# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe file writes shared by every module: temp file beside the target, validate, fsync, rename.

Plain Python, no Ansible imports, so it is unit-tested directly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time


class WriteError(Exception):
    """A write could not be completed; the target is left as it was. ``path`` is the file, ``errno`` the system's
    error number when the system refused the write (ENOSPC, EROFS, EACCES, ...)."""

    def __init__(self, message, path=None, errno=None):
        super().__init__(message)
        self.path = path
        self.errno = errno


class ReadError(OSError):
    """A file that cannot be read as the text it should hold; the message says why."""


# Profiles, specs and daemon.json are small; anything larger is not one of them.
READ_MAX = 64 << 20
# Linux's limits on one path component and a whole path (bytes), as every filesystem the collection writes to has.
NAME_MAX = 255
PATH_MAX = 4096


def check_path(path):
    """Raise WriteError when ``path`` cannot name a file on Linux: a component over NAME_MAX bytes, the whole path
    over PATH_MAX, or a NUL byte. The message names the part that is too long, instead of the kernel's bare
    ENAMETOOLONG."""
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise WriteError("%r contains a NUL byte, which no file name can hold" % path)
    if len(raw) >= PATH_MAX:
        raise WriteError("%s... is %d bytes long, more than the %d a path can be" % (path[:60], len(raw), PATH_MAX - 1))
    for part in raw.split(b"/"):
        if len(part) > NAME_MAX:
            name = os.fsdecode(part)
            raise WriteError("the file name %s... in %s... is %d bytes long, more than the %d a file name can be" % (
                name[:40], path[:60], len(part), NAME_MAX))


def _temp_prefix(path):
    """A temporary name beside ``path`` that stays within NAME_MAX: ``.<name>.`` with the name shortened when it is
    long (mkstemp adds 8 characters, the suffix 4)."""
    name = os.path.basename(path)
    room = NAME_MAX - len("..") - 8 - len(".tmp")
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return ".%s." % name


def read_text(path, max_bytes=READ_MAX):
    """Return the file's text, or None when it does not exist.

    Only regular files are read (a FIFO would block, a device such as /dev/zero would never end), at most
    ``max_bytes``, and the content must be UTF-8: ReadError otherwise.
    """
    data = read_bytes(path, max_bytes)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError("%s is not UTF-8 text (byte %d: %s)" % (path, exc.start, exc.reason)) from exc


def read_bytes(path, max_bytes=READ_MAX):
    """Return the file's bytes, or None when it does not exist: read_text without the decoding."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            try:
                check_path(path)
            except WriteError as named:
                raise ReadError(str(named)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReadError("%s is not a regular file (%s): refusing to read it" % (path, _kind(info.st_mode)))
        if info.st_size > max_bytes:
            raise ReadError("%s is %d bytes, more than the %d this file can be" % (path, info.st_size, max_bytes))
        with os.fdopen(fd, "rb") as handle:
            fd = None
            data = handle.read(max_bytes + 1)
    finally:
        if fd is not None:
            os.close(fd)
    if len(data) > max_bytes:
        raise ReadError("%s grew past %d bytes while it was read" % (path, max_bytes))
    return data


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def backup_file(path, now=None):
    """Copy ``path`` to ``path.<timestamp>~`` (the ansible-core naming) and return the backup's path.

    Returns None when there is nothing to back up. The copy is written like any other file (a temporary file
    renamed into place), so a full disk leaves no partial backup; it keeps the original's mode and times.
    """
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime(now))
    dest = "%s.%d.%s~" % (path, os.getpid(), stamp)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteError("cannot back up %s: it cannot be read: %s" % (path, cause(exc)), path=path,
                         errno=exc.errno) from None
    try:
        info = os.fstat(fd)
        with os.fdopen(fd, "rb") as handle:
            fd = None
            data = handle.read()
    except OSError as exc:
        raise WriteError("cannot back up %s: it cannot be read: %s" % (path, cause(exc)), path=path,
                         errno=exc.errno) from None
    finally:
        if fd is not None:
            os.close(fd)
    check_path(dest)
    _write(dest, data, info.st_mode & 0o7777, times=(info.st_atime_ns, info.st_mtime_ns),
           what="the backup %s of %s" % (dest, path))
    return dest


# What a write failed on, in words: the causes a managed host's disk or mount gives (the rest keep the system's text).
_CAUSES = {
    errno.ENOSPC: "no space left on the file system",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "an I/O error on the device",
}


def cause(exc):
    """The reason an OSError gives, in words with its errno name: ``no space left on the file system (ENOSPC)``."""
    code = getattr(exc, "errno", None)
    if code is None:
        return str(exc)
    name = errno.errorcode.get(code, str(code))
    return "%s (%s)" % (_CAUSES.get(code) or exc.strerror or os.strerror(code), name)


def _failed(what, path, existed, exc):
    return WriteError("cannot write %s: %s; %s" % (
        what or path, cause(exc),
        "the file was left as it was" if existed else "no file was created"), path=path, errno=exc.errno)


def _discard(tmp):
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _make_dirs(directory, dir_mode):
    """Create ``directory`` and its missing parents; return those created, deepest first."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    created = []
    try:
        for path in reversed(missing):
            os.mkdir(path, dir_mode)
            created.insert(0, path)
    except FileExistsError:
        if not os.path.isdir(missing[0]):
            _remove_dirs(created)
            raise
    except BaseException:
        _remove_dirs(created)
        raise
    return created


def _remove_dirs(created):
    for path in created:
        with contextlib.suppress(OSError):
            os.rmdir(path)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]


def _write(path, data, mode, validate=None, makedirs=True, dir_mode=0o755, times=None, what=""):
    """The body of atomic_write; ``mode`` None keeps an existing file's mode. Every OSError of the write itself
    becomes a WriteError naming ``path`` and the cause; the temporary file and the directories created for it are
    removed; an exception from ``validate`` is passed on as it is."""
    check_path(os.path.abspath(path))
    directory = os.path.dirname(os.path.abspath(path)) or "."
    existed = os.path.lexists(path)
    created = []
    try:
        if not os.path.isdir(directory):
            if not makedirs:
                raise WriteError("directory %s does not exist" % directory, path=path)
            created = _make_dirs(directory, dir_mode)
        if mode is None:
            try:
                mode = os.stat(path).st_mode & 0o7777
            except FileNotFoundError:
                mode = 0o644
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=directory)
    except OSError as exc:
        _remove_dirs(created)
        raise _failed(what, path, existed, exc) from None
    step = "write"
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
            os.fchmod(fd, mode)
            if times is not None:
                os.utime(fd, ns=times)
        finally:
            os.close(fd)
        step = "validate"
        if validate is not None:
            validate(tmp)
        step = "rename"
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        _remove_dirs(created)
        if step == "validate":
            raise
        raise _failed(what, path, existed, exc) from None
    except BaseException:
        _discard(tmp)
        _remove_dirs(created)
        raise
    _fsync_dir(directory)
    return path


def atomic_write(path, data, mode=None, validate=None, makedirs=True, dir_mode=0o755):
    """Write ``data`` (str or bytes) to ``path`` atomically.

    The content goes to a temporary file in the target's directory, is flushed to disk, optionally checked by
    ``validate(temp_path)`` (which raises to refuse it), then renamed over the target. On any failure the temporary
    file (and any directory created for it) is removed and the target keeps its old content; a failure of the
    write itself (a full disk, a read-only file system, a directory that cannot be written) raises WriteError
    naming the target and the cause. New files get ``mode`` (default 0o644); an existing file keeps its mode unless
    ``mode`` is given.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _write(path, data, mode, validate=validate, makedirs=makedirs, dir_mode=dir_mode)


def make_temp_dir(prefix):
    """A new private directory under the system's temporary directory (for a check that needs a file: the
    caller removes it). WriteError naming the place and the cause when it cannot be made."""
    try:
        return tempfile.mkdtemp(prefix=prefix)
    except OSError as exc:
        raise WriteError("cannot make a temporary directory in %s: %s" % (tempfile.gettempdir(), cause(exc)),
                         path=tempfile.gettempdir(), errno=exc.errno) from None


def write_with_backup(path, data, backup=False, mode=None, validate=None, makedirs=True, dir_mode=0o755):
    """atomic_write, and with ``backup`` a copy of the file it replaces (backup_file), taken once ``validate``
    accepted the new content; returns the copy's path (None without one). A write that fails removes its copy: a
    refused or failed write leaves the directory as it was."""
    taken = []

    def check(tmp):
        if validate is not None:
            validate(tmp)
        if backup:
            taken.append(backup_file(path))

    try:
        atomic_write(path, data, mode=mode, validate=check, makedirs=makedirs, dir_mode=dir_mode)
    except BaseException:
        for copy in taken:
            if copy:
                remove_file(copy)
        raise
    return taken[0] if taken else None


def remove_file(path):
    """Remove ``path``; return True when something was removed. WriteError (naming the file and the cause) when the
    system refuses, as on a read-only file system."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WriteError("cannot remove %s: %s; the file was left as it was" % (path, cause(exc)), path=path,
                         errno=exc.errno) from None
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
