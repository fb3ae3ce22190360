"""Every module that writes a file of the runbook, on a full disk and a read-only file system (faked).

Each writer must fail with a message naming the file and the cause, leave no temporary file, partial file or stray
backup, and keep the previous file byte for byte.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil

import pytest
from _harness import run_module
from ansible.module_utils import basic

from ansible_collections.confine.docker.plugins.module_utils import _io
from ansible_collections.confine.docker.plugins.modules import (
    apparmor_profile,
    container_state,
    daemon_config,
    profile_widen,
    seccomp_profile,
    security_events,
    state_file,
)

HERE = os.path.dirname(__file__)
EVENTS = os.path.join(HERE, "..", "..", "fixtures", "events")
STATES = os.path.join(HERE, "..", "..", "fixtures", "state")
NAME = "st13-capture"
LOG_PROFILE = {"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}
AA_NAME = "aatest-unit"
AA_OLD = "#include <tunables/global>\nprofile %s {\n  #include <abstractions/base>\n}\n" % AA_NAME
AA_NEW = "#include <tunables/global>\nprofile %s {\n  #include <abstractions/base>\n  file,\n}\n" % AA_NAME

# (fault, the words of its cause in the message)
FAULTS = {
    "full-partway": "no space left on the file system (ENOSPC)",
    "full-at-fsync": "no space left on the file system (ENOSPC)",
    "read-only-rename": "the file system is read-only (EROFS)",
    "read-only-directory": "the file system is read-only (EROFS)",
    "no-permission": "permission denied (EACCES)",
}


def _fd_path(fd):
    return os.readlink("/proc/self/fd/%d" % fd)


@pytest.fixture
def fault(monkeypatch):
    """``fault(kind, directory)``: make writes into ``directory`` fail the way ``kind`` says; writes elsewhere (the
    parser's and dockerd's check copies in the temporary directory) work."""

    def inject(kind, directory):
        directory = os.path.realpath(str(directory)) + os.sep

        def inside(path):
            return os.path.realpath(path).startswith(directory)

        real_write, real_fsync, real_replace, real_mkstemp = os.write, os.fsync, os.replace, _io.tempfile.mkstemp
        taken = {}

        def write(fd, data):
            if not inside(_fd_path(fd)):
                return real_write(fd, data)
            if taken.get(fd):
                raise OSError(errno.ENOSPC, "No space left on device")
            taken[fd] = True
            return real_write(fd, bytes(data[: max(1, len(data) // 2)]))

        def fsync(fd):
            if inside(_fd_path(fd)):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_fsync(fd)

        def replace(src, dst):
            if inside(dst):
                raise OSError(errno.EROFS, "Read-only file system", src, None, dst)
            return real_replace(src, dst)

        def mkstemp(suffix=None, prefix=None, dir=None, text=False):
            if dir is not None and inside(os.path.join(dir, "x")):
                code = errno.EACCES if kind == "no-permission" else errno.EROFS
                raise OSError(code, os.strerror(code), os.path.join(dir, (prefix or "") + "zzzzzzzz" + (suffix or "")))
            return real_mkstemp(suffix=suffix, prefix=prefix, dir=dir, text=text)

        if kind == "full-partway":
            monkeypatch.setattr(os, "write", write)
        elif kind == "full-at-fsync":
            monkeypatch.setattr(os, "fsync", fsync)
        elif kind == "read-only-rename":
            monkeypatch.setattr(os, "replace", replace)
        else:
            monkeypatch.setattr(_io.tempfile, "mkstemp", mkstemp)

    return inject


def snapshot(directory):
    """Every file under ``directory`` with its bytes."""
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, directory)] = handle.read()
    return found


def assert_failed_cleanly(result, path, kind, before, directory):
    assert result["failed"], result
    # The file itself, or the backup of it that backup: true takes first.
    assert re.search(r"cannot write (the backup %s\.\S+~ of )?%s: %s" % (
        re.escape(str(path)), re.escape(str(path)), re.escape(FAULTS[kind])), result["msg"]), result["msg"]
    assert "Traceback" not in result["msg"] and "exception" not in result
    assert snapshot(directory) == before


def bytes_of(path):
    with open(path, "rb") as handle:
        return handle.read()


# --- container_state: a transition's state.json and the migration backup ---------------------------------------------

@pytest.mark.parametrize("kind", FAULTS)
def test_container_state_keeps_the_old_state_and_leaves_no_backup(tmp_path, fault, kind):
    directory = tmp_path / "state" / NAME
    directory.mkdir(parents=True)
    shutil.copy(os.path.join(STATES, "enforced.json"), directory / "state.json")
    before = snapshot(tmp_path)
    fault(kind, directory)
    result = run_module(container_state.main, {
        "name": NAME, "apparmor": False, "action": "rollback", "target": "baseline", "backup": True,
        "state_dir": str(tmp_path / "state"), "seccomp_dir": str(tmp_path / "seccomp"),
        "apparmor_dir": str(tmp_path / "apparmor")})
    # A legacy state is migrated on its first write, with a backup: neither may be left half done.
    assert_failed_cleanly(result, directory / "state.json", kind, before, tmp_path)
    assert result["msg"].startswith("the state of %s cannot be written: " % NAME)


@pytest.mark.parametrize("kind", FAULTS)
def test_container_state_first_write_creates_nothing(tmp_path, fault, kind):
    (tmp_path / "state" / NAME).mkdir(parents=True)
    fault(kind, tmp_path)
    result = run_module(container_state.main, {
        "name": NAME, "apparmor": False, "action": "start_trial", "state_dir": str(tmp_path / "state"),
        "entry": {"name": NAME, "image": "confine-lab/base:bookworm", "run": {"command": ["sleep", "infinity"]}},
        "cursor": {"source": "audit", "version": 1, "audit_lost": 0, "files": []}, "clock": 1.0})
    assert_failed_cleanly(result, tmp_path / "state" / NAME / "state.json", kind, {}, tmp_path)
    assert "no file was created" in result["msg"]


# --- seccomp_profile -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", FAULTS)
def test_seccomp_profile_keeps_the_old_profile_and_leaves_no_backup(tmp_path, fault, kind):
    path = tmp_path / "confine-web.json"
    path.write_text(json.dumps(LOG_PROFILE))
    before = snapshot(tmp_path)
    fault(kind, tmp_path)
    result = run_module(seccomp_profile.main, {"path": str(path), "base": "docker_default", "mode": "log",
                                               "backup": True})
    assert_failed_cleanly(result, path, kind, before, tmp_path)


# --- profile_widen with a dest ----------------------------------------------------------------------------------------

@pytest.fixture()
def events(audit_events):
    return dict(audit_events, changed=False, source="file", cursor={})


@pytest.mark.parametrize("kind", FAULTS)
def test_profile_widen_keeps_the_old_version_and_leaves_no_backup(tmp_path, fault, kind, events):
    src, dest = tmp_path / "seccomp.v1.json", tmp_path / "seccomp.v2.json"
    src.write_text(json.dumps(LOG_PROFILE))
    dest.write_text(json.dumps(LOG_PROFILE))
    before = snapshot(tmp_path)
    fault(kind, tmp_path)
    result = run_module(profile_widen.main, {"kind": "seccomp", "src": str(src), "dest": str(dest), "backup": True,
                                             "events": events, "containers": ["web"]})
    assert_failed_cleanly(result, dest, kind, before, tmp_path)


# --- apparmor_profile, load: false ------------------------------------------------------------------------------------

@pytest.fixture
def parser(monkeypatch):
    """apparmor_parser's compile check (-QK) and profile names (-N); nothing else may be called."""

    def run_command(self, argv, **_kwargs):
        if argv[1] == "-QK":
            return 0, "", ""
        if argv[1] == "-N":
            return 0, AA_NAME + "\n", ""
        raise AssertionError("unexpected apparmor_parser call %r" % (argv,))

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, *a, **kw: "/sbin/apparmor_parser")


@pytest.mark.parametrize("kind", FAULTS)
def test_apparmor_profile_keeps_the_old_file_and_leaves_no_backup(tmp_path, fault, kind, parser):
    path = tmp_path / AA_NAME
    path.write_text(AA_OLD)
    before = snapshot(tmp_path)
    fault(kind, tmp_path)
    result = run_module(apparmor_profile.main, {"name": AA_NAME, "content": AA_NEW, "path": str(path),
                                                "load": False, "backup": True})
    assert_failed_cleanly(result, path, kind, before, tmp_path)


# --- security_events, the events file ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", FAULTS)
def test_security_events_keeps_the_old_events_file(tmp_path, fault, kind, monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, *a, **kw: None)
    log, dest = tmp_path / "log" / "audit.log", tmp_path / "state" / "events.v1.json"
    log.parent.mkdir()
    dest.parent.mkdir()
    shutil.copy(os.path.join(EVENTS, "audit.log"), log)
    dest.write_text('{"apparmor": [], "seccomp": [], "lost": [], "suspicious": [], "cursor": {}}\n')
    before = snapshot(tmp_path)
    fault(kind, dest.parent)
    result = run_module(security_events.main, {"source": "file", "paths": [str(log)], "dest": str(dest)})
    assert_failed_cleanly(result, dest, kind, before, tmp_path)


# --- daemon_config: daemon.json and its backup -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", FAULTS)
def test_daemon_config_keeps_daemon_json_and_leaves_no_backup(tmp_path, fault, kind, monkeypatch):
    monkeypatch.setattr(daemon_config, "dockerd_version", lambda dockerd="dockerd": (20, 10, 24))
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}\n')
    before = snapshot(tmp_path)
    fault(kind, tmp_path)
    result = run_module(daemon_config.main, {"path": str(path), "settings": {"icc": False}, "backup": True})
    assert_failed_cleanly(result, path, kind, before, tmp_path)


# --- state_file: review reports, a spec's version 1, the daemon stage's record and daemon.json put back --------------

@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("source", ["content", "src"])
def test_state_file_keeps_the_old_file(tmp_path, fault, kind, source):
    directory = tmp_path / "state"
    directory.mkdir()
    path = directory / "report.v1.md"
    path.write_text("# Review of web, round 1 (the old one)\n")
    backup = tmp_path / "daemon.json.1.x~"
    backup.write_text("# Review of web, round 1\n" * 100)
    before = snapshot(tmp_path)
    fault(kind, directory)
    args = {"path": str(path), "content": "# Review of web, round 1\n" * 100} if source == "content" else \
        {"path": str(path), "src": str(backup), "mode": "preserve"}
    result = run_module(state_file.main, args)
    assert_failed_cleanly(result, path, kind, before, tmp_path)


def test_a_failed_write_is_not_a_traceback_when_the_backup_itself_fails(tmp_path, fault):
    """The copy that backup: true takes fills the disk: the message names the copy, and nothing is left."""
    path = tmp_path / "confine-web.json"
    path.write_text(json.dumps(LOG_PROFILE) * 50)
    before = snapshot(tmp_path)
    real_write = os.write
    calls = []

    def write(fd, data):
        target = _fd_path(fd)
        if target.startswith(str(tmp_path)) and ".confine-web.json." in target and "~" in target:
            calls.append(target)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "write", write)
        result = run_module(seccomp_profile.main, {"path": str(path), "base": "docker_default", "mode": "log",
                                                   "backup": True})
    assert result["failed"] and calls
    assert "cannot write the backup %s." % path in result["msg"] and FAULTS["full-partway"] in result["msg"]
    assert snapshot(tmp_path) == before


def test_apparmor_profile_that_fails_to_load_and_cannot_be_put_back_says_both(tmp_path, monkeypatch):
    """The new file was written, the kernel refused it, and the disk is full when the old file is put back."""
    path = tmp_path / AA_NAME
    path.write_text(AA_OLD)

    def run_command(self, argv, **_kwargs):
        if argv[1] == "-QK":
            return 0, "", ""
        if argv[1] == "-N":
            return 0, AA_NAME + "\n", ""
        if argv[1:3] == ["-r", "-W"]:
            # The new file is in place; from now on the disk is full.
            monkeypatch.setattr(os, "fsync", _raises_enospc)
            return 1, "", "apparmor_parser: Unable to replace \"%s\".  Permission denied\n" % AA_NAME
        raise AssertionError("unexpected apparmor_parser call %r" % (argv,))

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, *a, **kw: "/sbin/apparmor_parser")
    monkeypatch.setattr(apparmor_profile, "apparmor_enabled", lambda: (True, None))
    monkeypatch.setattr(apparmor_profile, "loaded_profiles", lambda: {AA_NAME: "enforce"})
    result = run_module(apparmor_profile.main, {"name": AA_NAME, "content": AA_NEW, "path": str(path)})
    assert result["failed"]
    assert "apparmor_parser refused to load %s (" % path in result["msg"]
    assert "Unable to replace" in result["msg"]
    assert "the previous file could not be put back: cannot write %s: no space left" % path in result["msg"]
    assert os.listdir(tmp_path) == [AA_NAME]


def _raises_enospc(*_args):
    raise OSError(errno.ENOSPC, "No space left on device")
