"""Whole-module tests for confine.docker.container_verify with docker, /proc and HTTP faked from real fixtures."""

from __future__ import annotations

import json
import os
import urllib.error

import pytest
from _harness import run_module
from ansible.module_utils import basic

from ansible_collections.confine.docker.plugins.modules import container_verify

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(UNIT, "fixtures", "verify")


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


class FakeHost:
    """Containers by name (inspect fixture, status fixture, attr text), exec results, HTTP answers, dmesg text."""

    def __init__(self):
        self.containers = {}
        self.proc = {}
        self.exec_rc = {}
        self.http = {}
        self.dmesg = ""
        self.calls = []

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
        if argv[0] == "/usr/bin/dmesg":
            return 0, self.dmesg, ""
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
    args = dict(args)
    args.setdefault("log_paths", [])
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


def test_denied_since_time_reads_rotated_logs_and_dmesg_once(host, tmp_path):
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="confine-it-verify-p (enforce)")
    lines = fixture_text("audit.log").splitlines()
    log = str(tmp_path / "audit.log")
    write_log(log + ".1", lines[:4])
    write_log(log, lines[4:])
    host.dmesg = fixture_text("dmesg.txt")
    base = {"name": "aa", "apparmor": "confine-it-verify-p"}
    result = run({"containers": [dict(base, denied_since="2026-11-23T14:47:56Z")], "log_paths": [log]})
    denied = checks(result)["denied"]
    # 138 (in audit.log and dmesg, counted once), 151 (child profile), 160 (dmesg only).
    assert denied["actual"] == 3 and not denied["passed"]
    assert denied["detail"].startswith("3 DENIED record(s) in %s.1, %s, dmesg; latest: " % (log, log))
    assert "id_rsa" in denied["detail"]
    # container_start is State.StartedAt (14:47:42.75): the older /etc/gshadow denial (14:43:20) is not counted.
    assert checks(run({"containers": [dict(base, denied_since="container_start")], "log_paths": [log]}))[
        "denied"
    ]["actual"] == 3
    assert checks(run({"containers": [dict(base, denied_since=0)], "log_paths": [log]}))["denied"]["actual"] == 4
    later = run({"containers": [dict(base, denied_since=1795445300)], "log_paths": [log], "dmesg": False})
    assert checks(later)["denied"] == {
        "check": "denied", "passed": True, "expected": "0 since 1795445300", "actual": 0,
        "detail": "searched %s.1, %s" % (log, log),
    }
    assert len([call for call in host.calls if call[0] == "/usr/bin/dmesg"]) == 3


def test_denied_since_cursor_follows_rotation(host, tmp_path):
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="confine-it-verify-p (enforce)")
    lines = fixture_text("audit.log").splitlines()
    log = tmp_path / "audit.log"
    write_log(str(log), lines[:3])
    mark = {"path": str(log), "inode": log.stat().st_ino, "offset": log.stat().st_size}
    cursor = {"source": "audit", "files": [mark]}
    container = {"name": "aa", "apparmor": "confine-it-verify-p", "denied_since": cursor}
    assert checks(run({"containers": [container]}))["denied"]["actual"] == 0
    # More records, then the log rotates: the cursor's file is now audit.log.1, a new audit.log follows.
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(lines[4] + "\n")
    os.rename(log, str(log) + ".1")
    write_log(str(log), lines[6:8])
    result = run({"containers": [container]})
    denied = checks(result)["denied"]
    assert denied["actual"] == 2, denied
    assert denied["expected"] == "0 since the cursor"
    assert "%s.1 from byte" % log in denied["detail"]
    # A cursor without an inode reads its file from the offset.
    plain = {"files": [{"path": str(log), "offset": 0}]}
    assert checks(run({"containers": [dict(container, denied_since=plain)]}))["denied"]["actual"] == 1


def test_denied_since_security_events_cursor_over_two_rotations(host, tmp_path):
    """A cursor listing every file of the rotation set (as security_events writes it), then the log rotates again."""
    host.add("aa", "vm-apparmor", "vm-apparmor", attr="confine-it-verify-p (enforce)")
    lines = fixture_text("audit.log").splitlines()
    log = tmp_path / "audit.log"
    old = tmp_path / "audit.log.1"
    write_log(str(old), lines[:1])  # the older /etc/gshadow denial, already read by the cursor
    write_log(str(log), lines[1:4])
    cursor = {
        "version": 1,
        "source": "audit",
        "files": [
            {"path": str(path), "dev": path.stat().st_dev, "inode": path.stat().st_ino,
             "offset": path.stat().st_size, "head": "h%d" % index}
            for index, path in enumerate((old, log))
        ],
    }
    container = {"name": "aa", "apparmor": "confine-it-verify-p", "denied_since": cursor}
    assert checks(run({"containers": [container]}))["denied"]["actual"] == 0
    # One denial lands in audit.log, the log rotates (audit.log.1 -> .2, audit.log -> .1), a child-profile denial
    # lands in the new audit.log.
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(lines[4] + "\n")
    os.rename(old, str(tmp_path / "audit.log.2"))
    os.rename(log, str(old))
    write_log(str(log), lines[7:8])
    denied = checks(run({"containers": [container]}))["denied"]
    assert denied["actual"] == 2, denied
    assert 'name="/etc/gshadow"' not in denied["detail"]
    assert "%s.2 from byte" % log in denied["detail"] and "%s.1 from byte" % log in denied["detail"]
