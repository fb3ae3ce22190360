"""Unit tests for the container checks in _verify, on real docker inspect and /proc data (fixtures/verify)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _events, _verify
from ansible_collections.confine.docker.plugins.module_utils._verify import VerifyError

UNIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(UNIT, "fixtures", "verify")
SECCOMP_FILE = "/etc/docker/seccomp/confine-web.json"
DOCKER_DEFAULT_MASK = "00000000a80425fb"


def inspect(name):
    with open(os.path.join(FIXTURES, "inspect-%s.json" % name), encoding="utf-8") as handle:
        return json.load(handle)[0]


def text(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def status(name):
    return _verify.parse_status(text("status-%s.txt" % name))


def custom_profile():
    return json.loads(text("seccomp-custom.json"))


def expect(**overrides):
    return _verify.validate_expected(dict({"name": "web"}, **overrides))


def by_check(result):
    return {c["check"]: c for c in result["checks"]}


def failed(result):
    return sorted(c["check"] for c in result["checks"] if not c["passed"])


# --- parsers --------------------------------------------------------------------------------------------------


NO_OPTS = {"apparmor": None, "seccomp": None, "no_new_privileges": None, "other": []}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (None, {}),
        (["no-new-privileges"], {"no_new_privileges": True}),
        (["no-new-privileges:true"], {"no_new_privileges": True}),
        (["no-new-privileges=false"], {"no_new_privileges": False}),
        (["apparmor=confine-web"], {"apparmor": "confine-web"}),
        (["apparmor:confine-web"], {"apparmor": "confine-web"}),
        (["seccomp=unconfined", "label=disable"], {"seccomp": "unconfined", "other": ["label=disable"]}),
        # The profile JSON holds ':' after the '=' separator: the first separator decides.
        (['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'], {"seccomp": '{"defaultAction":"SCMP_ACT_ALLOW"}'}),
    ],
)
def test_parse_security_opt(options, expected):
    assert _verify.parse_security_opt(options) == dict(NO_OPTS, **expected)


def test_parse_security_opt_on_real_custom_seccomp():
    parsed = _verify.parse_security_opt(inspect("custom")["HostConfig"]["SecurityOpt"])
    assert json.loads(parsed["seccomp"]) == custom_profile()
    assert parsed["no_new_privileges"] is True


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("confine-demo (enforce)\n", ("confine-demo", "enforce")),
        ("confine-demo (complain)", ("confine-demo", "complain")),
        ("docker-default (enforce)\x00", ("docker-default", "enforce")),
        ("unconfined\n", ("unconfined", None)),
        ("", None),
        (None, None),
        ("system_u:system_r:container_t:s0:c1,c2", None),
    ],
)
def test_parse_attr_current(attr, expected):
    assert _verify.parse_attr_current(attr) == expected


def test_parse_status_real_fields():
    fields = status("custom")
    assert (fields["Seccomp"], fields["NoNewPrivs"], fields["CapBnd"]) == ("2", "1", DOCKER_DEFAULT_MASK)
    fields = status("unconfined")
    assert (fields["Seccomp"], fields["NoNewPrivs"]) == ("0", "0")


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        (DOCKER_DEFAULT_MASK, sorted(_verify.DOCKER_DEFAULT_CAPABILITIES)),
        ("00000000a00435fb", sorted(_verify.DOCKER_DEFAULT_CAPABILITIES - {"MKNOD"} | {"NET_ADMIN"})),
        ("0000000000000000", []),
        ("0000003fffffffff", sorted(_verify.CAPABILITIES[:38])),
        ("0000020000000001", ["CAP_41", "CHOWN"]),
    ],
)
def test_decode_capabilities(mask, expected):
    assert _verify.decode_capabilities(mask) == expected


@pytest.mark.parametrize(
    ("add", "drop", "expected"),
    [
        ([], [], sorted(_verify.DOCKER_DEFAULT_CAPABILITIES)),
        (["NET_ADMIN"], ["MKNOD"], sorted(_verify.DOCKER_DEFAULT_CAPABILITIES - {"MKNOD"} | {"NET_ADMIN"})),
        (["NET_BIND_SERVICE"], ["ALL"], ["NET_BIND_SERVICE"]),
        ([], ["ALL"], []),
        (["ALL"], ["SYS_ADMIN"], sorted(set(_verify.CAPABILITIES) - {"SYS_ADMIN"})),
        # Docker applies the drops to its defaults, then the adds: an added capability wins.
        (["CHOWN"], ["CHOWN"], sorted(_verify.DOCKER_DEFAULT_CAPABILITIES)),
    ],
)
def test_expected_capabilities(add, drop, expected):
    assert _verify.expected_capabilities(add, drop) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("net_admin", "NET_ADMIN"), ("CAP_NET_ADMIN", "NET_ADMIN"), (" cap_sys_ptrace ", "SYS_PTRACE"), ("all", "ALL")],
)
def test_normalize_capability(name, expected):
    assert _verify.normalize_capability(name) == expected


@pytest.mark.parametrize("name", ["CAP_FLY", "", None, 12])
def test_normalize_capability_errors(name):
    with pytest.raises(VerifyError):
        _verify.normalize_capability(name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1795445276.96, 1795445276.96),
        ("1795445276.96", 1795445276.96),
        ("2026-11-23T14:47:42.75018182Z", 1795445262.75018182),
        ("2026-11-23T14:47:42Z", 1795445262.0),
        ("2026-11-23 14:47:42", 1795445262.0),
        ("2026-11-23T15:47:42+01:00", 1795445262.0),
        ("2026-11-23T09:47:42.5-0500", 1795445262.5),
        ("1970-01-01T00:00:00Z", 0.0),
    ],
)
def test_parse_time(value, expected):
    assert _verify.parse_time(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-01T00:00:00Z", "2026-11-23T25:00:00Z", "", True, None, [], "nan", float("inf")]
)
def test_parse_time_errors(value):
    with pytest.raises(VerifyError):
        _verify.parse_time(value)


# --- input validation -----------------------------------------------------------------------------------------


def test_validate_expected_defaults_and_normalization():
    result = _verify.validate_expected(
        {
            "name": "web",
            "apparmor": "confine-web",
            "seccomp": SECCOMP_FILE,
            "capabilities": {"add": ["cap_net_admin"], "drop": None},
            "workload": ["demo-workload --quick 'two words'", ["sh", "-c", "exit 0"]],
            "health": {"url": "http://127.0.0.1:8080/", "command": None, "status": None},
            "denied_since": "container_start",
        }
    )
    assert result == {
        "name": "web",
        "apparmor": "confine-web",
        "apparmor_mode": "enforce",
        "seccomp": SECCOMP_FILE,
        "no_new_privileges": True,
        "privileged": False,
        "capabilities": {"add": ["NET_ADMIN"], "drop": []},
        "workload": [["demo-workload", "--quick", "two words"], ["sh", "-c", "exit 0"]],
        "health": {"url": "http://127.0.0.1:8080/", "status": None},
        "denied_since": "container_start",
    }


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (None, None),
        ({"url": None, "command": None, "status": None}, None),
        ("http://localhost/", {"url": "http://localhost/", "status": None}),
        ("curl -f localhost", {"command": ["curl", "-f", "localhost"]}),
        ({"url": "https://h:8443/x", "status": [200, "401"]}, {"url": "https://h:8443/x", "status": [200, 401]}),
        ({"command": ["test", "-e", "/run/app.pid"]}, {"command": ["test", "-e", "/run/app.pid"]}),
    ],
)
def test_validate_health(health, expected):
    assert expect(health=health)["health"] == expected


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({}, "non-empty 'name'"),
        ({"name": ""}, "non-empty 'name'"),
        ("web", "must be a dict"),
        ({"name": "web", "apparmor": ""}, "'apparmor' must be a profile name"),
        ({"name": "web", "apparmor_mode": "kill"}, "'apparmor_mode' must be one of enforce, complain"),
        ({"name": "web", "seccomp": "confine-web.json"}, "container web: 'seccomp' must be an absolute path"),
        ({"name": "web", "capabilities": ["NET_ADMIN"]}, "'capabilities' must be a dict"),
        ({"name": "web", "capabilities": {"add": "NET_ADMIN"}}, "'capabilities.add' must be a list"),
        ({"name": "web", "capabilities": {"add": ["CAP_FLY"]}}, "unknown capability 'CAP_FLY'"),
        ({"name": "web", "capabilities": {"keep": []}}, "'capabilities' must be a dict with"),
        ({"name": "web", "workload": "demo-workload"}, "'workload' must be a list"),
        ({"name": "web", "workload": [""]}, "a workload command must not be empty"),
        ({"name": "web", "workload": ["echo 'unclosed"]}, "cannot be split into words"),
        ({"name": "web", "workload": [{"cmd": "x"}]}, "must be a string or a list"),
        ({"name": "web", "health": {"url": "ftp://x/"}}, "'health.url' must be an http"),
        ({"name": "web", "health": {"url": "http://x/", "command": "true"}}, "exactly one of"),
        ({"name": "web", "health": {"command": "true", "status": [200]}}, "applies to 'url' only"),
        ({"name": "web", "health": {"url": "http://x/", "status": ["ok"]}}, "HTTP status code"),
        ({"name": "web", "health": {"path": "/"}}, "unknown keys: path"),
        ({"name": "web", "health": 5}, "'health' must be a dict"),
        ({"name": "web", "apparmor": "p", "denied_since": "last week"}, "not an RFC 3339 timestamp"),
        ({"name": "web", "denied_since": "container_start"}, "set apparmor"),
        ({"name": "web", "apparmor": "p", "denied_since": {"cursor": "s=1"}}, "or hold 'files'"),
        ({"name": "web", "apparmor": "p", "denied_since": {"version": 1, "source": "journal"}}, "no 'cursor' string"),
        ({"name": "web", "apparmor": "p", "denied_since": {"version": 1, "source": "dmesg", "seq": "7"}},
         "no 'seq' number"),
        ({"name": "web", "apparmor": "p", "denied_since": {"version": 1, "source": "audit"}}, "no 'files' list"),
        ({"name": "web", "apparmor": "p", "denied_since": {"version": 2, "source": "audit", "files": []}},
         "version 2 is not supported"),
        ({"name": "web", "apparmor": "p", "denied_since": {"version": 1, "source": "auto", "files": []}},
         "names no source"),
        ({"name": "web", "apparmor": "p", "denied_since": {"files": [{"path": "audit.log"}]}}, "absolute 'path'"),
        ({"name": "web", "apparmor": "p", "denied_since": {"files": [{"path": "/a", "offset": -1}]}}, "non-negative"),
    ],
)
def test_validate_expected_errors(container, message):
    with pytest.raises(VerifyError, match=message):
        _verify.validate_expected(container)


# --- single checks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected", "passed", "detail"),
    [
        ("vm-apparmor", "confine-it-verify-p", True, ""),
        ("vm-apparmor", "confine-web", False, "runs under confine-it-verify-p"),
        ("vm-default", "docker-default", True, ""),
        ("vm-default", "confine-web", False, "runs under docker-default"),
        ("vm-privileged", "confine-web", False, "runs under unconfined"),
        # Without AppArmor in the kernel Docker keeps the option but leaves AppArmorProfile empty.
        ("nnp", "confine-x", True, "AppArmorProfile is empty"),
        ("default", "confine-web", False, "no AppArmor profile is set"),
    ],
)
def test_check_apparmor(fixture, expected, passed, detail):
    result = _verify.check_apparmor(inspect(fixture), expected)
    assert result["passed"] is passed
    assert detail in result["detail"]


def test_check_apparmor_disagreement():
    data = inspect("vm-apparmor")
    data["AppArmorProfile"] = "docker-default"
    result = _verify.check_apparmor(data, "confine-it-verify-p")
    assert not result["passed"] and "disagree" in result["detail"]


@pytest.mark.parametrize(
    ("attr", "mode", "passed", "actual"),
    [
        ("confine-web (enforce)\n", "enforce", True, "confine-web (enforce)"),
        ("confine-web (complain)\n", "enforce", False, "confine-web (complain)"),
        ("confine-web (complain)\n", "complain", True, "confine-web (complain)"),
        ("docker-default (enforce)\n", "enforce", False, "docker-default (enforce)"),
        ("unconfined\n", "enforce", False, "unconfined"),
        (None, "enforce", False, "not available"),
        ("system_u:system_r:spc_t:s0", "enforce", False, "not available"),
    ],
)
def test_check_apparmor_kernel(attr, mode, passed, actual):
    result = _verify.check_apparmor_kernel(attr, "confine-web", mode)
    assert (result["passed"], result["actual"]) == (passed, actual)
    assert result["expected"] == "confine-web (%s)" % mode


def test_check_apparmor_kernel_names_the_file_it_read():
    source = "/proc/42/attr/apparmor/current"
    assert _verify.check_apparmor_kernel("confine-web (enforce)\n", "confine-web", source=source)["detail"] == source
    failed = _verify.check_apparmor_kernel("confine-web (complain)\n", "confine-web", source=source)
    assert failed["detail"] == "the profile is in complain mode (%s)" % source


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # AppArmor 4 host (and any kernel since 5.1): AppArmor's own file wins, even when attr/current shows
        # another LSM's context.
        (
            {"/proc/7/attr/apparmor/current": "confine-web (enforce)\n",
             "/proc/7/attr/current": "system_u:system_r:container_t:s0"},
            ("confine-web (enforce)\n", "/proc/7/attr/apparmor/current"),
        ),
        # Older kernels have only the shared file.
        ({"/proc/7/attr/current": "confine-web (complain)\n"}, ("confine-web (complain)\n", "/proc/7/attr/current")),
        ({}, (None, None)),
    ],
)
def test_read_apparmor_label_prefers_apparmors_own_file(files, expected):
    read_paths = []

    def read(path):
        read_paths.append(path)
        return files.get(path)

    assert _verify.read_apparmor_label(7, read) == expected
    assert read_paths[0] == "/proc/7/attr/apparmor/current"


@pytest.mark.parametrize(
    ("fixture", "expected", "passed", "actual"),
    [
        ("default", "docker-default", True, "docker-default"),
        ("unconfined", "docker-default", False, "unconfined"),
        ("custom", "docker-default", False, "custom profile"),
        ("custom", SECCOMP_FILE, True, "same profile as %s" % SECCOMP_FILE),
        ("default", SECCOMP_FILE, False, "docker-default"),
        ("unconfined", SECCOMP_FILE, False, "unconfined"),
    ],
)
def test_check_seccomp(fixture, expected, passed, actual):
    result = _verify.check_seccomp(inspect(fixture), expected, custom_profile())
    assert (result["passed"], result["actual"]) == (passed, actual)


def test_check_seccomp_compares_as_data_not_text():
    # Same data, other key order and layout than the file the container was started with.
    reordered = json.loads(json.dumps(custom_profile(), sort_keys=True))
    reordered = {key: reordered[key] for key in reversed(list(reordered))}
    assert _verify.check_seccomp(inspect("custom"), SECCOMP_FILE, reordered)["passed"]


def test_check_seccomp_reports_the_difference():
    changed = custom_profile()
    changed["defaultAction"] = "SCMP_ACT_ERRNO"
    changed["syscalls"].append({"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"})
    result = _verify.check_seccomp(inspect("custom"), SECCOMP_FILE, changed)
    assert not result["passed"] and result["actual"] == "another profile"
    assert 'defaultAction: expected "SCMP_ACT_ERRNO", container has "SCMP_ACT_ALLOW"' in result["detail"]
    assert "1 rule(s) only in the file, 0 only in the container" in result["detail"]


def test_check_seccomp_unreadable_file():
    result = _verify.check_seccomp(inspect("custom"), SECCOMP_FILE, None, "No such file or directory")
    assert not result["passed"] and "cannot be used: No such file" in result["detail"]


@pytest.mark.parametrize(
    ("fixture", "passed", "actual"),
    [("default", True, "2 (filter)"), ("custom", True, "2 (filter)"), ("unconfined", False, "0 (disabled)"),
     ("vm-privileged", False, "0 (disabled)")],
)
def test_check_seccomp_kernel(fixture, passed, actual):
    result = _verify.check_seccomp_kernel(status(fixture))
    assert (result["passed"], result["actual"]) == (passed, actual)


def test_check_seccomp_kernel_without_field():
    assert _verify.check_seccomp_kernel({})["actual"] == "not available"


@pytest.mark.parametrize(
    ("fixture", "allowed", "passed"),
    [("vm-privileged", False, False), ("vm-privileged", True, True), ("default", False, True), ("default", True, True)],
)
def test_check_privileged(fixture, allowed, passed):
    assert _verify.check_privileged(inspect(fixture), allowed)["passed"] is passed


@pytest.mark.parametrize(
    ("fixture", "status_fixture", "passed", "actual"),
    [
        ("custom", "custom", True, True),
        ("nnp", None, True, True),
        ("default", "default", False, False),
        # Set daemon-wide (daemon.json "no-new-privileges"): only the kernel shows it.
        ("default", "custom", True, "daemon default"),
    ],
)
def test_check_no_new_privileges(fixture, status_fixture, passed, actual):
    result = _verify.check_no_new_privileges(inspect(fixture), status(status_fixture) if status_fixture else None)
    assert (result["passed"], result["actual"]) == (passed, actual)


def test_check_no_new_privileges_explicit_false_beats_kernel():
    data = inspect("default")
    data["HostConfig"]["SecurityOpt"] = ["no-new-privileges=false"]
    result = _verify.check_no_new_privileges(data, status("custom"))
    assert not result["passed"] and "no-new-privileges=false" in result["detail"]


@pytest.mark.parametrize(("fixture", "passed"), [("custom", True), ("default", False), ("unconfined", False)])
def test_check_no_new_privileges_kernel(fixture, passed):
    assert _verify.check_no_new_privileges_kernel(status(fixture))["passed"] is passed


@pytest.mark.parametrize(
    ("fixture", "declared", "passed", "detail"),
    [
        ("default", {"add": [], "drop": []}, True, ""),
        ("netadmin", {"add": ["NET_ADMIN"], "drop": ["MKNOD"]}, True, ""),
        ("netadmin", {"add": [], "drop": ["MKNOD"]}, False, "added but not declared: NET_ADMIN"),
        ("netadmin", {"add": ["NET_ADMIN"], "drop": []}, False, "dropped but not declared: MKNOD"),
        ("default", {"add": ["NET_ADMIN"], "drop": ["NET_RAW"]}, False,
         "declared but not added: NET_ADMIN; declared dropped but kept: NET_RAW"),
    ],
)
def test_check_capabilities(fixture, declared, passed, detail):
    result = _verify.check_capabilities(inspect(fixture), declared)
    assert (result["passed"], result["detail"]) == (passed, detail)


@pytest.mark.parametrize(
    ("fixture", "declared", "passed", "detail"),
    [
        ("default", {"add": [], "drop": []}, True, "CapBnd " + DOCKER_DEFAULT_MASK),
        ("netadmin", {"add": ["NET_ADMIN"], "drop": ["MKNOD"]}, True, "CapBnd 00000000a00435fb"),
        # Nothing declared: the kernel is compared with Docker's configuration.
        ("netadmin", None, True, "CapBnd 00000000a00435fb"),
        ("netadmin", {"add": [], "drop": []}, False,
         "in the bounding set but not declared: NET_ADMIN; declared but not in the bounding set: MKNOD"),
    ],
)
def test_check_capabilities_kernel(fixture, declared, passed, detail):
    result = _verify.check_capabilities_kernel(inspect(fixture), status(fixture), declared)
    assert (result["passed"], result["detail"]) == (passed, detail)


def test_check_command_and_health():
    ok = _verify.check_command("workload[0]", ["demo-workload", "--quick"], 0, "done\n")
    assert ok["passed"] and ok["detail"] == "demo-workload --quick"
    bad = _verify.check_command("health", ["sh", "-c", "exit 3"], 3, "", "x" * 1000)
    assert not bad["passed"] and bad["detail"].startswith("sh -c 'exit 3' exited 3: ...xxx")
    assert len(bad["detail"]) < 450
    assert _verify.check_health_url("http://h/", 204)["passed"]
    assert _verify.check_health_url("http://h/", 302)["passed"]
    assert not _verify.check_health_url("http://h/", 503)["passed"]
    assert _verify.check_health_url("http://h/", 401, accepted=[401])["passed"]
    refused = _verify.check_health_url("http://h/", None, "Connection refused")
    assert not refused["passed"] and refused["detail"] == "http://h/: Connection refused"


def test_check_docker_health():
    assert _verify.check_docker_health(inspect("default")) is None
    assert _verify.check_docker_health(inspect("health"))["passed"]
    data = inspect("health")
    data["State"]["Health"]["Status"] = "unhealthy"
    data["State"]["Health"]["Log"][-1].update(ExitCode=1, Output="connection refused\n")
    result = _verify.check_docker_health(data)
    assert not result["passed"] and result["detail"] == "last probe exited 1: connection refused"
    data["State"]["Health"].update(Status="starting", Log=[])
    result = _verify.check_docker_health(data)
    assert (result["passed"], result["actual"]) == (False, "starting") and "no probe has finished" in result["detail"]


# --- AppArmor DENIED records ----------------------------------------------------------------------------------


def log_lines(name):
    return text(name).splitlines()


def collect_lines(lines, profile, since=None, forms=_events.ALL_FORMS):
    collector = _verify.DeniedCollector([profile], since)
    collector.forms = forms
    for line in lines:
        collector.feed_line(line)
    return _verify.denied_events(collector.result(), profile)


def names(events):
    return sorted((event["profile"], event["name"], event["count"]) for event in events)


def test_denied_events_match_profile_children_and_time():
    lines = log_lines("audit.log")
    assert names(collect_lines(lines, "confine-it-verify-p")) == [
        ("confine-it-verify-p", "/etc/gshadow", 1),
        ("confine-it-verify-p", "/etc/shadow", 1),
        ("confine-it-verify-p//null-/usr/bin/dash", "/etc/shadow", 1),
    ]
    # At the record's own millisecond it counts; a millisecond later it does not.
    since = _verify.parse_time("1795445276.960")
    assert len(collect_lines(lines, "confine-it-verify-p", since)) == 2
    assert len(collect_lines(lines, "confine-it-verify-p", since + 0.001)) == 1
    assert len(collect_lines(lines, "confine-it-verify-p", _verify.parse_time("2026-11-23T14:47:56.9601Z"))) == 1
    assert names(collect_lines(lines, "confine-other")) == [("confine-other", "/etc/shadow", 1)]
    # A profile whose name starts like another's is not its child; ALLOWED and STATUS records are no denials.
    assert collect_lines(lines, "confine-it") == []
    assert names(collect_lines(lines, "confine-it-verify-prod")) == [("confine-it-verify-prod", "/etc/shadow", 1)]


def test_denied_events_count_a_record_once_across_sources():
    lines = log_lines("audit.log") + log_lines("dmesg.txt")
    events = collect_lines(lines, "confine-it-verify-p", _verify.parse_time("2026-11-23T14:47:56Z"))
    # audit.log and dmesg both hold serial 138; dmesg adds 160; the child profile's 151 sits between.
    assert names(events) == [
        ("confine-it-verify-p", "/etc/shadow", 1),
        ("confine-it-verify-p", "/root/.ssh/id_rsa", 1),
        ("confine-it-verify-p//null-/usr/bin/dash", "/etc/shadow", 1),
    ]


def test_denied_events_ignore_user_space_look_alikes():
    forged = ('type=USER_AVC msg=audit(1795445300.000:170): pid=1 uid=0 msg=\'apparmor="DENIED" operation="open" '
              'profile="confine-it-verify-p" name="/x" comm="sh"\'')
    assert collect_lines([forged], "confine-it-verify-p") == []


def test_check_denied():
    assert _verify.check_denied([], "2026-11-23T14:00:00Z", "dmesg") == {
        "check": "denied", "passed": True, "expected": "0 since 2026-11-23T14:00:00Z", "actual": 0,
        "detail": "searched dmesg",
    }
    events = collect_lines(log_lines("audit.log") + log_lines("dmesg.txt"), "confine-it-verify-p")
    result = _verify.check_denied(events, {"files": []}, "audit (/var/log/audit/audit.log)")
    assert not result["passed"] and result["actual"] == 4 and result["expected"] == "0 since the cursor"
    assert result["detail"] == (
        "4 DENIED record(s) in audit (/var/log/audit/audit.log); latest: open /root/.ssh/id_rsa "
        "(profile=confine-it-verify-p denied_mask=r comm=python3) x1, last 2026-11-23T14:48:14.100Z"
    )
    unread = _verify.check_denied([], 0, "journal", error="journalctl failed (rc=1): no journal")
    assert unread == {"check": "denied", "passed": False, "expected": "0 since 0", "actual": None,
                      "detail": "the records cannot be read: journalctl failed (rc=1): no journal"}
    noted = _verify.check_denied([], 0, "journal", lost=["printk-ratelimit"])
    assert noted["passed"] and noted["detail"] == "searched journal; records were dropped (printk-ratelimit)"


# --- whole containers -------------------------------------------------------------------------------------------


def facts(fixture, status_fixture=None, **extra):
    result = {"inspect": inspect(fixture)}
    if status_fixture:
        result["status_text"] = text("status-%s.txt" % status_fixture)
    result.update(extra)
    return result


@pytest.mark.parametrize(
    ("fixture", "expected", "extra", "failures"),
    [
        # The hardened container of this host: custom seccomp file + no-new-privileges.
        ("custom", {"seccomp": SECCOMP_FILE, "capabilities": {}}, {"seccomp_profile": "custom"}, []),
        ("unconfined", {"seccomp": "docker-default"}, {},
         ["no_new_privileges", "no_new_privileges_kernel", "seccomp", "seccomp_kernel"]),
        ("unconfined", {"seccomp": None, "no_new_privileges": False}, {}, []),
        ("netadmin", {"seccomp": "docker-default", "no_new_privileges": False, "capabilities": {"drop": ["mknod"]}},
         {}, ["capabilities", "capabilities_kernel"]),
        ("netadmin", {"no_new_privileges": False, "capabilities": {"add": ["cap_net_admin"], "drop": ["MKNOD"]}},
         {}, []),
        # AppArmor expected on a kernel without it: Docker keeps the option, the kernel shows nothing.
        ("nnp", {"apparmor": "confine-x"}, {"attr_text": None}, ["apparmor_kernel"]),
        ("exited", {"apparmor": "confine-x", "seccomp": "docker-default", "workload": ["true"],
                    "health": {"command": "true"}},
         {}, ["apparmor", "health", "no_new_privileges", "running", "workload[0]"]),
        ("vm-apparmor", {"apparmor": "confine-it-verify-p", "seccomp": "docker-default"},
         {"attr_text": "confine-it-verify-p (enforce)\n"}, []),
        ("vm-apparmor", {"apparmor": "confine-it-verify-p"}, {"attr_text": "confine-it-verify-p (complain)\n"},
         ["apparmor_kernel"]),
        ("vm-privileged", {"apparmor": "confine-web", "seccomp": "docker-default"}, {"attr_text": "unconfined\n"},
         ["apparmor", "apparmor_kernel", "no_new_privileges", "no_new_privileges_kernel", "privileged", "seccomp",
          "seccomp_kernel"]),
        ("vm-privileged", {"privileged": True, "no_new_privileges": False}, {}, []),
    ],
)
def test_evaluate(fixture, expected, extra, failures):
    status_fixture = fixture if os.path.exists(os.path.join(FIXTURES, "status-%s.txt" % fixture)) else None
    if fixture == "nnp":
        status_fixture = "custom"
    if extra.get("seccomp_profile") == "custom":
        extra = dict(extra, seccomp_profile=custom_profile())
    exp = expect(**expected)
    runs = {"workload": [{"rc": 0, "stdout": "", "stderr": ""}] * len(exp["workload"])} if fixture != "exited" else {}
    result = _verify.evaluate(exp, facts(fixture, status_fixture, **extra, **runs))
    assert failed(result) == failures, result
    assert result["passed"] is (not failures)
    assert all(c["detail"] for c in result["checks"] if not c["passed"]), result
    assert result["name"] == "web"


def test_evaluate_leaves_out_checks_set_to_null():
    result = _verify.evaluate(expect(no_new_privileges=False), facts("default", "default"))
    assert [c["check"] for c in result["checks"]] == ["exists", "running", "privileged", "capabilities_kernel"]


def test_evaluate_full_check_list_order():
    exp = expect(
        apparmor="confine-it-verify-p", seccomp=SECCOMP_FILE, capabilities={}, workload=["a", "b"],
        health={"url": "http://127.0.0.1/"}, denied_since="2026-11-23T14:00:00Z",
    )
    result = _verify.evaluate(
        exp,
        facts(
            "health", "custom", attr_text="confine-it-verify-p (enforce)", seccomp_profile=custom_profile(),
            workload=[{"rc": 0}, {"rc": 1, "stderr": "boom"}], health={"status": 200},
            denied={"events": [], "source": "dmesg"},
        ),
    )
    checks = by_check(result)
    assert list(checks) == [
        "exists", "running", "apparmor", "apparmor_kernel", "seccomp", "seccomp_kernel", "privileged",
        "no_new_privileges", "no_new_privileges_kernel", "capabilities", "capabilities_kernel", "workload[0]",
        "workload[1]", "health", "docker_health", "denied",
    ]
    # no_new_privileges passes as a daemon default: not in SecurityOpt, but the kernel shows it.
    assert failed(result) == ["apparmor", "seccomp", "workload[1]"]
    assert checks["no_new_privileges"]["actual"] == "daemon default"
    assert checks["workload[1]"]["detail"] == "b exited 1: boom"


def test_evaluate_missing_container():
    result = _verify.evaluate(expect(seccomp="docker-default"), {"inspect": None, "inspect_error": "No such container"})
    assert result == {
        "name": "web",
        "passed": False,
        "checks": [{"check": "exists", "passed": False, "expected": True, "actual": False,
                    "detail": "No such container"}],
    }


def test_summarize():
    results = [
        _verify.evaluate(expect(), facts("custom", "custom")),
        _verify.evaluate(expect(name="db", seccomp="docker-default"), facts("unconfined", "unconfined")),
    ]
    passed, failed_checks = _verify.summarize(results)
    assert passed is False
    assert failed_checks == [
        "db: seccomp", "db: seccomp_kernel", "db: no_new_privileges", "db: no_new_privileges_kernel"
    ]
    assert _verify.summarize(results[:1]) == (True, [])
    assert _verify.summarize([]) == (True, [])
