"""Tests for the shared safe-write helper."""

from __future__ import annotations

import errno
import os
import re
import stat

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _io


def test_atomic_write_creates_file_with_mode_and_parent(tmp_path):
    target = tmp_path / "sub" / "profile.json"
    _io.atomic_write(str(target), "{}\n", mode=0o600)
    assert target.read_text() == "{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_atomic_write_keeps_existing_mode(tmp_path):
    target = tmp_path / "daemon.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    _io.atomic_write(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_failed_validation_leaves_target_and_no_temp_file(tmp_path):
    target = tmp_path / "daemon.json"
    target.write_text("old")

    def refuse(path):
        with open(path) as handle:
            assert handle.read() == "bad"
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        _io.atomic_write(str(target), "bad", validate=refuse)
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["daemon.json"]


def test_missing_directory_without_makedirs(tmp_path):
    with pytest.raises(_io.WriteError, match="does not exist"):
        _io.atomic_write(str(tmp_path / "nope" / "f"), "x", makedirs=False)


def test_backup_copies_content_and_returns_none_for_missing(tmp_path):
    target = tmp_path / "f"
    assert _io.backup_file(str(target)) is None
    target.write_text("keep me")
    backup = _io.backup_file(str(target))
    assert backup != str(target)
    with open(backup) as handle:
        assert handle.read() == "keep me"
    assert backup.startswith(str(target) + ".") and backup.endswith("~")


def test_read_and_remove(tmp_path):
    target = tmp_path / "f"
    assert _io.read_text(str(target)) is None
    assert _io.remove_file(str(target)) is False
    target.write_text("x")
    assert _io.read_text(str(target)) == "x"
    assert _io.remove_file(str(target)) is True
    assert not target.exists()


def test_read_text_refuses_what_is_not_a_small_regular_utf8_file(tmp_path):
    import threading

    from ansible_collections.confine.docker.plugins.module_utils._io import ReadError, read_text

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = []

    def read_fifo():
        try:
            read_text(str(fifo))
        except ReadError as exc:
            done.append(str(exc))

    reader = threading.Thread(target=read_fifo, daemon=True)
    reader.start()
    reader.join(5)
    assert done and "a FIFO" in done[0], "read_text blocked on a FIFO or did not refuse it"
    with pytest.raises(ReadError, match="a character device"):
        read_text("/dev/zero")
    with pytest.raises(ReadError, match="a directory"):
        read_text(str(tmp_path))
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(ReadError, match="more than"):
        read_text(str(big), max_bytes=1024)
    latin = tmp_path / "latin"
    latin.write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(ReadError, match="not UTF-8"):
        read_text(str(latin))
    assert read_text(str(tmp_path / "missing")) is None
    good = tmp_path / "good"
    good.write_text("ok\n")
    assert read_text(str(good)) == "ok\n"


def test_a_long_file_name_that_fits_is_written_though_its_temporary_name_would_not(tmp_path):
    target = tmp_path / ("p" * 250 + ".json")
    _io.atomic_write(str(target), "{}\n")
    assert target.read_text() == "{}\n"
    assert sorted(os.listdir(tmp_path)) == [target.name]


@pytest.mark.parametrize("name", ["x" * 256, "é" * 128])
def test_a_file_name_over_name_max_is_a_clear_error(tmp_path, name):
    with pytest.raises(_io.WriteError, match=r"bytes long, more than the 255 a file name can be"):
        _io.atomic_write(str(tmp_path / name), "{}\n")
    assert os.listdir(tmp_path) == []
    with pytest.raises(_io.ReadError, match=r"more than the 255 a file name can be"):
        _io.read_text(str(tmp_path / name))


def test_a_path_over_path_max_is_a_clear_error(tmp_path):
    with pytest.raises(_io.WriteError, match=r"more than the 4095 a path can be"):
        _io.atomic_write(str(tmp_path / "/".join(["d" * 200] * 21)), "{}\n")


def test_a_backup_name_that_would_be_too_long_is_a_clear_error(tmp_path):
    target = tmp_path / ("b" * 240)
    target.write_text("old")
    with pytest.raises(_io.WriteError, match="a file name can be"):
        _io.backup_file(str(target))
    assert os.listdir(tmp_path) == [target.name]


# --- a full disk, a read-only file system ---------------------------------------------------------------------------

def _fills_up(after):
    """A stand-in for os.write and os.sendfile: the device takes ``after`` bytes in all, then is full."""
    taken = [0]
    real_write, real_sendfile = os.write, os.sendfile

    def write(fd, data):
        room = after - taken[0]
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        done = real_write(fd, bytes(data[:room]))
        taken[0] += done
        return done

    def sendfile(out_fd, in_fd, offset, count):
        room = after - taken[0]
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        done = real_sendfile(out_fd, in_fd, offset, min(count, room))
        taken[0] += done
        return done

    return write, sendfile


def _raises(code, text):
    def fail(*args, **kwargs):
        raise OSError(code, text)
    return fail


@pytest.fixture
def old_file(tmp_path):
    target = tmp_path / "state.json"
    target.write_bytes(b'{"old": true}\n')
    os.chmod(target, 0o640)
    return target


@pytest.mark.parametrize("after", [0, 1000])
def test_a_disk_that_fills_partway_through_the_write_keeps_the_old_file(old_file, monkeypatch, after):
    write, _sendfile = _fills_up(after)
    monkeypatch.setattr(_io.os, "write", write)
    with pytest.raises(_io.WriteError) as info:
        _io.atomic_write(str(old_file), "x" * 5000)
    assert str(info.value) == ("cannot write %s: no space left on the file system (ENOSPC); the file was left as it "
                               "was" % old_file)
    assert (info.value.path, info.value.errno) == (str(old_file), errno.ENOSPC)
    assert old_file.read_bytes() == b'{"old": true}\n'
    assert os.listdir(old_file.parent) == ["state.json"]


@pytest.mark.parametrize("step", ["fsync", "fchmod", "replace"])
@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOSPC, "no space left on the file system (ENOSPC)"),
    (errno.EROFS, "the file system is read-only (EROFS)"),
    (errno.EIO, "an I/O error on the device (EIO)"),
])
def test_a_failed_step_of_the_write_names_the_file_and_the_cause(old_file, monkeypatch, step, code, words):
    monkeypatch.setattr(_io.os, step, _raises(code, os.strerror(code)))
    with pytest.raises(_io.WriteError, match="^cannot write %s: %s; the file was left as it was$"
                       % (re.escape(str(old_file)), re.escape(words))):
        _io.atomic_write(str(old_file), "new")
    assert old_file.read_bytes() == b'{"old": true}\n'
    assert stat.S_IMODE(old_file.stat().st_mode) == 0o640
    assert os.listdir(old_file.parent) == ["state.json"]


@pytest.mark.parametrize(("code", "words"), [
    (errno.EROFS, "the file system is read-only (EROFS)"),
    (errno.EACCES, "permission denied (EACCES)"),
])
def test_a_directory_that_cannot_be_written_names_the_target_not_a_temporary_file(tmp_path, monkeypatch, code, words):
    target = tmp_path / "seccomp.v2.json"

    def mkstemp(prefix, suffix, dir):
        raise OSError(code, os.strerror(code), os.path.join(dir, prefix + "abcdefgh" + suffix))

    monkeypatch.setattr(_io.tempfile, "mkstemp", mkstemp)
    with pytest.raises(_io.WriteError) as info:
        _io.atomic_write(str(target), "{}")
    assert str(info.value) == "cannot write %s: %s; no file was created" % (target, words)
    assert os.listdir(tmp_path) == []


def test_directories_made_for_a_write_that_failed_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(_io.os, "fsync", _raises(errno.ENOSPC, "No space left on device"))
    with pytest.raises(_io.WriteError, match="no space left"):
        _io.atomic_write(str(tmp_path / "web" / "v1" / "state.json"), "{}")
    assert os.listdir(tmp_path) == []


def test_a_directory_that_cannot_be_made_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(_io.os, "mkdir", _raises(errno.EROFS, "Read-only file system"))
    with pytest.raises(_io.WriteError, match=r"cannot write .*/web/state\.json: the file system is read-only"):
        _io.atomic_write(str(tmp_path / "web" / "state.json"), "{}")


def test_a_refusal_by_validate_is_passed_on_as_it_is(old_file):
    def refuse(tmp):
        raise OSError(errno.EINVAL, "refused by the validator")

    with pytest.raises(OSError, match="refused by the validator") as info:
        _io.atomic_write(str(old_file), "new", validate=refuse)
    assert not isinstance(info.value, _io.WriteError)
    assert os.listdir(old_file.parent) == ["state.json"]


@pytest.mark.parametrize("after", [0, 3000])
def test_a_backup_on_a_disk_that_fills_up_leaves_no_partial_copy(tmp_path, monkeypatch, after):
    target = tmp_path / "daemon.json"
    target.write_text("y" * 8000)
    write, sendfile = _fills_up(after)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "sendfile", sendfile)
    with pytest.raises(_io.WriteError, match=r"cannot write the backup .*~ of .*daemon\.json: no space"):
        _io.backup_file(str(target))
    assert os.listdir(tmp_path) == ["daemon.json"]
    assert target.read_text() == "y" * 8000


def test_a_backup_keeps_the_mode_and_times_of_the_original(old_file):
    os.utime(old_file, ns=(1_000_000_000, 2_000_000_000))
    backup = _io.backup_file(str(old_file))
    info = os.stat(backup)
    assert (stat.S_IMODE(info.st_mode), info.st_mtime_ns) == (0o640, 2_000_000_000)
    with open(backup, "rb") as handle:
        assert handle.read() == b'{"old": true}\n'


@pytest.mark.parametrize(("exc", "words"), [
    (OSError(errno.ENOSPC, "No space left on device"), "no space left on the file system (ENOSPC)"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "the disk quota is exhausted (EDQUOT)"),
    (OSError(errno.EROFS, "Read-only file system"), "the file system is read-only (EROFS)"),
    (OSError(errno.EACCES, "Permission denied"), "permission denied (EACCES)"),
    (OSError(errno.ENOTDIR, "Not a directory"), "Not a directory (ENOTDIR)"),
    (OSError("no errno"), "no errno"),
])
def test_cause_says_what_the_system_refused(exc, words):
    assert _io.cause(exc) == words
