"""The mechanism registry: each unit's steps, options, state fields and verify expectations, and the registry's
own order and switches."""

from __future__ import annotations

import json

import pytest

from ansible_collections.confine.docker.plugins.module_utils import _mechanisms, _state, _verify
from ansible_collections.confine.docker.plugins.module_utils._mechanisms import MechanismError

LAYOUT = _state.Layout("web", "/var/lib/confine", "confine-", "/etc/apparmor.d/containers", "/etc/docker/seccomp")
NAMES = LAYOUT.names(2)
APPARMOR = _mechanisms.get("apparmor")
SECCOMP = _mechanisms.get("seccomp")
SPEC = {"name": "confine-web", "filesystem": {"read_only_paths": ["/etc/**"]}}
ENFORCING = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}


def test_the_registry_holds_every_mechanism_once_in_install_order():
    assert _mechanisms.NAMES == ("apparmor", "seccomp") == _state.MECHANISMS
    for name, mechanism in _mechanisms.REGISTRY.items():
        assert mechanism.name == name and mechanism.module.startswith("confine.docker.")
        assert mechanism.events, name
    with pytest.raises(MechanismError, match="no mechanism 'selinux'"):
        _mechanisms.get("selinux")


def test_a_mechanism_must_implement_every_step():
    class Half(_mechanisms.Mechanism):
        name = "half"

        def seed_step(self, entry, names):
            return None

    with pytest.raises(TypeError, match="abstract"):
        Half()  # pylint: disable=abstract-class-instantiated


def test_switches_name_every_mechanism_and_refuse_unknown_ones():
    assert _mechanisms.switches(seccomp=False) == {"apparmor": True, "seccomp": False}
    assert _mechanisms.enabled(_mechanisms.switches(apparmor=0)) == ["seccomp"]
    with pytest.raises(MechanismError, match="no mechanism 'selinx'"):
        _mechanisms.switches(selinx=True)


@pytest.mark.parametrize("entry, versioned", [
    ({"name": "web", "image": "x"}, ["apparmor", "seccomp"]),
    ({"name": "web", "image": "x", "apparmor": {"spec": {}}}, ["apparmor", "seccomp"]),
    ({"name": "web", "image": "x", "apparmor": {"content": "profile x {}"}}, ["seccomp"]),
    ({"name": "web", "image": "x", "apparmor": {"src": "files/web.profile"}}, ["seccomp"]),
    (None, ["apparmor", "seccomp"]),
])
def test_an_opaque_apparmor_seed_has_no_version_files(entry, versioned):
    assert _mechanisms.versioned(entry, _mechanisms.switches()) == versioned


def test_the_apparmor_seed_is_written_as_version_1_with_the_profile_name():
    entry = {"name": "web", "image": "x", "apparmor": {"spec": {"filesystem": {"read_only_paths": ["/etc/**"]}}}}
    step = APPARMOR.seed_step(entry, NAMES)
    assert step.module == "confine.docker.state_file" and step.mechanism == "apparmor"
    assert step.args["path"] == "/var/lib/confine/web/apparmor.v2.json" and step.args["mode"] == "0640"
    assert json.loads(step.args["content"]) == SPEC and step.args["content"].endswith("}\n")
    assert APPARMOR.seed_step({"name": "web", "apparmor": {"content": "profile x {}"}}, NAMES) is None


def test_apparmor_deploys_the_version_it_read_or_the_seed_when_the_version_is_not_written_yet():
    entry = {"name": "web", "image": "x", "apparmor": {"spec": {"filesystem": {"read_only_paths": ["/etc/**"]}}}}
    assert APPARMOR.reads("complain", NAMES) == NAMES["files"]["apparmor"]
    step = APPARMOR.install_step("complain", entry, NAMES, version_text=json.dumps(dict(SPEC, extra=1)))
    assert step.module == "confine.docker.apparmor_profile"
    assert step.args == {"name": "confine-web", "path": "/etc/apparmor.d/containers/confine-web", "mode": "complain",
                         "spec": dict(SPEC, extra=1)}
    assert APPARMOR.reads("complain", NAMES, seed_pending=True) is None
    pending = APPARMOR.install_step("complain", entry, NAMES, seed_pending=True)
    assert pending.args["spec"] == SPEC
    with pytest.raises(MechanismError, match="was not read"):
        APPARMOR.install_step("enforce", entry, NAMES)
    with pytest.raises(MechanismError, match="is not a JSON AppArmor spec"):
        APPARMOR.install_step("enforce", entry, NAMES, version_text="{broken")


def test_an_opaque_apparmor_profile_is_installed_as_written_then_switched_as_installed():
    entry = {"name": "web", "image": "x", "apparmor": {"content": "profile confine-web {}"}}
    assert APPARMOR.reads("complain", NAMES, opaque=True) is None
    trial = APPARMOR.install_step("complain", entry, NAMES, opaque=True)
    assert trial.args == {"name": "confine-web", "path": "/etc/apparmor.d/containers/confine-web", "mode": "complain",
                          "content": "profile confine-web {}"}
    enforced = APPARMOR.install_step("enforce", entry, NAMES, opaque=True)
    assert enforced.args == {"name": "confine-web", "path": "/etc/apparmor.d/containers/confine-web",
                             "mode": "enforce"}


def test_seccomp_writes_its_seed_in_enforce_form_and_deploys_log_then_errno():
    entry = {"name": "web", "image": "x", "seccomp": {"deny": ["mount"], "allow": ["ptrace"]}}
    seed = SECCOMP.seed_step(entry, NAMES)
    assert seed.module == "confine.docker.seccomp_profile"
    assert seed.args == {"base": "docker_default", "allow": ["ptrace"], "deny": ["mount"], "drop_groups": [],
                         "path": "/var/lib/confine/web/seccomp.v2.json", "mode": "enforce", "file_mode": "0640"}
    assert SECCOMP.reads("complain", NAMES) is None
    trial = SECCOMP.install_step("complain", entry, NAMES)
    assert trial.args == {"base": "/var/lib/confine/web/seccomp.v2.json",
                          "path": "/etc/docker/seccomp/confine-web.json", "mode": "log"}
    enforced = SECCOMP.install_step("enforce", entry, NAMES, backup=True)
    assert enforced.args == {"base": "/var/lib/confine/web/seccomp.v2.json",
                             "path": "/etc/docker/seccomp/confine-web.json", "mode": "enforce", "backup": True}
    pending = SECCOMP.install_step("complain", entry, NAMES, seed_pending=True)
    assert pending.args["base"] == "docker_default" and pending.args["deny"] == ["mount"]
    with pytest.raises(MechanismError, match="no such mode 'baseline'"):
        SECCOMP.install_step("baseline", entry, NAMES)


@pytest.mark.parametrize("mode, on, results, expected", [
    ("complain", {}, {"seccomp": {"profile": ENFORCING}},
     ["apparmor=confine-web", "seccomp=" + _mechanisms.compact_json(ENFORCING), "no-new-privileges:true"]),
    ("complain", {}, {}, ["apparmor=confine-web", "no-new-privileges:true"]),
    ("enforce", {"apparmor": False}, {"seccomp": {"profile": ENFORCING}},
     ["seccomp=" + _mechanisms.compact_json(ENFORCING), "no-new-privileges:true"]),
    ("enforce", {"seccomp": False}, {}, ["apparmor=confine-web", "no-new-privileges:true"]),
    ("baseline", {}, {}, ["apparmor=docker-default"]),
    ("baseline", {"apparmor": False}, {}, []),
    ("unconfined", {"apparmor": False, "seccomp": False}, {}, ["apparmor=unconfined", "seccomp=unconfined"]),
])
def test_security_opts_come_from_each_enabled_mechanism_in_registry_order(mode, on, results, expected):
    assert _mechanisms.security_opts(mode, NAMES, _mechanisms.switches(**on), results) == expected


def test_enforce_needs_the_deployed_seccomp_profile():
    with pytest.raises(MechanismError, match="enforcing seccomp profile of confine-web is needed"):
        _mechanisms.security_opts("enforce", NAMES, _mechanisms.switches(), {})
    with pytest.raises(MechanismError, match="must be a JSON object, got list"):
        _mechanisms.security_opts("enforce", NAMES, _mechanisms.switches(), {"seccomp": {"profile": []}})
    with pytest.raises(MechanismError, match="no such mode 'audit'"):
        _mechanisms.security_opts("audit", NAMES, _mechanisms.switches())


@pytest.mark.parametrize("mode, on, expected", [
    ("complain", {}, {"apparmor": "confine-web", "seccomp": "/etc/docker/seccomp/confine-web.json"}),
    ("complain", {"seccomp": False}, {"apparmor": "confine-web", "seccomp": None}),
    ("enforce", {"seccomp": False}, {"apparmor": "confine-web", "seccomp": "docker-default"}),
    ("enforce", {"apparmor": False}, {"apparmor": None, "seccomp": "/etc/docker/seccomp/confine-web.json"}),
    ("baseline", {}, {"apparmor": "docker-default", "seccomp": "docker-default"}),
    ("baseline", {"apparmor": False}, {"apparmor": None, "seccomp": "docker-default"}),
    ("unconfined", {"apparmor": False}, {"apparmor": "unconfined", "seccomp": "unconfined"}),
])
def test_the_state_records_what_each_mechanism_runs_under(mode, on, expected):
    assert _mechanisms.runs_under(mode, LAYOUT, _mechanisms.switches(**on)) == expected
    # The record has a field per mechanism.
    assert set(expected) <= set(_state.FIELD_NAMES)


def test_verify_expects_each_enabled_mechanisms_profile():
    assert _mechanisms.expectations(NAMES, _mechanisms.switches()) == {
        "apparmor": "confine-web", "seccomp": "/etc/docker/seccomp/confine-web.json"}
    assert _mechanisms.expectations(NAMES, _mechanisms.switches(apparmor=False, seccomp=False)) == {
        "apparmor": None, "seccomp": None}


def test_each_mechanism_is_widened_from_its_own_events():
    assert _mechanisms.event_kinds(_mechanisms.switches()) == ["apparmor", "seccomp"]
    assert _mechanisms.event_kinds(_mechanisms.switches(apparmor=False)) == ["seccomp"]


def test_every_check_a_mechanism_owns_is_one_verify_runs():
    owned = [check for mechanism in _mechanisms.REGISTRY.values() for check in mechanism.verify_checks]
    assert sorted(owned) == sorted(_verify.MECHANISM_CHECKS) and len(set(owned)) == len(owned)


def test_verify_runs_a_mechanisms_checks_only_when_the_entry_expects_its_profile():
    inspect = {"State": {"Running": True, "Pid": 42}, "HostConfig": {"SecurityOpt": ["apparmor=confine-web"]},
               "AppArmorProfile": "confine-web"}
    facts = {"inspect": inspect, "status_text": "Seccomp:\t0\nNoNewPrivs:\t0\n", "attr_text": "confine-web (enforce)"}
    expected = _verify.validate_expected({"name": "web", "apparmor": "confine-web", "seccomp": None,
                                          "no_new_privileges": False})
    names = [check["check"] for check in _verify.evaluate(expected, facts)["checks"]]
    assert [name for name in names if name.startswith(("apparmor", "seccomp"))] == ["apparmor", "apparmor_kernel"]
    expected = dict(expected, apparmor=None, seccomp="docker-default")
    names = [check["check"] for check in _verify.evaluate(expected, facts)["checks"]]
    assert [name for name in names if name.startswith(("apparmor", "seccomp"))] == ["seccomp", "seccomp_kernel"]
