"""The real modules on a full disk and a read-only file system, without Docker (needs root for ``mount``).

- A 64 KiB tmpfs holds the runbook's files; it is filled up to the last page (``full``), or to all but one page
  (``almost-full``: a write starts, then runs out of room partway).
- A read-only bind mount of a directory holding the same files (``read-only``).

Each writer (container_state's transitions, with the migration backup; seccomp_profile; profile_widen with a dest;
security_events keeping an events file; apparmor_profile with load: false; state_file, which writes the review
reports and puts daemon.json back) must fail with a message naming the file
and the cause - not a traceback, not "Module failed" - and leave every file of the directory as it was, byte for
byte, with no temporary file, partial file or backup beside it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess

import pytest
from conftest import ROOT, run_module

from ansible_collections.confine.docker.plugins.module_utils._events import Collector, SyscallResolver
from ansible_collections.confine.docker.plugins.module_utils._seccomp_docker import ALLOW_GROUPS

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("local_interpreter")]

FIXTURES = os.path.join(ROOT, "tests", "unit", "fixtures")
NAME = "st13-capture"  # the container of the legacy state fixture
FRESH = "disk14-new"
ENTRY = {"name": FRESH, "image": "confine-lab/base:bookworm", "run": {"command": ["sleep", "infinity"]}}
CURSOR = {"source": "audit", "version": 1, "audit_lost": 0, "files": []}
LOG_PROFILE = {"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}
AA_NAME = "confine-disk14-web"
# Long enough (comments) that its write starts in the one free page and runs out of room.
AA_TEXT = "#include <tunables/global>\n%sprofile %s flags=(complain) {\n  #include <abstractions/base>\n  file,\n}\n" \
    % ("".join("# a comment to make the profile longer than a page of the file system, line %04d\n" % n
               for n in range(80)), AA_NAME)
PAGE = 4096
BACKUP = "daemon.json.4242.2026-12-01@10:00:00~"

CAUSES = {
    "full": "no space left on the file system (ENOSPC)",
    "almost-full": "no space left on the file system (ENOSPC)",
    "read-only": "the file system is read-only (EROFS)",
}


def _mount(*args):
    proc = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "mount %s: %s" % (" ".join(args), proc.stderr)


def _umount(path):
    subprocess.run(["umount", str(path)], capture_output=True, check=False)


def _prepare(directory):
    """The files the writers find: a legacy state with its events, a seccomp profile, a version to widen into, an
    events file and an AppArmor profile."""
    state = directory / "state" / NAME
    state.mkdir(parents=True)
    (directory / "state" / FRESH).mkdir()
    shutil.copy(os.path.join(FIXTURES, "state", "enforced.json"), state / "state.json")
    for name in ("seccomp.v1.json", "seccomp.v2.json"):
        (state / name).write_text(json.dumps(LOG_PROFILE) + "\n")
    (state / "events.v1.json").write_text('{"apparmor": [], "cursor": {}, "lost": [], "seccomp": [], '
                                          '"suspicious": []}\n')
    (directory / "seccomp").mkdir()
    (directory / "seccomp" / ("%s.json" % AA_NAME)).write_text(json.dumps(LOG_PROFILE) + "\n")
    (directory / "apparmor").mkdir()
    (directory / "apparmor" / AA_NAME).write_text("profile %s {\n}\n" % AA_NAME)
    (directory / "docker").mkdir()
    (directory / "docker" / "daemon.json").write_text('{"icc": false}\n')
    # A backup longer than a page, so that putting it back runs out of room partway on the almost full disk.
    (directory / "docker" / BACKUP).write_text(json.dumps({"labels": ["label-%04d" % n for n in range(500)]}) + "\n")


def _fill(directory, leave):
    """Fill the file system of ``directory`` up, then free ``leave`` pages."""
    filler = directory / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * PAGE)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    finally:
        os.close(fd)
    os.truncate(filler, max(0, os.path.getsize(filler) - leave * PAGE))
    return filler


@pytest.fixture(params=list(CAUSES))
def disk(request, tmp_path):
    """``(kind, directory)``: a directory with the runbook's files on a full tmpfs or a read-only bind mount."""
    assert os.geteuid() == 0, "these tests mount file systems: run them as root"
    kind = request.param
    mounted = []
    try:
        if kind == "read-only":
            source, where = tmp_path / "rw", tmp_path / "ro"
            source.mkdir()
            where.mkdir()
            _prepare(source)
            _mount("--bind", str(source), str(where))
            mounted.append(where)
            _mount("-o", "remount,ro,bind", str(where))
        else:
            where = tmp_path / "tmpfs"
            where.mkdir()
            _mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(where))
            mounted.append(where)
            _prepare(where)
            _fill(where, leave=0 if kind == "full" else 1)
        yield kind, where
    finally:
        for path in reversed(mounted):
            _umount(path)


def snapshot(directory):
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            if name != ".filler":
                with open(path, "rb") as handle:
                    found[os.path.relpath(path, directory)] = handle.read()
    return found


def check_failed(result, path, kind):
    assert result.get("failed"), result
    message = result["msg"]
    assert "Module failed" not in message and "Traceback" not in message, message
    # A module that failed on its own (fail_json) has no traceback; one that crashed has it and its stderr.
    assert "module_stderr" not in result and result.get("exception", "(traceback unavailable)") == \
        "(traceback unavailable)", result
    # The file itself, or (backup: true) the copy of it taken first.
    assert ("cannot write %s: %s" % (path, CAUSES[kind]) in message
            or ("cannot write the backup %s." % path in message and " of %s: %s" % (path, CAUSES[kind]) in message)), \
        message


def test_container_state_transitions_keep_the_state(disk):
    kind, where = disk
    before = snapshot(where)
    dirs = {"state_dir": str(where / "state"), "seccomp_dir": str(where / "seccomp"),
            "apparmor_dir": str(where / "apparmor"), "apparmor": False}
    # A legacy state: its first write migrates it, with a backup (backup: true as well).
    rollback = run_module("confine.docker.container_state", dict(dirs, name=NAME, action="rollback",
                                                                 target="baseline", backup=True))
    check_failed(rollback, where / "state" / NAME / "state.json", kind)
    assert rollback["msg"].startswith("the state of %s cannot be written: " % NAME)
    if kind != "almost-full":  # a first state.json fits in the one free page
        trial = run_module("confine.docker.container_state", dict(dirs, name=FRESH, action="start_trial",
                                                                  entry=ENTRY, cursor=CURSOR, clock=1796151338.5))
        check_failed(trial, where / "state" / FRESH / "state.json", kind)
        assert "no file was created" in trial["msg"]
    # Reading still works, and reads the state as it was.
    read = run_module("confine.docker.container_state", dict(dirs, name=NAME))
    assert not read.get("failed") and read["state"]["mode"] == "enforce" and read["state"]["version"] == 2
    assert snapshot(where) == before


def test_seccomp_profile_keeps_the_deployed_profile(disk):
    kind, where = disk
    before = snapshot(where)
    path = where / "seccomp" / ("%s.json" % AA_NAME)
    result = run_module("confine.docker.seccomp_profile", {"path": str(path), "base": "docker_default",
                                                           "mode": "log", "backup": True})
    check_failed(result, path, kind)
    assert snapshot(where) == before


@pytest.fixture(scope="module")
def events():
    collector = Collector(resolver=SyscallResolver())
    with open(os.path.join(FIXTURES, "events", "audit.log"), encoding="utf-8") as handle:
        for line in handle:
            collector.feed_line(line.rstrip("\n"))
    return dict(collector.result(), changed=False, source="file", cursor={})


def test_profile_widen_keeps_the_version_at_dest(disk, events):
    kind, where = disk
    before = snapshot(where)
    state = where / "state" / NAME
    # Many syscalls in the trial, so that the new version is longer than a page.
    wide = dict(events, seccomp=[dict(events["seccomp"][0], syscall=name, container="web")
                                 for names in ALLOW_GROUPS.values() for name in names])
    result = run_module("confine.docker.profile_widen", {
        "kind": "seccomp", "src": str(state / "seccomp.v1.json"), "dest": str(state / "seccomp.v2.json"),
        "events": wide, "containers": ["web"], "approve": ["unshare"], "backup": True, "baseline": "none"})
    check_failed(result, state / "seccomp.v2.json", kind)
    assert snapshot(where) == before


def test_security_events_keeps_the_events_file(disk, tmp_path):
    kind, where = disk
    before = snapshot(where)
    dest = where / "state" / NAME / "events.v1.json"
    result = run_module("confine.docker.security_events", {
        "source": "file", "paths": [os.path.join(FIXTURES, "events", "audit.log")], "dest": str(dest),
        "resolve_containers": False})
    check_failed(result, dest, kind)
    assert snapshot(where) == before


def test_apparmor_profile_without_load_keeps_the_installed_file(disk):
    kind, where = disk
    before = snapshot(where)
    path = where / "apparmor" / AA_NAME
    result = run_module("confine.docker.apparmor_profile", {"name": AA_NAME, "content": AA_TEXT, "path": str(path),
                                                            "mode": "complain", "load": False, "backup": True})
    check_failed(result, path, kind)
    assert snapshot(where) == before


def test_state_file_keeps_the_report_and_daemon_json(disk):
    kind, where = disk
    before = snapshot(where)
    report = where / "state" / NAME / "report.v2.md"
    written = run_module("confine.docker.state_file", {"path": str(report), "content": "# Review\n" * 1000})
    check_failed(written, report, kind)
    # daemon.json put back from its backup.
    daemon = where / "docker" / "daemon.json"
    copied = run_module("confine.docker.state_file", {"path": str(daemon), "src": str(where / "docker" / BACKUP),
                                                      "mode": "preserve"})
    check_failed(copied, daemon, kind)
    assert snapshot(where) == before


def test_the_same_writes_succeed_once_there_is_room(tmp_path, events):
    """The writes above are ones that work on a disk with room: their failure is the disk's."""
    _prepare(tmp_path)
    state = tmp_path / "state" / NAME
    dirs = {"state_dir": str(tmp_path / "state"), "seccomp_dir": str(tmp_path / "seccomp"),
            "apparmor_dir": str(tmp_path / "apparmor"), "apparmor": False}
    results = [
        run_module("confine.docker.container_state", dict(dirs, name=NAME, action="rollback", target="baseline",
                                                          backup=True)),
        run_module("confine.docker.container_state", dict(dirs, name=FRESH, action="start_trial", entry=ENTRY,
                                                          cursor=CURSOR, clock=1796151338.5)),
        run_module("confine.docker.seccomp_profile", {"path": str(tmp_path / "seccomp" / ("%s.json" % AA_NAME)),
                                                      "base": "docker_default", "mode": "log", "backup": True}),
        run_module("confine.docker.profile_widen", {
            "kind": "seccomp", "src": str(state / "seccomp.v1.json"), "dest": str(state / "seccomp.v2.json"),
            "events": events, "containers": ["web"], "approve": ["unshare"], "backup": True, "baseline": "none"}),
        run_module("confine.docker.security_events", {
            "source": "file", "paths": [os.path.join(FIXTURES, "events", "audit.log")],
            "dest": str(state / "events.v1.json"), "resolve_containers": False}),
        run_module("confine.docker.apparmor_profile", {"name": AA_NAME, "content": AA_TEXT, "load": False,
                                                       "path": str(tmp_path / "apparmor" / AA_NAME), "backup": True,
                                                       "mode": "complain"}),
        run_module("confine.docker.state_file", {"path": str(state / "report.v2.md"), "content": "# Review\n" * 1000}),
        run_module("confine.docker.state_file", {"path": str(tmp_path / "docker" / "daemon.json"),
                                                 "src": str(tmp_path / "docker" / BACKUP), "mode": "preserve"}),
    ]
    for result in results:
        assert not result.get("failed") and result["changed"], result
