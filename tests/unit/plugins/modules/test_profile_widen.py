"""Whole-module tests for confine.docker.profile_widen: check/diff mode, dest writes, idempotence, errors."""

from __future__ import annotations

import functools
import json
import os
import shutil

import pytest
from _harness import run_module

from ansible_collections.confine.docker.plugins.modules import profile_widen

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "events")
SPEC = {"name": "confine-web", "filesystem": {"read_only_paths": ["/etc/**"]}, "network": {"protocols": ["tcp"]}}
LOG_PROFILE = {"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}
TEXT = "#include <tunables/global>\nprofile confine-web flags=(complain) {\n  #include <abstractions/base>\n}\n"


@pytest.fixture()
def events(audit_events):
    return dict(audit_events, changed=False, source="file", cursor={})


run = functools.partial(run_module, profile_widen.main)


def test_spec_to_dest_check_real_check_real(events, tmp_path):
    dest = tmp_path / "confine-web.json"
    args = {"kind": "apparmor", "profile": SPEC, "events": events, "dest": str(dest), "backup": True}
    first = run(args, check_mode=True, diff=True)
    assert not first["failed"] and first["changed"] and not dest.exists()
    assert json.loads(first["diff"]["after"]) == first["profile"] and first["diff"]["before"] == ""
    assert first["format"] == "spec"
    second = run(args)
    assert second["changed"] and json.loads(dest.read_text()) == second["profile"]
    assert "backup_file" not in second  # nothing to back up yet
    assert {item["key"] for item in second["refused"]} >= {"/etc/shadow", "capability sys_admin"}
    assert "## Refused" in second["report"]
    assert run(args, check_mode=True)["changed"] is False
    assert run(args)["changed"] is False


def test_widen_in_place_from_src_with_backup(events, tmp_path):
    path = tmp_path / "web.json"
    path.write_text(json.dumps(LOG_PROFILE))
    args = {"kind": "seccomp", "src": str(path), "dest": str(path), "events": events, "backup": True,
            "containers": ["web"]}
    first = run(args)
    assert first["changed"] and [item["key"] for item in first["added"]] == ["clone3"]
    assert os.path.exists(first["backup_file"])
    with open(first["backup_file"], encoding="utf-8") as handle:
        assert json.loads(handle.read()) == LOG_PROFILE
    assert json.loads(path.read_text())["syscalls"][0]["names"] == ["clone3", "read", "write"]
    second = run(args)
    assert second["changed"] is False and second["added"] == []
    approved = run(dict(args, approve=["unshare"]))
    assert approved["changed"] and [item["key"] for item in approved["added"]] == ["unshare"]


def test_without_dest_nothing_is_written_so_nothing_changed(events):
    first = run({"kind": "seccomp", "profile": json.dumps(LOG_PROFILE), "events": events["seccomp"]}, diff=True)
    assert first["changed"] is False and "dest" not in first and "diff" not in first
    assert [item["key"] for item in first["added"]] == ["clone3"]
    second = run({"kind": "seccomp", "profile": first["profile"], "events": events["seccomp"]})
    assert second["changed"] is False and second["added"] == []


@pytest.mark.parametrize("check_mode", [True, False])
@pytest.mark.parametrize("kind", ["apparmor", "seccomp"])
def test_a_round_that_adds_nothing_writes_no_next_version(events, tmp_path, kind, check_mode):
    current = tmp_path / ("%s.v2.json" % kind)
    first = run({"kind": kind, "profile": SPEC if kind == "apparmor" else LOG_PROFILE, "events": events,
                 "containers": ["web"]})
    current.write_text(json.dumps(first["profile"]))
    dest = tmp_path / ("%s.v3.json" % kind)
    args = {"kind": kind, "src": str(current), "events": events, "dest": str(dest), "containers": ["web"]}
    result = run(args, check_mode=check_mode, diff=True)
    assert not result["failed"] and result["added"] == [], result
    assert result["changed"] is False and "diff" not in result and "dest" not in result
    assert not dest.exists()
    # A file already at dest (left by an earlier trial) is not this round's version either: left as it is.
    dest.write_text("left by an earlier trial\n")
    assert run(args, check_mode=check_mode)["changed"] is False
    assert dest.read_text() == "left by an earlier trial\n"


def test_a_round_that_adds_writes_the_next_version_once_check_real_check_real(events, tmp_path):
    dest = tmp_path / "seccomp.v2.json"
    args = {"kind": "seccomp", "profile": LOG_PROFILE, "events": events, "dest": str(dest), "containers": ["web"]}
    check = run(args, check_mode=True, diff=True)
    assert check["changed"] and check["dest"] == str(dest) and not dest.exists()
    assert check["diff"]["before"] == "" and "clone3" in check["diff"]["after"]
    real = run(args, diff=True)
    assert real["changed"] and real["diff"] == check["diff"] and "clone3" in dest.read_text()
    assert run(args, check_mode=True, diff=True)["changed"] is False
    again = run(args, diff=True)
    assert again["changed"] is False and "diff" not in again and "dest" not in again


def test_text_profile_is_validated_with_apparmor_parser(events, tmp_path):
    if not shutil.which("apparmor_parser") and not os.path.exists("/usr/sbin/apparmor_parser"):
        pytest.fail("apparmor_parser is needed")
    dest = tmp_path / "confine-web"
    result = run({"kind": "apparmor", "profile": TEXT, "events": events, "dest": str(dest)})
    assert result["changed"] and result["format"] == "text", result
    assert "  /var/lib/app/records.db w,\n" in dest.read_text()
    assert run({"kind": "apparmor", "src": str(dest), "dest": str(dest), "events": events})["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"kind": "apparmor", "events": []}, "one of the following is required"),
        ({"kind": "apparmor", "opaque": True, "events": []}, "opaque: a profile that is never widened has no dest"),
        ({"kind": "seccomp", "opaque": True, "name": "confine-web", "events": []}, "only an AppArmor profile"),
        ({"kind": "apparmor", "profile": SPEC, "src": "/x", "events": []}, "mutually exclusive"),
        ({"kind": "apparmor", "src": "/nonexistent/spec.json", "events": []}, "does not exist"),
        ({"kind": "apparmor", "profile": {"name": "bad name"}, "events": []}, "not valid"),
        ({"kind": "seccomp", "profile": "{not json", "events": []}, "not valid JSON"),
        ({"kind": "apparmor", "profile": SPEC, "events": "nope"}, "events must be"),
        ({"kind": "apparmor", "profile": TEXT.replace("confine-web", "other"), "name": "confine-web", "events": []},
         "does not declare"),
    ],
)
def test_errors_change_nothing(tmp_path, args, message):
    dest = tmp_path / "dest"
    dest.write_text("old\n")
    result = run(dict(args, dest=str(dest)))
    assert result["failed"] and message in result["msg"], result
    assert dest.read_text() == "old\n"


def test_bad_src_json(tmp_path):
    src = tmp_path / "spec.json"
    src.write_text("{broken")
    result = run({"kind": "apparmor", "src": str(src), "events": []})
    assert result["failed"] and "not valid JSON" in result["msg"]


def test_odd_seccomp_records_are_refused_not_a_traceback(tmp_path):
    dest = tmp_path / "seccomp.json"
    events = {"seccomp": [
        {"syscall": "unknown-syscall(99999)", "nr": 99999, "arch": "x86_64", "container": "web", "count": 1},
        {"syscall": None, "nr": -1, "arch": "x86_64", "container": "web", "count": 1},
        {"syscall": "getpid", "nr": 39, "arch": "x86_64", "container": "web", "count": 2},
    ]}
    result = run({"kind": "seccomp", "profile": LOG_PROFILE, "events": events, "dest": str(dest)})
    assert not result["failed"], result
    assert [item["key"] for item in result["added"]] == ["getpid"]
    assert sorted(item["category"] for item in result["refused"]) == ["malformed", "malformed"]
    assert "getpid" in json.loads(dest.read_text())["syscalls"][0]["names"]


def test_an_opaque_profile_is_reviewed_never_written(events, tmp_path):
    args = {"kind": "apparmor", "opaque": True, "name": "confine-web", "events": events}
    for check_mode in (True, False):
        result = run(args, check_mode=check_mode, diff=True)
        assert not result["failed"], result
        assert result["changed"] is False and "diff" not in result and "dest" not in result
        assert result["added"] == [] and result["format"] == "opaque" and result["profile"] is None
        assert result["refused"] and set(result["blockers"]) <= {item["key"] for item in result["refused"]}
        assert {item["category"] for item in result["refused"]} <= {"seed", "guard", "malformed", "unsupported"}
        assert "seed" in {item["category"] for item in result["refused"]}
    assert list(tmp_path.iterdir()) == []
    for given in ({"profile": TEXT}, {"src": str(tmp_path / "x")}):
        refused = run(dict(args, **given))
        assert refused["failed"] and "never widened" in refused["msg"]
    nameless = run({"kind": "apparmor", "opaque": True, "events": events})
    assert nameless["failed"] and "name" in nameless["msg"]
