"""Tests for the shared safe-write helper."""

from __future__ import annotations

import os
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
