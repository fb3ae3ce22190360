"""Whole-module tests for confine.docker.security_events on the fixture logs (docker, auditctl and journalctl faked)."""

from __future__ import annotations

import functools
import json
import os
import shutil

import pytest
from _harness import run_module
from ansible.module_utils import basic

from ansible_collections.confine.docker.plugins.modules import security_events

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "events")
CID = "4f1c0d2b3a5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"


class FakeHost:
    """Answers the commands the module runs: auditctl -s, docker ps/inspect, journalctl."""

    def __init__(self):
        self.bins = {}
        self.audit_status = "enabled 1\npid 0\nlost 0\n"
        self.journal = ""
        self.containers = []
        self.calls = []
        self.warnings = []

    def run_command(self, argv):
        self.calls.append(argv)
        tool = os.path.basename(argv[0])
        if tool == "auditctl":
            return 0, self.audit_status, ""
        if tool == "docker" and argv[1] == "ps":
            return 0, "\n".join(item["Id"] for item in self.containers), ""
        if tool == "docker" and argv[1] == "inspect":
            return 0, json.dumps(self.containers), ""
        if tool == "journalctl":
            return 0, self.journal, ""
        raise AssertionError("unexpected command %r" % argv)


@pytest.fixture
def host(monkeypatch):
    fake = FakeHost()

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: fake.bins.get(name))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **k: fake.run_command(argv))
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, message: fake.warnings.append(message))
    return fake


run = functools.partial(run_module, security_events.main)


def copy(tmp_path, name):
    dest = tmp_path / name
    shutil.copy(os.path.join(FIXTURES, name), dest)
    return dest


def test_file_source_then_incremental(host, tmp_path):
    log = copy(tmp_path, "audit.log")
    first = run({"source": "file", "paths": [str(log)]})
    assert not first["failed"] and first["changed"] is False and first["source"] == "file"
    assert len(first["apparmor"]) == 17 and len(first["seccomp"]) == 5 and first["lost"] == []
    shadow = next(e for e in first["apparmor"] if e["name"] == "/etc/shadow")
    assert shadow["container"] == "web" and shadow["count"] == 1
    json.dumps(first["cursor"])
    # Check mode reads the same and changes nothing; a second call from the cursor finds nothing new.
    assert run({"source": "file", "paths": [str(log)]}, check_mode=True)["apparmor"] == first["apparmor"]
    again = run({"source": "file", "paths": [str(log)], "since": first["cursor"]})
    assert (again["apparmor"], again["seccomp"], again["cursor"]) == ([], [], first["cursor"])
    # New records are read once.
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(
            'type=AVC msg=audit(1700000020.000:900): apparmor="ALLOWED" operation="open" profile="confine-web" '
            'name="/etc/shadow" pid=3199 comm="sh" requested_mask="w" denied_mask="w" fsuid=0 ouid=0\n'
        )
    third = run({"source": "file", "paths": [str(log)], "since": again["cursor"]})
    assert [(e["name"], e["count"], e["comm"]) for e in third["apparmor"]] == [("/etc/shadow", 1, ["sh"])]


def test_kern_source_reports_lost_records_as_warnings(host, tmp_path):
    log = copy(tmp_path, "kern.log")
    result = run({"source": "kern", "paths": [str(log)], "containers": ["web"]})
    kinds = {entry["kind"] for entry in result["lost"]}
    assert kinds == {"printk-ratelimit", "audit-lost", "audit-backlog", "syslog-ratelimit"}
    assert len(host.warnings) == 4 and "callbacks suppressed" in " ".join(host.warnings)
    assert {e["syscall"] for e in result["seccomp"]} == {"mount", "unshare"}


def test_auto_prefers_auditd_and_tracks_its_lost_counter(host, tmp_path, monkeypatch):
    log = copy(tmp_path, "audit.log")
    host.bins["auditctl"] = "/sbin/auditctl"
    host.audit_status = "enabled 1\npid 412\nlost 2\n"
    monkeypatch.setattr(security_events, "detect_source", lambda **kw: "audit" if kw["auditd"] else "dmesg")
    first = run({"paths": [str(log)]})
    assert first["source"] == "audit" and first["cursor"]["audit_lost"] == 2
    assert first["lost"][0]["kind"] == "audit-lost"
    host.audit_status = "enabled 1\npid 412\nlost 2\n"
    assert run({"paths": [str(log)], "since": first["cursor"]})["lost"] == []


def test_journal_source_and_attribution_by_docker(host):
    host.bins.update(journalctl="/usr/bin/journalctl", docker="/usr/bin/docker")
    with open(os.path.join(FIXTURES, "journal.json"), encoding="utf-8") as handle:
        host.journal = handle.read()
    host.containers = [{"Id": CID, "Name": "/frontend", "AppArmorProfile": "confine-web"}]
    result = run({"source": "journal", "containers": ["frontend"]})
    assert result["source"] == "journal" and result["cursor"]["cursor"].startswith("s=")
    assert {e["container"] for e in result["apparmor"] + result["seccomp"]} == {"frontend"}
    assert [c for c in host.calls if "--after-cursor" in " ".join(c)] == []
    run({"source": "journal", "since": result["cursor"]})
    assert "--after-cursor=" + result["cursor"]["cursor"] in host.calls[-1]


def test_trial_window_attributes_log_records(host, tmp_path):
    log = copy(tmp_path, "dmesg.txt")
    window = {"container": "legacy", "start": 1700000014.05, "end": 1700000015}
    result = run({"source": "file", "paths": [str(log)], "trial_window": window, "resolve_containers": False})
    by_name = {e["syscall"]: e["container"] for e in result["seccomp"]}
    # read (x32, SCMP_ACT_LOG, unattributed) falls in the window; bpf is a TRAP; unshare belongs to confine-web.
    assert by_name == {"read": "legacy", "bpf": None, "unshare": "web", "clone3": "web"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"source": "file"}, "paths"),
        ({"source": "file", "paths": ["/nonexistent/audit.log"]}, "does not exist"),
        ({"source": "file", "paths": ["@LOG@"], "since": {"version": 1, "source": "journal", "cursor": "s=1"}},
         "made by source 'journal'"),
        ({"source": "dmesg", "paths": ["/nonexistent/kmsg"]}, "cannot read the kernel log"),
    ],
)
def test_errors(host, tmp_path, args, message):
    log = copy(tmp_path, "audit.log")
    args = json.loads(json.dumps(args).replace("@LOG@", str(log)))
    result = run(args)
    assert result["failed"] and message in result["msg"]


def test_dest_keeps_the_events_file_check_real_check_real(host, tmp_path):
    log = copy(tmp_path, "audit.log")
    dest = tmp_path / "events.v1.json"
    args = {"source": "file", "paths": [str(log)], "dest": str(dest)}
    first = run(args, check_mode=True, diff=True)
    assert not first["failed"] and first["changed"] and not dest.exists()
    assert first["diff"]["before"] == "" and first["dest"] == str(dest)
    second = run(args)
    assert second["changed"] and oct(dest.stat().st_mode & 0o777) == "0o640"
    kept = json.loads(dest.read_text())
    assert sorted(kept) == ["apparmor", "cursor", "lost", "seccomp", "suspicious"]
    assert (kept["apparmor"], kept["cursor"]) == (second["apparmor"], second["cursor"])
    assert dest.read_text() == first["diff"]["after"]
    assert run(args, check_mode=True)["changed"] is False
    assert run(args)["changed"] is False
    assert sorted(os.listdir(tmp_path)) == [
        "audit.log", "events.v1.json"]


def test_dest_in_a_missing_directory_and_a_bad_mode_are_clear_errors(host, tmp_path):
    log = copy(tmp_path, "audit.log")
    missing = run({"source": "file", "paths": [str(log)], "dest": str(tmp_path / "nope" / "events.v1.json")})
    assert missing["failed"] and "directory %s does not exist" % (tmp_path / "nope") in missing["msg"]
    bad = run({"source": "file", "paths": [str(log)], "dest": str(tmp_path / "e.json"), "dest_mode": "rw"})
    assert bad["failed"] and "not an octal file mode" in bad["msg"] and not (tmp_path / "e.json").exists()
