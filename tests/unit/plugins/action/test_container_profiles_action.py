"""confine.docker.container_profiles: each enabled mechanism's steps run in registry order against a fake host (its
files, and the modules that would run there), the security options come from what was deployed, and the first
failing step stops it, naming the mechanism."""

from __future__ import annotations

import base64
import json

import pytest
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.confine.docker.plugins.action import container_profiles
from ansible_collections.confine.docker.plugins.module_utils import _mechanisms, _state

LAYOUT = _state.Layout("web")
ENFORCING = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
SPEC = {"name": "confine-web", "filesystem": {"read_only_paths": ["/etc/**"]}}


class FakeHost:
    """The host's files and the modules the steps run: state_file writes, slurp reads, seccomp_profile deploys
    (its profile in the wanted mode), apparmor_profile (reached through its action plugin) installs."""

    def __init__(self, files=None, fail=None):
        self.files = dict(files or {})
        self.calls = []
        self.fail = fail

    def run(self, module, args, check_mode):
        self.calls.append((module, dict(args)))
        if module == self.fail:
            return {"failed": True, "msg": "refused by the fake host"}
        if module == "ansible.builtin.slurp":
            if args["src"] not in self.files:
                return {"failed": True, "msg": "file not found: %s" % args["src"]}
            return {"content": base64.b64encode(self.files[args["src"]].encode()).decode()}
        if module == "confine.docker.state_file":
            changed = self.files.get(args["path"]) != args["content"]
            if not check_mode:
                self.files[args["path"]] = args["content"]
            return {"changed": changed, "diff": {"before": "", "after": args["content"]}}
        if module == "confine.docker.seccomp_profile":
            profile = dict(ENFORCING, defaultAction="SCMP_ACT_LOG" if args["mode"] == "log" else "SCMP_ACT_ERRNO")
            changed = self.files.get(args["path"]) != json.dumps(profile)
            if not check_mode:
                self.files[args["path"]] = json.dumps(profile)
            return {"changed": changed, "profile": profile, "path": args["path"]}
        if module == "confine.docker.apparmor_profile":
            return {"changed": True, "mode": args["mode"], "ansible_facts": {"confine_apparmor_host": {"abi": "3.0"}}}
        raise AssertionError("unexpected module %s" % module)


class FakeTask:
    def __init__(self, args, check_mode=False):
        self.args = args
        self.check_mode = check_mode
        self.collections = ["confine.docker"]

    def copy(self, exclude_parent=False, exclude_tasks=False):
        del exclude_parent, exclude_tasks
        return FakeTask(dict(self.args), self.check_mode)


class FakeAction:
    def __init__(self, host, module, task):
        self.host, self.module, self.task = host, module, task

    def run(self, task_vars=None):
        del task_vars
        return self.host.run(self.module, self.task.args, self.task.check_mode)


class FakeActionLoader:
    """Only apparmor_profile has an action plugin, as in the collection."""

    def __init__(self, host):
        self.host = host

    def has_plugin(self, name, collection_list=None):
        del collection_list
        return name == "confine.docker.apparmor_profile"

    def get(self, name, task=None, **_kwargs):
        return FakeAction(self.host, name, task)


class FakeShared:
    def __init__(self, host):
        self.action_loader = FakeActionLoader(host)


def run_action(monkeypatch, host, args, check_mode=False):
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    action = container_profiles.ActionModule.__new__(container_profiles.ActionModule)
    action._task = FakeTask(args, check_mode)
    action._shared_loader_obj = FakeShared(host)
    action._connection = action._play_context = action._loader = action._templar = None
    action._execute_module = lambda module_name, module_args, task_vars: host.run(module_name, module_args,
                                                                                  check_mode)
    return action.run(task_vars={})


def args(mode, version=1, **extra):
    names = LAYOUT.names(version)
    base = {"mode": mode, "entry": {"name": "web", "image": "x", "apparmor": {"spec": SPEC}},
            "names": names, "mechanisms": ["seccomp", "apparmor"]}
    base.update(extra)
    return base


def test_a_first_trial_writes_the_seeds_then_deploys_each_mechanism_in_registry_order(monkeypatch):
    host = FakeHost()
    result = run_action(monkeypatch, host, args("complain", seed=True))
    modules = [module for module, _args in host.calls]
    assert modules == ["confine.docker.state_file", "ansible.builtin.slurp", "confine.docker.apparmor_profile",
                       "confine.docker.seccomp_profile", "confine.docker.seccomp_profile"]
    assert host.calls[2][1]["spec"] == SPEC and host.calls[2][1]["mode"] == "complain"
    assert host.calls[4][1]["mode"] == "log"
    log_profile = dict(ENFORCING, defaultAction="SCMP_ACT_LOG")
    assert result["security_opts"] == ["apparmor=confine-web", "seccomp=" + _mechanisms.compact_json(log_profile),
                                       "no-new-privileges:true"]
    assert result["changed"] is True and result["mechanisms"] == ["apparmor", "seccomp"]
    assert result["ansible_facts"] == {"confine_apparmor_host": {"abi": "3.0"}}
    assert result["diff"] == [{"before": "", "after": host.files[LAYOUT.version_file("apparmor", 1)]}]


def test_check_mode_of_a_first_trial_deploys_from_the_seed_and_writes_nothing(monkeypatch):
    host = FakeHost()
    result = run_action(monkeypatch, host, args("complain", seed=True), check_mode=True)
    modules = [module for module, _args in host.calls]
    assert "ansible.builtin.slurp" not in modules
    assert host.calls[1] == ("confine.docker.apparmor_profile", {"name": "confine-web", "mode": "complain",
                                                                 "path": LAYOUT.apparmor_file, "spec": SPEC})
    assert host.calls[3][1]["base"] == "docker_default" and host.files == {}
    assert result["changed"] is True


def test_enforce_reads_the_reviewed_version_and_needs_the_enforcing_seccomp_profile(monkeypatch):
    spec = dict(SPEC, filesystem={"read_only_paths": ["/etc/**"], "writable_paths": ["/srv/**"]})
    host = FakeHost({LAYOUT.version_file("apparmor", 2): json.dumps(spec)})
    result = run_action(monkeypatch, host, args("enforce", version=2, backup=True))
    assert host.calls[0] == ("ansible.builtin.slurp", {"src": LAYOUT.version_file("apparmor", 2)})
    assert host.calls[1][1]["spec"] == spec and host.calls[1][1]["mode"] == "enforce"
    assert host.calls[2][1] == {"base": LAYOUT.version_file("seccomp", 2), "path": LAYOUT.seccomp_file,
                                "mode": "enforce", "backup": True}
    assert result["security_opts"][1] == "seccomp=" + _mechanisms.compact_json(ENFORCING)


def test_only_the_mechanisms_asked_for_run_and_give_options(monkeypatch):
    host = FakeHost({LAYOUT.version_file("apparmor", 1): json.dumps(SPEC)})
    result = run_action(monkeypatch, host, args("enforce", mechanisms=["apparmor"]))
    assert [module for module, _args in host.calls] == ["ansible.builtin.slurp", "confine.docker.apparmor_profile"]
    assert result["security_opts"] == ["apparmor=confine-web", "no-new-privileges:true"]


def test_an_opaque_profile_is_switched_as_installed(monkeypatch):
    host = FakeHost()
    entry = {"name": "web", "image": "x", "apparmor": {"content": "profile confine-web {}"}}
    result = run_action(monkeypatch, host, args("enforce", entry=entry, opaque=["apparmor"],
                                                mechanisms=["apparmor"], seed=True))
    assert host.calls == [("confine.docker.apparmor_profile", {"name": "confine-web", "path": LAYOUT.apparmor_file,
                                                               "mode": "enforce"})]
    assert result["security_opts"] == ["apparmor=confine-web", "no-new-privileges:true"]


def test_a_missing_version_file_stops_before_its_mechanism_is_deployed(monkeypatch):
    host = FakeHost()
    result = run_action(monkeypatch, host, args("enforce", version=3))
    assert result["failed"] is True and result["mechanism"] == "apparmor"
    assert "reading %s failed" % LAYOUT.version_file("apparmor", 3) in result["msg"]
    assert [module for module, _args in host.calls] == ["ansible.builtin.slurp"]


def test_a_refused_profile_stops_the_later_mechanisms_and_names_its_own(monkeypatch):
    host = FakeHost({LAYOUT.version_file("apparmor", 1): json.dumps(SPEC)}, fail="confine.docker.apparmor_profile")
    result = run_action(monkeypatch, host, args("enforce"))
    assert result["failed"] is True and result["mechanism"] == "apparmor"
    assert result["msg"] == "deploying the enforce profile failed (apparmor): refused by the fake host"
    assert "confine.docker.seccomp_profile" not in [module for module, _args in host.calls]


@pytest.mark.parametrize("bad, message", [
    ({"mode": "baseline"}, "value of mode must be one of"),
    ({"mechanisms": ["selinux"]}, "no mechanism 'selinux'"),
    ({"colour": "red"}, "colour"),
])
def test_bad_arguments_fail_before_any_step(monkeypatch, bad, message):
    host = FakeHost()
    with pytest.raises(AnsibleActionFail, match=message):
        run_action(monkeypatch, host, dict(args("complain"), **bad))
    assert host.calls == []
