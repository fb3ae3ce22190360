"""Whole-module tests for confine.docker.seccomp_profile (real libseccomp, files in a temp dir).

The engine version the module would ask the target's dockerd for is injected (``engine`` fixture): these tests run
without a daemon.
"""

from __future__ import annotations

import functools
import json
import os

import pytest
from _harness import run_module
from ansible.module_utils import basic

from ansible_collections.confine.docker.plugins.module_utils import _libseccomp
from ansible_collections.confine.docker.plugins.module_utils import _seccomp as sc
from ansible_collections.confine.docker.plugins.module_utils import _seccomp_docker as dd
from ansible_collections.confine.docker.plugins.modules import seccomp_profile

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "seccomp")


run = functools.partial(run_module, seccomp_profile.main)


class FakeEngine:
    """The target's dockerd as the module sees it: a version, or an error; every question is counted."""

    def __init__(self):
        self.version = "20.10.24+dfsg1"
        self.error = None
        self.asked = 0

    def __call__(self):
        self.asked += 1
        if self.error:
            raise dd.EngineError(self.error)
        return self.version


@pytest.fixture(autouse=True)
def engine(monkeypatch):
    fake = FakeEngine()
    monkeypatch.setattr(seccomp_profile, "read_engine_version", fake)
    return fake


@pytest.fixture()
def warnings(monkeypatch):
    found = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, message: found.append(message))
    return found


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
    result = run({"force": True, "name": "minimal", "base": "empty", "allow": ["read", "write", "exit_group"]})
    assert result["path"] == str(tmp_path / "etc-docker-seccomp" / "minimal.json")
    assert json.loads((tmp_path / "etc-docker-seccomp" / "minimal.json").read_text())["syscalls"] == [
        {"action": "SCMP_ACT_ALLOW", "names": ["exit_group", "read", "write"]}
    ]
    assert run({"force": True, "name": "../etc/passwd", "base": "empty"})["failed"]


def test_content_dict_and_text_are_the_same_file(tmp_path):
    path = tmp_path / "p.json"
    content = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["write", "read"], "action": "SCMP_ACT_ALLOW"}]}
    assert run({"force": True, "path": str(path), "content": content})["changed"]
    assert run({"force": True, "path": str(path), "content": json.dumps(content)})["changed"] is False
    # The same data in another layout on disk is rewritten once into canonical form.
    path.write_text(json.dumps(content))
    assert run({"force": True, "path": str(path), "content": content})["changed"] is True
    assert run({"force": True, "path": str(path), "content": content})["changed"] is False


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
    assert run({"force": True, "path": str(path), "content": content})["failed"]
    assert run({"force": True, "path": str(path), "content": content, "validate": False})["changed"]
    bad = dict(content, defaultAction="SCMP_ACT_NOPE")
    assert run({"force": True, "path": str(path), "content": bad, "validate": False})["failed"]


def test_base_file_recorded_by_hook(tmp_path):
    path = tmp_path / "worker.json"
    base = os.path.join(FIXTURES, "oci-hook-recorded.json")
    result = run({"force": True, "path": str(path), "base": base, "allow": ["getrandom"]})
    assert result["changed"]
    names = result["profile"]["syscalls"][0]["names"]
    assert "getrandom" in names and "execve" in names
    assert result["profile"]["defaultAction"] == "SCMP_ACT_ERRNO"
    missing = run({"force": True, "path": str(path), "base": str(tmp_path / "nope.json")})
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
    first = run({"force": True, "path": str(path), "base": "empty", "allow": ["read"], "backup": True})
    assert first["changed"]
    with open(first["backup_file"], encoding="utf-8") as handle:
        assert handle.read() == "{}\n"
    check = run({"force": True, "path": str(path), "state": "absent"}, check_mode=True, diff=True)
    assert check["changed"] and path.exists() and check["diff"]["after"] == ""
    gone = run({"force": True, "path": str(path), "state": "absent", "backup": True})
    assert gone["changed"] and not path.exists() and os.path.exists(gone["backup_file"])
    assert run({"force": True, "path": str(path), "state": "absent"})["changed"] is False


def test_file_mode_change_alone(tmp_path):
    path = tmp_path / "p.json"
    args = {"force": True, "path": str(path), "base": "empty", "allow": ["read"]}
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
    result = run({"force": True, "path": str(path), "base": "empty", "allow": ["read"]})
    assert result["failed"] and "refused on re-read" in result["msg"]
    assert path.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["p.json"]


# --- the engine the default profile follows --------------------------------------------------------------------------


def test_docker_default_follows_the_engine_on_the_target(tmp_path, engine):
    path = tmp_path / "p.json"
    old = run({"path": str(path)})
    assert old["engine"] == {"version": "20.10.24+dfsg1", "source": "host", "described": "20.10.24", "changes": []}
    assert "io_uring_setup" in old["profile"]["syscalls"][0]["names"] and "defaultErrnoRet" in old["profile"]
    engine.version = "26.1.5+dfsg1"
    new = run({"path": str(path)})
    assert new["changed"] and new["engine"]["described"] == "26.1.5" and new["engine"]["source"] == "host"
    assert new["engine"]["changes"] == ["23.0.0", "25.0.0", "25.0.3"]
    names = new["profile"]["syscalls"][0]["names"]
    assert "io_uring_setup" not in names and {"cachestat", "name_to_handle_at"} <= set(names)
    assert new["profile"] == sc.generate("docker_default", engine="26.1.5")
    assert run({"path": str(path)})["changed"] is False
    assert engine.asked == 3


def test_engine_option_pins_the_version_without_asking(tmp_path, engine):
    engine.error = "cannot read the Docker Engine version from unix:///var/run/docker.sock"
    result = run({"path": str(tmp_path / "p.json"), "engine": "26.1"}, check_mode=True, diff=True)
    assert not result["failed"] and engine.asked == 0
    assert result["engine"] == {"version": "26.1", "source": "option", "described": "26.1",
                                "changes": ["23.0.0", "25.0.0", "25.0.3"]}
    assert json.loads(result["diff"]["after"]) == sc.generate("docker_default", engine="26.1.5")
    assert not (tmp_path / "p.json").exists()


def test_no_engine_and_no_option_fails_clearly_and_writes_nothing(tmp_path, engine):
    engine.error = ("cannot read the Docker Engine version from unix:///var/run/docker.sock ([Errno 2] No such file "
                    "or directory): is dockerd running? give engine: (...)")
    path = tmp_path / "p.json"
    result = run({"path": str(path), "mode": "log"})
    assert result["failed"] and "is dockerd running?" in result["msg"] and result["json_path"] == "engine"
    assert not path.exists()
    # Bases that do not follow an engine do not ask for one.
    assert not run({"path": str(path), "base": "runtime_minimum"})["failed"]
    assert engine.asked == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"engine": "19.03.15"}, "older than 20.10"),
        ({"engine": "20.1"}, 'write engine: "20.10" in quotes'),
        ({"engine": "22.06"}, "is not a Docker release"),
        ({"engine": "latest"}, "is not a Docker Engine version"),
        ({"engine": "26.1", "base": "empty"}, "engine only applies to base docker_default"),
        ({"engine": "26.1", "content": {"defaultAction": "SCMP_ACT_ALLOW"}}, "cannot be combined with engine"),
    ],
)
def test_bad_engine_changes_nothing(tmp_path, args, fragment):
    path = tmp_path / "p.json"
    path.write_text("old\n")
    result = run(dict(args, path=str(path)))
    assert result["failed"] and fragment in result["msg"]
    assert path.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["p.json"]


def test_newer_engine_warns_and_uses_the_newest_description(tmp_path, engine, warnings):
    engine.version = "31.0.0"
    result = run({"path": str(tmp_path / "p.json")})
    assert not result["failed"] and result["engine"]["described"] == "29.7.2"
    assert result["profile"] == sc.generate("docker_default", engine="29.7.2")
    assert any("Docker Engine 31.0.0 is newer than the newest engine" in w for w in warnings)


def test_drop_groups_work_on_every_engine(tmp_path):
    args = {"path": str(tmp_path / "p.json"), "drop_groups": ["io_uring", "network", "cap_bpf"]}
    for version in ("20.10.24", "26.1.5", "29.7.2"):
        result = run(dict(args, engine=version))
        policy = sc.effective_policy(result["profile"], ["CAP_BPF"], "x86_64", "6.1")
        assert not {"io_uring_setup", "socket", "connect", "bpf"} & policy["allow"], version
        assert not [r for r in result["profile"]["syscalls"] if "socket" in r["names"]], version


def test_names_newer_than_libseccomp_are_accepted_with_a_warning(tmp_path, monkeypatch, warnings):
    real = _libseccomp.load()

    class OldLib:
        """A libseccomp that knows every call of Docker's default profiles but listmount, statmount and mseal."""

        version = "2.5.0"

        def __getattr__(self, name):
            return getattr(real, name)

        def exists(self, name, arch):
            if name in {"listmount", "statmount", "mseal"}:
                return False
            return real.exists(name, arch) or (name in dd.described_names() and arch == "SCMP_ARCH_X86_64")

    monkeypatch.setattr(_libseccomp, "load", OldLib)
    result = run({"path": str(tmp_path / "p.json"), "engine": "28.5.2"})
    assert not result["failed"] and (tmp_path / "p.json").exists()
    assert any("does not know listmount, mseal, statmount (" in w for w in warnings), warnings
    # A typo is still a typo.
    typo = run({"path": str(tmp_path / "q.json"), "engine": "28.5.2", "allow": ["listmoutn"]})
    assert typo["failed"] and "'listmoutn' is not a syscall" in typo["msg"]


def test_a_profile_that_cannot_start_a_container_is_refused_unless_forced(tmp_path):
    path = tmp_path / "tiny.json"
    result = run({"path": str(path), "base": "empty", "allow": ["read", "write"]})
    assert result["failed"] and "cannot start a container" in result["msg"]
    for name in ("execve", "exit_group", "futex", "mmap"):
        assert name in result["msg"]
    assert not path.exists()
    forced = run({"path": str(path), "base": "empty", "allow": ["read", "write"], "force": True})
    assert forced["changed"] and path.exists()
    # Docker's default and the runtime minimum start containers; a log-mode profile blocks nothing.
    assert run({"path": str(tmp_path / "dd.json"), "engine": "26.1"})["changed"]
    assert run({"path": str(tmp_path / "rm.json"), "base": "runtime_minimum"})["changed"]
    assert run({"path": str(tmp_path / "log.json"), "base": "empty", "mode": "log"})["changed"]
