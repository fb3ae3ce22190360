"""Whole-module tests for confine.docker.container_verify with docker, /proc and HTTP faked from real fixtures."""

from __future__ import annotations

import json
import os
import urllib.error

import pytest
from _harness import run_module
from ansible.module_utils import basic

from ansible_collections.confine.docker.plugins.module_utils import _events, _sources, _verify
from ansible_collections.confine.docker.plugins.modules import container_verify

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(UNIT, "fixtures", "verify")


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


class FakeHost:
    """Containers by name (inspect fixture, status fixture, attr text), exec results, HTTP answers, the journal
    (``journalctl -o json`` lines, and whether journald has the audit transport) and ``auditctl -s``."""

    def __init__(self):
        self.containers = {}
        self.proc = {}
        self.exec_rc = {}
        self.http = {}
        self.journal = []
        self.journal_audit = False
        self.journal_rc = 0
        self.auditd_pid = 0
        self.calls = []

    def journalctl(self, argv):
        if "-b" in argv:  # the probe: does journald receive audit records itself this boot
            lines = [entry for entry in self.journal if '"_TRANSPORT": "audit"' in entry] if self.journal_audit else []
            return 0, "".join(line + "\n" for line in lines[-1:]), ""
        if self.journal_rc:
            return self.journal_rc, "", "Failed to open the journal"
        lines = self.journal
        after = [arg.split("=", 1)[1] for arg in argv if arg.startswith("--after-cursor=")]
        if after:
            cursors = [json.loads(line)["__CURSOR"] for line in lines]
            lines = lines[cursors.index(after[0]) + 1 :]
        return 0, "".join(line + "\n" for line in lines), ""

    def add(self, name, inspect, status=None, attr=None, apparmor_attr=None):
        """``attr`` is the text of the shared /proc/<pid>/attr/current, ``apparmor_attr`` the one of AppArmor's own
        /proc/<pid>/attr/apparmor/current (absent when None)."""
        data = json.loads(fixture_text("inspect-%s.json" % inspect))
        self.containers[name] = data
        pid = data[0]["State"]["Pid"]
        if status:
            self.proc["/proc/%d/status" % pid] = fixture_text("status-%s.txt" % status)
        if attr is not None:
            self.proc["/proc/%d/attr/current" % pid] = attr
        if apparmor_attr is not None:
            self.proc["/proc/%d/attr/apparmor/current" % pid] = apparmor_attr

    def run_command(self, module, argv, **kwargs):
        self.calls.append(list(argv))
        if argv[0] == "/usr/bin/timeout":
            argv = argv[2:]
        if argv[0] == "journalctl":
            return self.journalctl(argv)
        if argv == ["auditctl", "-s"]:
            return 0, "enabled 1\npid %d\nlost 0\n" % self.auditd_pid, ""
        assert argv[0] == "/usr/bin/docker", argv
        if argv[1] == "inspect":
            name = argv[-1]
            if name not in self.containers:
                return 1, "[]\n", "Error: No such container: %s\n" % name
            return 0, json.dumps(self.containers[name]), ""
        if argv[1] == "exec":
            rc = self.exec_rc.get(tuple(argv[3:]), 0)
            return rc, "", "" if rc == 0 else "failed: %s\n" % " ".join(argv[3:])
        raise AssertionError("unexpected command %s" % argv)

    def open_url(self, url, **kwargs):
        answer = self.http[url]
        if isinstance(answer, Exception):
            raise answer

        class Response:
            def getcode(self):
                return answer

        return Response()


@pytest.fixture
def host(monkeypatch):
    fake = FakeHost()

    def run_command(self, argv, **kwargs):
        return fake.run_command(self, argv, **kwargs)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/bin/" + os.path.basename(name)

    real_read = container_verify._read

    def read(path):
        if path.startswith("/proc/"):
            return fake.proc.get(path)
        return real_read(path)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(container_verify, "_read", read)
    monkeypatch.setattr(container_verify, "open_url", fake.open_url)
    return fake


def run(args, check_mode=False):
    return run_module(container_verify.main, args, check_mode=check_mode)


def checks(result, index=0):
    return {c["check"]: c for c in result["results"][index]["checks"]}


@pytest.fixture
def seccomp_file(tmp_path):
    path = tmp_path / "confine-web.json"
    # The file on disk is formatted; the container carries the compact JSON the CLI sent.
    path.write_text(json.dumps(json.loads(fixture_text("seccomp-custom.json")), indent=4))
    return str(path)


def test_hardened_container_passes_and_check_mode_is_the_same(host, seccomp_file):
    host.add("web", "custom", "custom")
    host.http["http://127.0.0.1:8080/"] = 200
    args = {
        "containers": [
            {
                "name": "web",
                "seccomp": seccomp_file,
                "capabilities": {},
                "workload": ["demo-workload --quick", ["sh", "-c", "true"]],
                "health": {"url": "http://127.0.0.1:8080/"},
            }
        ]
    }
    result = run(args)
    assert not result["failed"], result
    assert result["changed"] is False and result["passed"] is True and result["failed_checks"] == []
    assert list(checks(result)) == [
        "exists", "running", "seccomp", "seccomp_kernel", "privileged", "no_new_privileges",
        "no_new_privileges_kernel", "capabilities", "capabilities_kernel", "workload[0]", "workload[1]", "health",
    ]
    assert ["/usr/bin/timeout", "30", "/usr/bin/docker", "exec", "web", "demo-workload", "--quick"] in host.calls
    assert ["/usr/bin/docker", "inspect", "--type", "container", "web"] in host.calls
    again = run(args, check_mode=True)
    assert again == result


def test_unconfined_and_extra_capability_are_caught(host):
    host.add("loose", "unconfined", "unconfined")
    host.add("admin", "netadmin", "netadmin")
    result = run(
        {
            "containers": [
                {"name": "loose", "seccomp": "docker-default"},
                {"name": "admin", "seccomp": "docker-default", "no_new_privileges": False, "capabilities": {}},
            ]
        }
    )
    assert not result["failed"] and result["passed"] is False
    assert result["failed_checks"] == [
        "loose: seccomp", "loose: seccomp_kernel", "loose: no_new_privileges", "loose: no_new_privileges_kernel",
        "admin: capabilities", "admin: capabilities_kernel",
    ]
    assert checks(result)["seccomp_kernel"]["actual"] == "0 (disabled)"
    assert checks(result, 1)["capabilities"]["detail"] == (
        "added but not declared: NET_ADMIN; dropped but not declared: MKNOD"
    )


def test_fail_on_mismatch_fails_with_the_results(host):
    host.add("loose", "unconfined", "unconfined")
    result = run({"containers": [{"name": "loose", "seccomp": "docker-default"}], "fail_on_mismatch": True})
    assert result["failed"] is True
    assert result["msg"].startswith("verification failed: loose: seccomp; loose: seccomp_kernel")
    assert result["results"][0]["passed"] is False


def test_missing_container_and_stopped_container(host):
    host.add("gone", "exited")
    result = run({"containers": [{"name": "nope"}, {"name": "gone", "workload": ["true"]}]})
    assert result["failed_checks"] == ["nope: exists", "gone: running", "gone: no_new_privileges", "gone: workload[0]"]
    assert "No such container: nope" in checks(result)["exists"]["detail"]
    # Nothing was run in a stopped container.
    assert not [call for call in host.calls if "exec" in call]


def test_apparmor_enforce_and_privileged(host):
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="confine-it-verify-p (enforce)\n")
    host.add("priv", "vm-privileged", "vm-privileged", attr="unconfined\n")
    result = run(
        {
            "containers": [
                {"name": "aa", "apparmor": "confine-it-verify-p", "seccomp": "docker-default"},
                {"name": "priv", "apparmor": "confine-it-verify-p", "no_new_privileges": False},
            ]
        }
    )
    assert result["results"][0]["passed"] is True, result
    assert checks(result)["apparmor_kernel"]["actual"] == "confine-it-verify-p (enforce)"
    assert result["failed_checks"] == ["priv: apparmor", "priv: apparmor_kernel", "priv: privileged"]


def test_apparmor_4_host_label_is_read_from_apparmors_own_file(host):
    # Debian 13 (Docker 26.1, kernel 6.12): the label is in both files; with another LSM owning attr/current (LSM
    # stacking) only AppArmor's own file shows it, and that one is read.
    host.add("aa", "vm-trixie-apparmor", "vm-trixie-apparmor", attr="system_u:system_r:container_t:s0\n",
             apparmor_attr="confine-x (enforce)\n")
    result = run({"containers": [{"name": "aa", "apparmor": "confine-x", "seccomp": "docker-default"}]})
    assert result["passed"] is True, result
    kernel = checks(result)["apparmor_kernel"]
    assert kernel["actual"] == "confine-x (enforce)"
    assert kernel["detail"] == "/proc/%d/attr/apparmor/current" % host.containers["aa"][0]["State"]["Pid"]


def test_apparmor_4_host_in_complain_mode_fails_naming_the_file(host):
    host.add("aa", "vm-trixie-apparmor", "vm-trixie-apparmor", attr="confine-x (complain)\n",
             apparmor_attr="confine-x (complain)\n")
    result = run({"containers": [{"name": "aa", "apparmor": "confine-x", "seccomp": "docker-default"}]})
    assert result["failed_checks"] == ["aa: apparmor_kernel"]
    kernel = checks(result)["apparmor_kernel"]
    assert kernel["actual"] == "confine-x (complain)" and "attr/apparmor/current" in kernel["detail"]


def test_apparmor_on_a_kernel_without_it(host):
    host.add("web", "nnp", "custom", attr=None)
    result = run({"containers": [{"name": "web", "apparmor": "confine-x"}]})
    assert result["failed_checks"] == ["web: apparmor_kernel"]
    assert checks(result)["apparmor_kernel"]["actual"] == "not available"


def test_health_url_errors_and_status(host):
    host.add("web", "custom", "custom")
    host.http["http://127.0.0.1:1/"] = urllib.error.URLError("[Errno 111] Connection refused")
    host.http["http://127.0.0.1:2/"] = urllib.error.HTTPError("http://127.0.0.1:2/", 503, "Unavailable", {}, None)
    host.http["http://127.0.0.1:3/"] = urllib.error.HTTPError("http://127.0.0.1:3/", 401, "Unauthorized", {}, None)
    args = {"containers": [{"name": "web", "health": {"url": "http://127.0.0.1:%d/" % port}} for port in (1, 2)]}
    args["containers"].append({"name": "web", "health": {"url": "http://127.0.0.1:3/", "status": [401]}})
    # The same container three times is refused: the names must be unique.
    assert "more than once: web" in run(args)["msg"]
    for index, container in enumerate(args["containers"]):
        result = run({"containers": [container]})
        health = checks(result)["health"]
        assert health["passed"] is (index == 2), health
    assert "Connection refused" in checks(run({"containers": [args["containers"][0]]}))["health"]["detail"]


def test_workload_failure_detail(host):
    host.add("web", "custom", "custom")
    host.exec_rc[("demo-workload",)] = 2
    result = run({"containers": [{"name": "web", "workload": ["demo-workload"], "health": {"command": "test -e /"}}]})
    assert result["failed_checks"] == ["web: workload[0]"]
    assert checks(result)["workload[0]"]["detail"] == "demo-workload exited 2: failed: demo-workload"
    assert checks(result)["health"]["passed"] is True


def test_seccomp_file_missing_fails_the_check_not_the_task(host, tmp_path):
    host.add("web", "custom", "custom")
    result = run({"containers": [{"name": "web", "seccomp": str(tmp_path / "missing.json")}]})
    assert not result["failed"]
    assert result["failed_checks"] == ["web: seccomp"]
    assert "cannot be read" in checks(result)["seccomp"]["detail"]


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"name": "web", "seccomp": "relative.json"}, "container web: 'seccomp' must be an absolute path"),
        ({"name": "web", "capabilities": {"add": ["CAP_FLY"]}}, "unknown capability 'CAP_FLY'"),
        ({"name": "web", "health": {"url": "http://x/", "command": "true"}}, "mutually exclusive"),
        ({"name": "web", "apparmor": "p", "denied_since": "soon"}, "not an RFC 3339 timestamp"),
        ({"name": "web", "apparmor_mode": "audit"}, "apparmor_mode"),
    ],
)
def test_bad_input_fails_before_docker_is_asked(host, container, message):
    host.add("web", "custom", "custom")
    result = run({"containers": [container]})
    assert result["failed"] is True and message in result["msg"]
    assert host.calls == []


def write_log(path, lines):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


PROFILE = "confine-it-verify-p"
AA = {"name": "aa", "apparmor": PROFILE}


def audit_lines():
    return fixture_text("audit.log").splitlines()


def record_parts(line):
    """``(type number, sec, ms, serial, body)`` of an auditd line of the fixture."""
    rtype, sec, ms, serial, body = _events.split_record(line, ("audit",))
    return {"AVC": 1400, "SYSCALL": 1300}[rtype], sec, ms, serial, body


def kernel_message(line):
    number, sec, ms, serial, body = record_parts(line)
    return "audit: type=%d audit(%d.%03d:%d): %s" % (number, sec, ms, serial, body)


def journal_entry(index, line, transport="kernel"):
    """One ``journalctl -o json`` line holding the record of an auditd line, as journald stores it."""
    number, sec, ms, serial, body = record_parts(line)
    entry = {"__CURSOR": "s=5e;i=%x;b=77" % index, "_TRANSPORT": transport}
    if transport == "kernel":
        entry.update(MESSAGE=kernel_message(line), SYSLOG_FACILITY="0")
    else:
        entry.update(MESSAGE="AVC " + body, _AUDIT_TYPE=str(number), _AUDIT_ID=str(serial),
                     _SOURCE_REALTIME_TIMESTAMP=str((sec * 1000 + ms) * 1000))
    return json.dumps(entry)


@pytest.fixture
def journald(host, tmp_path, monkeypatch):
    """A host where auditd does not run and journald does: the source auto picks the journal."""
    runtime = tmp_path / "journal-runtime"
    runtime.mkdir()
    monkeypatch.setattr(_sources, "JOURNAL_RUNTIME", str(runtime))
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="%s (enforce)" % PROFILE)
    host.journal = [journal_entry(index, line) for index, line in enumerate(audit_lines())]
    return host


def test_auto_on_a_journald_host_reads_the_journal_for_a_time(journald):
    # container_start is State.StartedAt (14:47:42.75): the older /etc/gshadow denial (14:43:20) is not counted.
    denied = checks(run({"containers": [dict(AA, denied_since="container_start")]}))["denied"]
    assert denied["actual"] == 2 and not denied["passed"], denied
    assert denied["detail"].startswith("2 DENIED record(s) in journal; latest: open /etc/shadow "
                                       "(profile=%s//null-/usr/bin/dash " % PROFILE)
    assert ["auditctl", "-s"] in journald.calls
    assert any(call[0] == "journalctl" and "_TRANSPORT=kernel" in call for call in journald.calls)
    assert checks(run({"containers": [dict(AA, denied_since=0)]}))["denied"]["actual"] == 3
    later = checks(run({"containers": [dict(AA, denied_since=1795445300)]}))["denied"]
    assert later == {"check": "denied", "passed": True, "expected": "0 since 1795445300", "actual": 0,
                     "detail": "searched journal"}


def test_journal_with_the_audit_transport_counts_each_record_once(journald):
    lines = audit_lines()
    journald.journal_audit = True
    journald.journal = [entry for index, line in enumerate(lines)
                        for entry in (journal_entry(2 * index, line), journal_entry(2 * index + 1, line, "audit"))]
    denied = checks(run({"containers": [dict(AA, denied_since=0)]}))["denied"]
    assert denied["actual"] == 3, denied


def test_journal_cursor_of_security_events(journald):
    lines = audit_lines()
    journald.journal = [journal_entry(index, line) for index, line in enumerate(lines[:4])]
    cursor = {"version": 1, "source": "journal", "cursor": json.loads(journald.journal[-1])["__CURSOR"]}
    container = dict(AA, denied_since=cursor)
    assert checks(run({"containers": [container]}))["denied"]["actual"] == 0
    journald.journal += [journal_entry(index, line) for index, line in enumerate(lines[4:], start=4)]
    denied = checks(run({"containers": [container]}))["denied"]
    assert denied["actual"] == 2 and denied["expected"] == "0 since the cursor", denied
    assert ["journalctl", "--after-cursor=" + cursor["cursor"]] == [
        arg for arg in journald.calls[-1] if arg.startswith("--after") or arg == "journalctl"
    ]
    # journald's notice that it missed kernel messages after the cursor: the records may be incomplete.
    journald.journal.append(json.dumps({"__CURSOR": "s=5e;i=ff;b=77", "_TRANSPORT": "driver",
                                        "MESSAGE": "Missed 3 kernel messages"}))
    noted = checks(run({"containers": [container]}))["denied"]
    assert noted["actual"] == 2 and noted["detail"].endswith("; records were dropped (journal-missed)"), noted
    # Before a time no notice is placed in time: none is reported.
    assert "dropped" not in checks(run({"containers": [dict(AA, denied_since=0)]}))["denied"]["detail"]
    # The role passes the trial's source: the same source reads the cursor; another one is bad input.
    assert checks(run({"containers": [container], "source": "journal"}))["denied"]["actual"] == 2
    calls = len(journald.calls)
    wrong = run({"containers": [container], "source": "audit"})
    assert wrong["failed"] and "made by source 'journal' but this call reads 'audit'" in wrong["msg"]
    assert len(journald.calls) == calls


def test_journal_that_cannot_be_read_fails_the_check_not_the_task(journald):
    journald.journal_rc = 1
    result = run({"containers": [dict(AA, denied_since=0)]})
    assert not result["failed"]
    denied = checks(result)["denied"]
    assert not denied["passed"] and denied["actual"] is None
    assert "journalctl failed (rc=1): Failed to open the journal" in denied["detail"]


def test_time_string_from_state_is_a_time_not_a_cursor(journald):
    # state.json's cursor may be a timestamp (an RFC 3339 string); the role passes it on as it is.
    denied = checks(run({"containers": [dict(AA, denied_since="2026-11-23T14:48:00.5Z")]}))["denied"]
    assert denied["actual"] == 1 and denied["expected"] == "0 since 2026-11-23T14:48:00.5Z"


def test_audit_source_follows_rotation_with_a_security_events_cursor(host, tmp_path):
    """security_events' own cursor: the log rotates twice after it, nothing is read twice."""
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="%s (enforce)" % PROFILE)
    lines = audit_lines()
    log = tmp_path / "audit.log"
    write_log(str(log), lines[:4])  # the older /etc/gshadow denial is already behind the cursor
    cursor, _stats = _sources.read_files([str(log)], _events.Collector(), source="audit")
    container = dict(AA, denied_since=cursor)
    args = {"containers": [container], "source": "audit", "paths": [str(log)]}
    assert checks(run(args))["denied"]["actual"] == 0
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(lines[4] + "\n")
    os.rename(log, str(log) + ".1")
    write_log(str(log), lines[5:7])
    os.rename(str(log) + ".1", str(log) + ".2")
    os.rename(log, str(log) + ".1")
    write_log(str(log), lines[7:8])
    denied = checks(run(args))["denied"]
    assert denied["actual"] == 2, denied
    assert "/etc/gshadow" not in denied["detail"]
    assert denied["detail"].startswith("2 DENIED record(s) in audit (%s.2, %s.1, %s); " % (log, log, log))
    # Without paths the source auto takes the cursor's source; the files it reads are the audit source's defaults.
    assert checks(run({"containers": [container], "paths": [str(log)]}))["denied"]["actual"] == 2


def test_auto_with_auditd_reads_the_audit_log_for_a_time(host, monkeypatch):
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="%s (enforce)" % PROFILE)
    host.add("bb", "vm-apparmor", "vm-apparmor", attr="%s (enforce)" % PROFILE)
    host.auditd_pid = 412
    seen = {}

    def detect(**kwargs):
        seen.update(kwargs)
        return "audit"

    monkeypatch.setattr(_verify, "detect_source", detect)
    monkeypatch.setattr(_sources, "AUDIT_LOG", os.path.join(FIXTURES, "audit.log"))
    monkeypatch.setattr(_sources, "default_paths", lambda source, exists=None: [os.path.join(FIXTURES, "audit.log")])
    result = run({"containers": [dict(AA, denied_since=0), dict(AA, name="bb", denied_since=0)]})
    assert seen == {"auditd": True, "journal": None}
    assert [checks(result, index)["denied"]["actual"] for index in (0, 1)] == [3, 3]
    assert host.calls.count(["auditctl", "-s"]) == 1  # auto is resolved once per task


def test_kern_source_and_the_legacy_log_paths_and_dmesg(host, tmp_path, monkeypatch):
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="%s (enforce)" % PROFILE)
    lines = audit_lines()
    kern = tmp_path / "kern.log"
    write_log(str(kern) + ".1", ["Nov 23 14:47:56 vm kernel: [  512.3] " + kernel_message(line) for line in lines[:5]])
    write_log(str(kern), ["Nov 23 14:48:10 vm kernel: [  526.1] " + kernel_message(line) for line in lines[5:]])
    audit = tmp_path / "audit.log"
    write_log(str(audit), lines[4:5])  # serial 138 again, counted once
    boot_id = _sources._boot_id()
    messages = [line.split("] ", 1)[1] for line in fixture_text("dmesg.txt").splitlines()[1:3]]
    ring = [b"6,%d,5120000,-;%s\n" % (901 + index, message.encode()) for index, message in enumerate(messages)]
    monkeypatch.setattr(_sources, "kmsg_records", lambda path: iter(ring))
    args = {"containers": [dict(AA, denied_since="container_start")], "source": "kern", "paths": [str(kern)]}
    denied = checks(run(args))["denied"]
    assert denied["actual"] == 2
    assert denied["detail"].startswith("2 DENIED record(s) in kern (%s.1, %s);" % (kern, kern))
    more = checks(run(dict(args, log_paths=[str(audit), str(tmp_path / "missing.log")], dmesg=True)))["denied"]
    # 138 (kern.log, audit.log and the ring buffer), 151 (child profile), 160 (the ring buffer only).
    assert more["actual"] == 3, more
    assert more["detail"].startswith("3 DENIED record(s) in kern (%s.1, %s, %s, dmesg); latest: open /root/.ssh/id_rsa"
                                     % (kern, kern, audit))
    # A cursor belongs to one place: log_paths and dmesg are not read with it.
    cursor = {"version": 1, "source": "dmesg", "boot_id": boot_id, "seq": 901}
    only = checks(run({"containers": [dict(AA, denied_since=cursor)], "log_paths": [str(audit)], "dmesg": True}))
    assert only["denied"]["actual"] == 1 and "id_rsa" in only["denied"]["detail"]


def test_dmesg_source_for_a_time_and_a_cursor(host, monkeypatch):
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="%s (enforce)" % PROFILE)
    ring = [b"6,%d,5120000,-;%s\n" % (700 + index, kernel_message(line).encode())
            for index, line in enumerate(audit_lines())]
    ring.insert(0, b"12,699,5000000,-;audit: type=1400 audit(1795445299.000:169): apparmor=\"DENIED\" "
                   b"operation=\"open\" profile=\"confine-it-verify-p\" name=\"/forged\" comm=\"sh\"\n")
    monkeypatch.setattr(_sources, "kmsg_records", lambda path: iter(ring))
    denied = checks(run({"containers": [dict(AA, denied_since=0)], "source": "dmesg"}))["denied"]
    assert denied["actual"] == 3 and "/forged" not in denied["detail"], denied  # user space wrote that one
    cursor = {"version": 1, "source": "dmesg", "boot_id": _sources._boot_id(), "seq": 704}
    after = checks(run({"containers": [dict(AA, denied_since=cursor)]}))["denied"]
    assert after["actual"] == 1 and "confine-it-verify-p//null-/usr/bin/dash" in after["detail"]
    # A cursor of another boot: the whole ring buffer is after it.
    other_boot = dict(cursor, boot_id="0" * 32)
    assert checks(run({"containers": [dict(AA, denied_since=other_boot)]}))["denied"]["actual"] == 3


def test_file_source_with_paths_and_a_file_cursor(host, tmp_path):
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="%s (enforce)" % PROFILE)
    lines = audit_lines()
    evidence = tmp_path / "evidence.log"
    write_log(str(evidence), lines[:3])
    assert run({"containers": [dict(AA, denied_since=0)], "source": "file"})["msg"] == "source 'file' needs paths"
    assert checks(run({"containers": [dict(AA, denied_since=0)], "source": "file", "paths": [str(evidence)]}))[
        "denied"]["actual"] == 1
    cursor, _stats = _sources.read_files([str(evidence)], _events.Collector(), rotations=False, source="file")
    with open(evidence, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines[3:]) + "\n")
    # The cursor's own files are read when no paths are given.
    denied = checks(run({"containers": [dict(AA, denied_since=cursor)]}))["denied"]
    assert denied["actual"] == 2 and denied["detail"].startswith("2 DENIED record(s) in file (%s);" % evidence)


def test_legacy_files_cursor_follows_rotation(host, tmp_path):
    """The files cursor of earlier releases (no version): by inode through a rotation, by offset without one."""
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="%s (enforce)" % PROFILE)
    lines = audit_lines()
    log = tmp_path / "audit.log"
    write_log(str(log), lines[:3])
    mark = {"path": str(log), "inode": log.stat().st_ino, "offset": log.stat().st_size}
    container = dict(AA, denied_since={"source": "audit", "files": [mark]})
    assert checks(run({"containers": [container]}))["denied"]["actual"] == 0
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(lines[4] + "\n")
    os.rename(log, str(log) + ".1")
    write_log(str(log), lines[6:8])
    denied = checks(run({"containers": [container]}))["denied"]
    assert denied["actual"] == 2, denied
    assert denied["expected"] == "0 since the cursor"
    assert denied["detail"].startswith("2 DENIED record(s) in files (%s.1, %s);" % (log, log))
    plain = {"files": [{"path": str(log), "offset": 0}]}
    assert checks(run({"containers": [dict(AA, denied_since=plain)]}))["denied"]["actual"] == 1
    # The source named in the task does not apply to it: it is read as the files it lists.
    assert checks(run({"containers": [container], "source": "journal"}))["denied"]["actual"] == 2


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ({"version": 1, "source": "journal"}, "the journal cursor has no 'cursor' string"),
        ({"version": 1, "source": "dmesg", "boot_id": "x"}, "the dmesg cursor has no 'seq' number"),
        ({"version": 1, "source": "kern", "files": [{"path": "/var/log/kern.log"}]}, "has no valid offset"),
        ({"cursor": "s=1"}, "or hold 'files'"),
    ],
)
def test_malformed_cursor_fails_before_docker_is_asked(host, since, message):
    result = run({"containers": [dict(AA, denied_since=since)]})
    assert result["failed"] and message in result["msg"], result
    assert host.calls == []


def test_a_health_check_still_starting_is_waited_for_then_judged(host, monkeypatch):
    host.add("web", "health", "custom")
    healthy = host.containers["web"]
    starting = json.loads(json.dumps(healthy))
    starting[0]["State"]["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": []}
    answers = [starting, starting, healthy]
    real = host.run_command

    def run_command(module, argv, **kwargs):
        if argv[1] == "inspect" and answers:
            host.containers["web"] = answers.pop(0)
        return real(module, argv, **kwargs)

    host.run_command = run_command
    slept = []
    monkeypatch.setattr(container_verify.time, "sleep", slept.append)
    result = run({"containers": [{"name": "web"}]})
    assert checks(result)["docker_health"]["passed"] is True and slept == [1, 1]
    # With no wait the status is judged as it is, and "starting" fails naming it.
    answers[:] = [starting]
    result = run({"containers": [{"name": "web"}], "health_wait": 0})
    assert checks(result)["docker_health"]["actual"] == "starting" and result["failed_checks"] == ["web: docker_health"]
