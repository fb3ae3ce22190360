"""Unit tests for _entries: container entries validated before anything is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.confine.docker.plugins.module_utils import _entries
from ansible_collections.confine.docker.plugins.module_utils._entries import EntryError, validate_entries


def test_valid_entries_give_their_names():
    assert validate_entries([{"name": "web", "image": "nginx"}, {"name": "db.primary_1-a", "image": "pg"}]) == [
        "web", "db.primary_1-a"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "../escape", "image": "x"}], "not a container name"),
        ([{"name": "a/b", "image": "x"}], "not a container name"),
        ([{"name": "a..b", "image": "x"}], "'..' is refused"),
        ([{"name": "web\n", "image": "x"}], "not a container name"),
        ([{"name": "-web", "image": "x"}], "not a container name"),
        ([{"name": "we b", "image": "x"}], "not a container name"),
        ([{"name": "", "image": "x"}], "needs a name"),
        ([{"image": "x"}], "needs a name"),
        ([{"name": 5, "image": "x"}], "needs a name"),
        ([{"name": "w" * 129, "image": "x"}], "longer than 128"),
        ([{"name": "web", "image": "x"}, {"name": "web", "image": "y"}], "more than once"),
        ([{"name": "web", "image": ""}], "image must be a non-empty string"),
        ([{"name": "web"}], "image is required \\(or adopt: true"),
        ([{"name": "web", "adopt": False}], "image is required"),
        ([{"name": "web", "adopt": True, "run": {}}], "drop run, or drop adopt"),
        (["web"], "an entry is a mapping"),
        ({"name": "web"}, "must be a list"),
    ],
)
def test_bad_entries_are_refused(entries, message):
    with pytest.raises(EntryError, match=message):
        validate_entries(entries)


def test_a_compose_entry_needs_no_image_and_takes_no_run_or_adopt():
    compose = {"project_src": "/srv/shop", "service": "web", "files": ["compose.yml"], "project_name": "shop"}
    assert _entries.check_entries([{"name": "shop-web", "compose": compose, "workload": {"probes": ["http://x/"]}}]) \
        == ["shop-web"]
    with pytest.raises(EntryError, match="drop run and adopt"):
        _entries.check_entries([{"name": "shop-web", "compose": compose, "run": {}, "adopt": True}])


def test_an_adopted_entry_needs_no_image_and_keeps_its_other_keys():
    entries = [{"name": "web", "adopt": True, "workload": {"probes": ["http://127.0.0.1:8080/"]},
                "health": {"url": "http://127.0.0.1:8080/"}, "approve": {"seccomp": ["keyctl"]}},
               {"name": "db", "image": "postgres"}]
    assert _entries.schema_problems(entries) == []
    assert _entries.check_entries(entries) == ["web", "db"]


def test_profile_name_must_stay_valid_with_the_prefix():
    with pytest.raises(EntryError, match="profile name"):
        validate_entries([{"name": "w" * 120, "image": "x"}], prefix="p" * 90)
    with pytest.raises(EntryError, match="reserved"):
        validate_entries([{"name": "default", "image": "x"}], prefix="docker-")


def test_every_problem_is_reported_at_once():
    with pytest.raises(EntryError) as raised:
        validate_entries([{"name": "../a"}, {"name": "b/c"}])
    assert "confine_containers[0]" in str(raised.value) and "confine_containers[1]" in str(raised.value)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ({}, ["AUDIT_WRITE"]),
        ({"cap_drop": ["NET_RAW"]}, ["NET_RAW", "AUDIT_WRITE"]),
        ({"capabilities": ["AUDIT_WRITE"]}, []),
        ({"capabilities": ["cap_audit_write"]}, []),
        ({"cap_drop": ["ALL"]}, ["ALL"]),
        ({"cap_drop": ["CAP_AUDIT_WRITE"]}, ["CAP_AUDIT_WRITE"]),
        (None, ["AUDIT_WRITE"]),
    ],
)
def test_cap_drop_adds_audit_write_unless_kept(run, expected):
    from ansible_collections.confine.docker.plugins.module_utils._entries import cap_drop

    assert cap_drop({"name": "web", "run": run}) == expected


# --- the entry schema, declared once (module_utils/_entries.py) ----------------------------------------------------

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")


def role_entry_spec(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]["confine_containers"]


def without_description(spec):
    return {key: value for key, value in spec.items() if key != "description"}


@pytest.mark.parametrize("role", _entries.ENTRY_ROLES)
def test_every_roles_argument_spec_carries_the_declared_entry_schema(role):
    assert without_description(role_entry_spec(role)) == without_description(_entries.entries_argument_spec())


def test_the_roles_argument_specs_are_as_the_generator_writes_them():
    script = os.path.join(ROOT, "scripts", "entry_specs.py")
    proc = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_role_that_reads_container_entries_is_covered():
    roles = []
    for name in os.listdir(os.path.join(ROOT, "roles")):
        spec = yaml.safe_load(open_text(os.path.join(ROOT, "roles", name, "meta", "argument_specs.yml")))
        if "confine_containers" in spec["argument_specs"]["main"]["options"]:
            roles.append(name)
    assert sorted(roles) == sorted(_entries.ENTRY_ROLES)


def open_text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_the_container_role_passes_run_through_and_sets_only_the_runbooks_keys():
    with open(os.path.join(ROOT, "roles", "container", "tasks", "main.yml"), encoding="utf-8") as handle:
        task = yaml.safe_load(handle)[0]
    # The entry's run, unchanged, as the module's parameters; the task's own keys override them.
    assert task["module_defaults"] == {"community.docker.docker_container": "{{ container_item.run | default({}) }}"}
    params = task["community.docker.docker_container"]
    own = {"security_opts", "comparisons", "cap_drop", "pull"}
    assert set(params) == set(_entries.RUNBOOK_OWNED) - {"restart"} | own
    # pull is the entry's own, but only the start of a trial passes it on (container_pull, never by default).
    assert params["pull"] == "{{ container_pull }}"
    assert "pull" not in _entries.RUNBOOK_OWNED
    # The merged keys start from the entry's own.
    assert "container_item.run.security_opts" in params["security_opts"]
    assert "container_item.run.comparisons" in params["comparisons"]
    assert "confine.docker.cap_drop" in params["cap_drop"]


def inventory_table():
    """The rows of docs/inventory.md's entry table: key -> (type, required, meaning)."""
    with open(os.path.join(ROOT, "docs", "inventory.md"), encoding="utf-8") as handle:
        lines = handle.read().split("| key | type | required | meaning |", 1)[1].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith("| `"):
            break
        key, kind, required, meaning = (cell.strip() for cell in line.strip("|").split(" | ", 3))
        rows[key.strip("`")] = (kind, required, meaning)
    return rows


def test_docs_inventory_describes_the_declared_schema():
    rows = inventory_table()
    assert list(rows) == list(_entries.ENTRY_OPTIONS)
    for key, option in _entries.ENTRY_OPTIONS.items():
        kind, required, meaning = rows[key]
        assert kind == option["type"], key
        assert required == ("yes" if option.get("required") else "no"), key
        named = set(re.findall(r"`([a-z_]+)`", meaning))
        missing = set(option.get("options", {})) - named
        assert not missing, "docs/inventory.md does not name %s of %s" % (sorted(missing), key)


SCHEMA_ERRORS = [
    ({"run": {"command": ["true"], "colour": "red"}},
     "confine_containers[0] (web): run.colour is not a parameter of community.docker.docker_container"),
    ({"run": {"comand": ["true"]}}, "run.comand is not a parameter of community.docker.docker_container "
                                    "(did you mean 'command'?)"),
    ({"run": {"restart_policy": "sometimes"}}, "value of restart_policy must be one of"),
    ({"run": {"privileged": "maybe"}}, "privileged"),
    ({"run": {"mounts": [{"source": "/srv", "type": "bind"}]}}, "missing required arguments: target"),
    ({"run": {"mounts": [{"target": "/srv", "type": "nfs"}]}}, "value of type must be one of"),
    ({"run": {"healthcheck": {"test": ["CMD", "true"], "retries": "often"}}}, "retries"),
    ({"run": {"log_options": {"max-size": "1m"}}}, "missing parameter(s) required by 'log_options': log_driver"),
    ({"run": {"networks": [{"aliases": ["a"]}]}}, "missing required arguments: name"),
    ({"run": {"state": "absent"}}, "run.state is the runbook's: the runbook runs the container"),
    ({"run": {"image": "other"}}, "run.image is the runbook's: the image is the entry's own 'image'"),
    ({"run": {"pull": "sometimes"}}, "pull"),
    ({"adopt": True}, "adopt: true takes the image and the run options from the container on the host; drop image"),
    ({"adopt": True, "run": {"env": {"A": "1"}}}, "drop image and run"),
    ({"adopt": "perhaps"}, "adopt"),
    ({"compose": {"project_src": "/srv/shop", "service": "web", "files": ["compose.yml"]}},
     "a compose entry runs the service as the project declares it; drop image"),
    ({"compose": {"project_src": "/srv/shop", "service": "web"}}, "missing required arguments: files"),
    ({"compose": {"project_src": "/srv/shop", "service": "web", "files": ["c.yml"], "build": True}}, "build"),
    ({"run": {"docker_host": "tcp://elsewhere:2375"}}, "run.docker_host is the runbook's: the runbook works on the "
                                                       "host's own Docker engine"),
    ({"run": {"docker_url": "tcp://elsewhere:2375"}}, "run.docker_url is the runbook's"),
    ({"run": {"security_opts": ["label=disable", "seccomp=unconfined"]}},
     "run.security_opts 'seccomp=unconfined' is the runbook's"),
    ({"run": {"security_opts": ["apparmor:unconfined"]}}, "run.security_opts 'apparmor:unconfined' is the runbook's"),
    ({"run": {"security_opts": ["no-new-privileges"]}}, "run.security_opts 'no-new-privileges' is the runbook's"),
    ({"run": {"security_opts": ["no-new-privileges:false"]}},
     "run.security_opts 'no-new-privileges:false' is the runbook's"),
    ({"run": {"privileged": True}}, "run.privileged: true is refused"),
    ({"run": {"comparisons": {"security_opts": "ignore"}}}, "run.comparisons.security_opts is the runbook's"),
    ({"colour": "red"}, "confine_containers.colour"),
    ({"apparmor": {"spec": {}, "content": "profile x {}"}}, "mutually exclusive: spec|src|content"),
    ({"seccomp": {"deny": ["mount"], "base_profile": "x"}}, "confine_containers.seccomp.base_profile"),
    ({"workload": {"min_observe": "soon"}}, "min_observe"),
    ({"workload": {"command": ["true"]}}, "confine_containers.workload.command"),
    ({"health": {"url": "http://a/", "command": ["true"]}}, "mutually exclusive: command|url"),
    ({"approve": {"seccomp": ["mount"], "selinux": ["x"]}}, "confine_containers.approve.selinux"),
]


@pytest.mark.parametrize("extra, message", SCHEMA_ERRORS)
def test_the_schema_refuses_unknown_keys_types_and_choices_everywhere(extra, message):
    entries = [dict({"name": "web", "image": "nginx"}, **extra)]
    with pytest.raises(EntryError, match=re.escape(message)):
        _entries.check_entries(entries)


def test_an_unknown_run_key_is_named_once_without_the_modules_hundred_parameters():
    with pytest.raises(EntryError) as raised:
        _entries.check_entries([{"name": "web", "image": "nginx", "run": {"colour": "red", "flavour": "x"}}])
    message = str(raised.value)
    assert "Supported parameters" not in message
    assert message.count("run.colour") == 1 and message.count("run.flavour") == 1


def test_the_runbooks_own_keys_are_refused_without_the_docker_spec_too():
    # validate_entries alone (no Ansible): the runbook's keys and the confinement are still refused.
    with pytest.raises(EntryError, match=re.escape("run.recreate is the runbook's")):
        validate_entries([{"name": "web", "image": "nginx", "run": {"recreate": True}}])
    with pytest.raises(EntryError, match=re.escape("run.privileged: true is refused")):
        validate_entries([{"name": "web", "image": "nginx", "run": {"privileged": True}}])


EVERY_KIND_OF_RUN = {
    "command": "nginx -g 'daemon off;'", "entrypoint": ["/bin/sh", "-c"], "env": {"A": "1"},
    "published_ports": ["127.0.0.1:8080:80"], "volumes": ["/srv:/srv:ro"], "capabilities": ["net_bind_service"],
    "cap_drop": ["ALL"], "privileged": False, "read_only": True, "restart_policy": "no", "user": "101:101",
    "working_dir": "/srv", "networks": [{"name": "front", "aliases": ["web"]}], "network_mode": "bridge",
    "tmpfs": ["/run"],
    # beyond the hand-kept list the schema had before it read the module's own spec
    "mounts": [{"target": "/data", "source": "data", "type": "volume"}], "labels": {"tier": "front"},
    "memory": "256m", "cpus": 0.5, "pids_limit": 100, "shm_size": "64m", "ulimits": ["nofile:1024:2048"],
    "sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"}, "devices": ["/dev/fuse:/dev/fuse:rwm"],
    "log_driver": "json-file", "log_options": {"max-size": "1m"}, "hostname": "web", "dns_servers": ["9.9.9.9"],
    "etc_hosts": {"db": "10.0.0.2"}, "groups": ["adm"], "stop_signal": "SIGQUIT", "init": True,
    "healthcheck": {"test": ["CMD", "true"], "interval": "30s", "retries": 3},
    "security_opts": ["label=disable", "systempaths=unconfined"], "comparisons": {"env": "strict"},
    "ports": ["8081:81"], "detach": True,
}


def test_the_schema_takes_every_documented_key():
    entry = {"name": "web", "image": "nginx", "run": EVERY_KIND_OF_RUN,
             "apparmor": {"spec": {"filesystem": {"read_only_paths": ["/etc/**"]}}},
             "seccomp": {"base": "docker_default", "allow": ["mkdir"], "deny": ["mount"], "drop_groups": ["debug"]},
             "workload": {"commands": [["true"], "echo hi"], "probes": ["http://127.0.0.1:8080/"], "min_observe": 3},
             "health": {"url": "http://127.0.0.1:8080/", "status": [200, 204]},
             "approve": {"apparmor": ["capability sys_admin"], "seccomp": ["ptrace"]}}
    assert _entries.schema_problems([entry]) == []
    assert _entries.check_entries([entry]) == ["web"]
    # Every call gets a new copy of the declaration: the validator may change the one it is given.
    assert _entries.entries_argument_spec() is not _entries.entries_argument_spec()
    run = _entries.run_spec()
    assert _entries.entries_argument_spec(run=run)["options"]["run"] is not run
    assert _entries.docker_container_spec() is not _entries.docker_container_spec()


def test_run_takes_the_installed_modules_parameters_except_the_runbooks():
    from ansible_collections.community.docker.plugins.module_utils.module_container import base

    spec = _entries.docker_container_spec()
    run = _entries.run_spec(spec)["options"]
    # Every option group the module declares for the Docker API is there, with the module's own types ...
    for group in base.OPTIONS:
        for option in group.options:
            if option.not_an_ansible_option or option.name in _entries.RUNBOOK_OWNED:
                continue
            assert option.name in run, option.name
            assert run[option.name]["type"] == option.ansible_type, option.name
    # ... and the module's own parameters of run_module, but not the runbook's or the connection's.
    assert {"comparisons", "cleanup", "keep_volumes", "image_comparison", "removal_wait_timeout"} <= set(run)
    assert not set(run) & set(_entries.owned_run_keys(spec))
    assert {"docker_host", "tls", "validate_certs", "name", "image", "state", "pull"} <= set(spec["argument_spec"])
    assert _entries.run_spec(spec)["required_by"]["restart_retries"] == ["restart_policy"]


def test_security_opt_keys_in_both_separators():
    options = ("seccomp=x.json", "seccomp:x", "apparmor=p", "no-new-privileges", "no-new-privileges:true",
               "label=disable", "systempaths=unconfined", " Seccomp = x")
    assert [_entries.security_opt_key(option) for option in options] == [
        "seccomp", "seccomp", "apparmor", "no-new-privileges", "no-new-privileges", "label", "systempaths", "seccomp"]


def test_entries_that_lack_an_option_do_not_inherit_another_entrys():
    # Ansible's validator fills a shared default dict in place; the schema declares none, so the second and third
    # entries are judged on what they hold.
    entries = [{"name": "a", "image": "x", "apparmor": {"spec": {}}, "health": {"url": "http://a/"},
                "run": {"restart_policy": "always", "mounts": [{"target": "/a", "type": "tmpfs"}]}},
               {"name": "b", "image": "x"},
               {"name": "c", "image": "x", "apparmor": {"content": "profile c {}"}, "health": {"command": ["true"]}}]
    assert _entries.schema_problems(entries) == []
    assert _entries.check_entries(entries) == ["a", "b", "c"]
    for role in _entries.ENTRY_ROLES:
        validator = ArgumentSpecValidator({"confine_containers": role_entry_spec(role)})
        assert validator.validate({"confine_containers": entries}).error_messages == [], role


def test_docs_inventory_names_every_key_the_runbook_owns_in_run():
    with open(os.path.join(ROOT, "docs", "inventory.md"), encoding="utf-8") as handle:
        section = handle.read().split("### Run options (`run`)", 1)[1].split("\n### ", 1)[0]
    named = {word.rstrip("=:") for word in re.findall(r"`([a-z_.=:-]+)", section)}
    missing = (set(_entries.RUNBOOK_OWNED) | set(_entries.OWNED_SECURITY_OPTS) | {"privileged", "docker_host"}) - named
    assert not missing, "docs/inventory.md's run section does not name %s" % sorted(missing)
