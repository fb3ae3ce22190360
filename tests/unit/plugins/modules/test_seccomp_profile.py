"""Whole-module tests for confine.docker.seccomp_profile (real libseccomp, files in a temp dir)."""

from __future__ import annotations

import functools
import json
import os

import pytest
from _harness import run_module

from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc
from ansible_collections.confine.docker.plugins.modules import seccomp_profile

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "seccomp")


run = functools.partial(run_module, seccomp_profile.main)


def test_check_real_check_real(tmp_path):
    path = tmp_path / "seccomp" / "web.json"
    args = {"path": str(path), "base": "docker_default", "mode": "enforce", "deny": ["mkdir", "mkdirat"]}

    first = run(args, check_mode=True, diff=True)
    assert not first["failed"] and first["changed"]
    assert not path.exists()
    assert first["diff"]["before"] == "" and json.loads(first["diff"]["after"]) == first["profile"]
    assert first["allow_count"] == first["effective"]["allow"]
    assert first["effective"]["default"] == "SCMP_ACT_ERRNO"

    second = run(args)
    assert second["changed"] and "diff" not in second
    text = path.read_text()
    assert text == sc.canonical_json(second["profile"])
    assert os.stat(path).st_mode & 0o777 == 0o644
    on_disk = json.loads(text)
    assert on_disk["defaultAction"] == "SCMP_ACT_ERRNO" and on_disk["defaultErrnoRet"] == 1
    assert "mkdir" not in on_disk["syscalls"][0]["names"] and "rmdir" in on_disk["syscalls"][0]["names"]

    third = run(args, check_mode=True, diff=True)
    assert third["changed"] is False and "diff" not in third
    assert run(args)["changed"] is False
    assert path.read_text() == text


def test_log_mode_warns_and_counts(tmp_path):
    path = tmp_path / "trial.json"
    result = run({"path": str(path), "mode": "log"})
    assert result["changed"] and result["profile"]["defaultAction"] == "SCMP_ACT_LOG"
    assert any("blocks nothing" in w for w in result["weaknesses"])


def test_name_goes_to_default_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(seccomp_profile, "DEFAULT_DIR", str(tmp_path / "etc-docker-seccomp"))
    result = run({"name": "minimal", "base": "empty", "allow": ["read", "write", "exit_group"]})
    assert result["path"] == str(tmp_path / "etc-docker-seccomp" / "minimal.json")
    assert json.loads((tmp_path / "etc-docker-seccomp" / "minimal.json").read_text())["syscalls"] == [
        {"action": "SCMP_ACT_ALLOW", "names": ["exit_group", "read", "write"]}
    ]
    assert run({"name": "../etc/passwd", "base": "empty"})["failed"]


def test_content_dict_and_text_are_the_same_file(tmp_path):
    path = tmp_path / "p.json"
    content = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["write", "read"], "action": "SCMP_ACT_ALLOW"}]}
    assert run({"path": str(path), "content": content})["changed"]
    assert run({"path": str(path), "content": json.dumps(content)})["changed"] is False
    # The same data in another layout on disk is rewritten once into canonical form.
    path.write_text(json.dumps(content))
    assert run({"path": str(path), "content": content})["changed"] is True
    assert run({"path": str(path), "content": content})["changed"] is False


@pytest.mark.parametrize(
    ("content", "fragment", "json_path"),
    [
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"] "action": "SCMP_ACT_ALLOW"}]}',
         "line 1 column 69", None),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]},
         "got a string", "syscalls[0].names"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "mkdri"], "action": "SCMP_ACT_ALLOW"}]},
         "'mkdri' is not a syscall", "syscalls[0].names[1]"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_PERMIT"}]},
         "unknown action 'SCMP_ACT_PERMIT'", "syscalls[0].action"),
    ],
)
def test_bad_content_changes_nothing(tmp_path, content, fragment, json_path):
    path = tmp_path / "p.json"
    path.write_text("old\n")
    result = run({"path": str(path), "content": content})
    assert result["failed"] and fragment in result["msg"]
    assert result["json_path"] == json_path
    assert path.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["p.json"]


def test_validate_false_skips_only_name_lookup(tmp_path):
    path = tmp_path / "p.json"
    content = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["future_call"], "action": "SCMP_ACT_ALLOW"}]}
    assert run({"path": str(path), "content": content})["failed"]
    assert run({"path": str(path), "content": content, "validate": False})["changed"]
    bad = dict(content, defaultAction="SCMP_ACT_NOPE")
    assert run({"path": str(path), "content": bad, "validate": False})["failed"]


def test_base_file_recorded_by_hook(tmp_path):
    path = tmp_path / "worker.json"
    base = os.path.join(FIXTURES, "oci-hook-recorded.json")
    result = run({"path": str(path), "base": base, "allow": ["getrandom"]})
    assert result["changed"]
    names = result["profile"]["syscalls"][0]["names"]
    assert "getrandom" in names and "execve" in names
    assert result["profile"]["defaultAction"] == "SCMP_ACT_ERRNO"
    missing = run({"path": str(path), "base": str(tmp_path / "nope.json")})
    assert missing["failed"] and "does not exist" in missing["msg"]


def test_content_with_generation_options_is_refused(tmp_path):
    result = run({"path": str(tmp_path / "p.json"), "content": {"defaultAction": "SCMP_ACT_ALLOW"}, "allow": ["read"]})
    assert result["failed"] and "cannot be combined with allow" in result["msg"]


def test_weak_profile_warning(tmp_path):
    content = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]}
    result = run({"path": str(tmp_path / "p.json"), "content": content})
    assert any("weak profile" in w and "blocks only 1 (mount)" in w for w in result["weaknesses"])


def test_backup_and_absent(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{}\n")
    first = run({"path": str(path), "base": "empty", "allow": ["read"], "backup": True})
    assert first["changed"]
    with open(first["backup_file"], encoding="utf-8") as handle:
        assert handle.read() == "{}\n"
    check = run({"path": str(path), "state": "absent"}, check_mode=True, diff=True)
    assert check["changed"] and path.exists() and check["diff"]["after"] == ""
    gone = run({"path": str(path), "state": "absent", "backup": True})
    assert gone["changed"] and not path.exists() and os.path.exists(gone["backup_file"])
    assert run({"path": str(path), "state": "absent"})["changed"] is False


def test_file_mode_change_alone(tmp_path):
    path = tmp_path / "p.json"
    args = {"path": str(path), "base": "empty", "allow": ["read"]}
    run(args)
    result = run(dict(args, file_mode="0600"))
    assert result["changed"] and os.stat(path).st_mode & 0o777 == 0o600
    assert run(dict(args, file_mode="0600"))["changed"] is False


def test_failed_write_validation_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    path.write_text("old\n")
    real = seccomp_profile.parse_profile
    calls = []

    def refuse_on_write(source, check_names=True):
        calls.append(source)
        if len(calls) > 1:
            raise sc.SeccompError("refused on re-read")
        return real(source, check_names=check_names)

    monkeypatch.setattr(seccomp_profile, "parse_profile", refuse_on_write)
    result = run({"path": str(path), "base": "empty", "allow": ["read"]})
    assert result["failed"] and "refused on re-read" in result["msg"]
    assert path.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["p.json"]
