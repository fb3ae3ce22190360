# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container entries of ``confine_containers``, validated before anything is written.

A container's name becomes a directory under the state dir, a file name under the AppArmor and seccomp
directories and part of a profile name (``<prefix><name>``), so it must be a Docker container name
(``[a-zA-Z0-9][a-zA-Z0-9_.-]*``) that keeps all three valid: no ``/``, no ``..``, short enough.

Plain Python, no Ansible imports at module level: :func:`check_entries` imports Ansible's argument spec validator
when it is called (the module and the action plugin both have Ansible).
"""

from __future__ import annotations

import re

from ansible_collections.confine.docker.plugins.module_utils import _apparmor

DOCKER_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
NAME_MAX = 128


def _opt(kind, description, **more):
    spec = {"type": kind, "description": description}
    spec.update(more)
    return spec


def _strings(description):
    return _opt("list", description, elements="str")


# --- the container entry, declared once --------------------------------------------------------------------------
# In the form of an Ansible argument spec: the roles' meta/argument_specs.yml carry it (scripts/entry-specs writes
# it there, tests/unit/plugins/module_utils/test_entries.py checks that they are current), container_entries
# validates with it before anything is written, and docs/inventory.md is checked against it.

# The parameters of community.docker.docker_container the container role passes on (roles/container/tasks/main.yml),
# with that module's types; the security options are the runbook's and not among them.
RUN_OPTIONS = {
    "command": _opt("raw", "Command of the container, a list or a string."),
    "entrypoint": _strings("Entrypoint of the container."),
    "env": _opt("dict", "Environment variables."),
    "published_ports": _strings("Published ports, as C(docker run -p) takes them."),
    "volumes": _strings("Volumes and bind mounts, as C(docker run -v) takes them."),
    "capabilities": _strings("Capabilities added to Docker's default set (C(CAP_AUDIT_WRITE) is dropped unless "
                             "named here)."),
    "cap_drop": _strings("Capabilities dropped."),
    "privileged": _opt("bool", "Run privileged (verify fails a privileged container)."),
    "read_only": _opt("bool", "Mount the container's root filesystem read-only."),
    "restart_policy": _opt("str", "Restart policy.", choices=["no", "on-failure", "always", "unless-stopped"]),
    "user": _opt("str", "User (and group) the command runs as."),
    "working_dir": _opt("str", "Working directory of the command."),
    "networks": _opt("list", "Networks to connect, each a dict as C(community.docker.docker_container) takes it.",
                     elements="dict"),
    "network_mode": _opt("str", "Network mode (C(bridge), C(host), C(none), C(container:<name>), a network)."),
    "tmpfs": _strings("tmpfs mounts (C(/path) or C(/path:options))."),
}

ENTRY_OPTIONS = {
    "name": _opt("str", "Container name. Its AppArmor profile is C(<prefix><name>), its state directory "
                 "C(<state dir>/<name>/).", required=True),
    "image": _opt("str", "Image the container runs (it must be present on the host).", required=True),
    "run": _opt("dict", "Run options, named as the parameters of C(community.docker.docker_container). The "
                        "security options are the runbook's.", options=RUN_OPTIONS),
    "apparmor": _opt("dict", "Seed of the container's AppArmor profile, as the C(spec), C(src) or C(content) option "
                             "of C(confine.docker.apparmor_profile). Without it the profile starts from a spec with "
                             "no extra rules.", mutually_exclusive=[["spec", "src", "content"]],
                     options={"spec": _opt("raw", "The spec of C(confine.docker.apparmor_profile) (a mapping, or "
                                                  "bane TOML)."),
                              "src": _opt("path", "A profile file on the controller."),
                              "content": _opt("str", "The profile's text.")}),
    "seccomp": _opt("dict", "Seed of the container's seccomp profile, as in C(confine.docker.seccomp_profile).",
                    options={"base": _opt("str", "C(docker_default) (the default), C(runtime_minimum), C(empty) or "
                                                 "a path on the host."),
                             "allow": _strings("Syscalls allowed on top of the base."),
                             "deny": _strings("Syscalls denied."),
                             "drop_groups": _strings("Groups of syscalls taken out of the base.")}),
    "workload": _opt("dict", "What the collect stage runs to exercise the container; the verify stage runs the "
                             "same commands.",
                     options={"commands": _opt("list", "Commands run in the container with C(docker exec), each "
                                                       "a list or a string.", elements="raw"),
                              "probes": _strings("URLs fetched from the host."),
                              "min_observe": _opt("int", "Seconds to observe the container at least.")}),
    "health": _opt("dict", "The health check the verify stage runs.",
                   mutually_exclusive=[["command", "url"]],
                   options={"command": _opt("raw", "A command run in the container."),
                            "url": _opt("str", "A URL fetched from the host."),
                            "status": _opt("raw", "The HTTP status (or list of them) C(url) must answer.")}),
    "approve": _opt("dict", "Items the widen stage's guard refuses that a reviewer admitted, per kind, as listed "
                            "in the review report.",
                    options={"apparmor": _strings("AppArmor items (a path, C(capability sys_admin), ...)."),
                             "seccomp": _strings("Syscall names.")}),
}


# The roles whose meta/argument_specs.yml take container entries (``confine_containers``).
ENTRY_ROLES = ("complain", "collect", "widen", "enforce", "verify", "rollback")


def entries_argument_spec(description="The containers to confine (docs/inventory.md)."):
    """The argument spec of ``confine_containers``: a list of entries as ENTRY_OPTIONS declares them.

    A new copy each time, and no ``default`` on the options that have ``options`` of their own: Ansible's
    validator fills a default dict in place with the suboptions of the first entry that lacks the key, and then
    checks the next entries against that (``None`` fails ``choices``, every key counts as given for
    ``mutually_exclusive``).
    """
    return {"description": description, "type": "list", "elements": "dict", "required": True,
            "options": _deep_copy(ENTRY_OPTIONS)}


def _deep_copy(value):
    if isinstance(value, dict):
        return {key: _deep_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deep_copy(item) for item in value]
    return value


class EntryError(ValueError):
    """An entry of ``confine_containers`` that cannot be used; the message names it and says why."""


def validate_name(name, prefix="confine-", where="confine_containers"):
    if not isinstance(name, str) or not name:
        raise EntryError("%s: every container needs a name (a non-empty string), got %r" % (where, name))
    if len(name) > NAME_MAX:
        raise EntryError("%s: container name %r is longer than %d characters" % (where, name[:40] + "...", NAME_MAX))
    if not DOCKER_NAME_RE.fullmatch(name) or ".." in name:
        raise EntryError(
            "%s: %r is not a container name the runbook can use: Docker's rule is [a-zA-Z0-9][a-zA-Z0-9_.-]* (no '/', "
            "no spaces, no line breaks), and '..' is refused since the name becomes a directory" % (where, name)
        )
    try:
        _apparmor.validate_name(prefix + name)
    except _apparmor.SpecError as exc:
        raise EntryError("%s: container %r gives the profile name %r, which is refused: %s"
                         % (where, name, prefix + name, exc)) from exc
    return name


def schema_problems(containers):
    """What Ansible's argument spec validator finds wrong with ``containers`` against :func:`entries_argument_spec`
    (unknown keys, types, choices)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # pylint: disable=import-outside-toplevel

    validator = ArgumentSpecValidator({"confine_containers": entries_argument_spec()})
    return validator.validate({"confine_containers": containers}).error_messages


def check_entries(containers, prefix="confine-"):
    """:func:`validate_entries` with the schema's problems: what the module and the action plugin run."""
    return validate_entries(containers, prefix, schema_problems(containers))


def validate_entries(containers, prefix="confine-", schema_problems=()):
    """Validate ``confine_containers``; return the names in order. Raises EntryError with every problem found.

    ``schema_problems`` are what Ansible's argument spec validator found against :func:`entries_argument_spec`
    (unknown keys, types, choices); the callers, which may import Ansible, pass them in and they are reported
    first, with the names' problems.
    """
    if not isinstance(prefix, str):
        raise EntryError("confine_profile_prefix must be a string, got %r" % (prefix,))
    if not isinstance(containers, (list, tuple)):
        raise EntryError("confine_containers must be a list of container entries, got %s" % type(containers).__name__)
    problems = ["confine_containers: %s" % problem for problem in schema_problems]
    names = []
    for index, entry in enumerate(containers):
        where = "confine_containers[%d]" % index
        if not isinstance(entry, dict):
            kind = type(entry).__name__
            problems.append("%s: an entry is a mapping (name, image, run, ...), got %s" % (where, kind))
            continue
        try:
            name = validate_name(entry.get("name"), prefix, where)
        except EntryError as exc:
            problems.append(str(exc))
            continue
        if name in names:
            problems.append("%s: container %r is named more than once" % (where, name))
        names.append(name)
        image = entry.get("image")
        if image is not None and (not isinstance(image, str) or not image.strip()):
            problems.append("%s (%s): image must be a non-empty string" % (where, name))
    if problems:
        raise EntryError("; ".join(problems))
    return names


def _cap_names(values):
    return [str(value).upper().removeprefix("CAP_") for value in values or ()]


def cap_drop(entry):
    """The capabilities the runbook drops from an entry's container: the entry's own ``run.cap_drop``, plus
    ``AUDIT_WRITE`` unless the entry keeps it (``run.capabilities``) or already drops it or ``ALL``.

    With CAP_AUDIT_WRITE a process in the container can send user-space audit messages, whose text can look like
    any AppArmor record (docs/collect-widen.md, "Threat model").
    """
    run = (entry or {}).get("run") or {}
    own = list(run.get("cap_drop") or [])
    added, dropped = _cap_names(run.get("capabilities")), _cap_names(own)
    if "AUDIT_WRITE" in added or "AUDIT_WRITE" in dropped or "ALL" in dropped:
        return own
    return [*own, "AUDIT_WRITE"]
