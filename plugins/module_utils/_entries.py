# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container entries of ``confine_containers``, validated before anything is written.

A container's name becomes a directory under the state dir, a file name under the AppArmor and seccomp
directories and part of a profile name (``<prefix><name>``), so it must be a Docker container name
(``[a-zA-Z0-9][a-zA-Z0-9_.-]*``) that keeps all three valid: no ``/``, no ``..``, short enough.

The options of an entry's ``run`` are those of the installed ``community.docker.docker_container``, read from that
module's own argument spec (:func:`docker_container_spec`), minus the ones the runbook owns (RUNBOOK_OWNED, the
connection options, the confinement).

Plain Python: no Ansible imports at module level; :func:`docker_container_spec` and :func:`check_entries` import
community.docker and Ansible's argument spec validator when called (the action plugin, the module, the tests).
"""

from __future__ import annotations

import difflib
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

# `run` takes the parameters of community.docker.docker_container, read from the installed module's own argument
# spec (docker_container_spec), except those the runbook owns: the container role sets them itself
# (roles/container/tasks/main.yml) and container_entries names them when an entry holds one.
RUNBOOK_OWNED = {
    "name": "the container's name is the entry's own 'name'",
    "image": "the image is the entry's own 'image'",
    "state": "the runbook runs the container (state: started) and decides when it stops",
    "recreate": "the runbook decides when the container is recreated",
    "restart": "the runbook decides when the container restarts",
}
# The connection options of community.docker (docker_host, tls, ...) are the runbook's too: every stage talks to
# the host's own engine (docker inspect, docker exec), so a container made through another would not be the one
# the runbook confines and verifies.
CONNECTION_REASON = "the runbook works on the host's own Docker engine, so the connection options are its own"
# Security options whose key is the runbook's: the confinement it manages. Any other (label=..., systempaths=...)
# is merged with the runbook's.
OWNED_SECURITY_OPTS = ("seccomp", "apparmor", "no-new-privileges")


def docker_container_spec():
    """The argument spec of the installed ``community.docker.docker_container``, as that module builds it.

    A dict with ``argument_spec`` (its parameters, the connection options included), ``connection`` (the names of
    the connection options) and the constraints between parameters (``mutually_exclusive``, ``required_together``,
    ``required_if``, ``required_one_of``, ``required_by``). Read by running the module's own ``run_module`` up to
    the point where it creates its client, so that it is exactly what the module validates with; a new copy each
    call. Imports community.docker (and so Ansible): only callers that may, the action plugin, the module and the
    tests, call it.
    """
    if not _DOCKER_SPEC:
        _DOCKER_SPEC.update(_read_docker_container_spec())
    return _deep_copy(_DOCKER_SPEC)


_DOCKER_SPEC = {}


class _SpecRead(Exception):
    pass


def _read_docker_container_spec():
    from ansible_collections.community.docker.plugins.module_utils import common_api
    from ansible_collections.community.docker.plugins.module_utils.module_container import docker_api, module

    captured = {}

    def client(**kwargs):
        captured.update(kwargs)
        raise _SpecRead()

    real = docker_api.AnsibleDockerClient
    docker_api.AnsibleDockerClient = client
    try:
        module.run_module(docker_api.DockerAPIEngineDriver())
    except _SpecRead:
        pass
    finally:
        docker_api.AnsibleDockerClient = real
    if "argument_spec" not in captured:
        raise EntryError("could not read the argument spec of community.docker.docker_container")
    spec = dict(common_api.DOCKER_COMMON_ARGS)
    spec.update(captured["argument_spec"])
    return {
        "argument_spec": spec,
        "connection": sorted(common_api.DOCKER_COMMON_ARGS),
        "mutually_exclusive": [*common_api.DOCKER_MUTUALLY_EXCLUSIVE, *(captured.get("mutually_exclusive") or [])],
        "required_together": [*common_api.DOCKER_REQUIRED_TOGETHER, *(captured.get("required_together") or [])],
        "required_if": [list(rule) for rule in captured.get("required_if") or []],
        "required_one_of": list(captured.get("required_one_of") or []),
        "required_by": dict(captured.get("required_by") or {}),
    }


def owned_run_keys(spec=None):
    """The parameters of docker_container an entry's ``run`` may not hold, each (aliases too) with the reason."""
    spec = spec or docker_container_spec()
    owned = dict(RUNBOOK_OWNED)
    owned.update((name, CONNECTION_REASON) for name in spec["connection"])
    for name, option in spec["argument_spec"].items():
        for alias in option.get("aliases") or ():
            if name in owned:
                owned[alias] = owned[name]
    return owned


def run_spec(spec=None):
    """The argument spec of an entry's ``run``: docker_container's parameters minus the runbook's, with the
    module's constraints between them (those that name only parameters ``run`` takes)."""
    spec = spec or docker_container_spec()
    owned = owned_run_keys(spec)
    options = {name: option for name, option in spec["argument_spec"].items() if name not in owned}
    run = _opt("dict", RUN_DESCRIPTION, options=options)

    def takes(names):
        return all(name in options for name in names)

    for key in ("mutually_exclusive", "required_together", "required_one_of"):
        kept = [list(group) for group in spec[key] if takes(group)]
        if kept:
            run[key] = kept
    required_if = [rule for rule in spec["required_if"] if takes([rule[0], *rule[2]])]
    if required_if:
        run["required_if"] = required_if
    required_by = {name: list(needs) for name, needs in spec["required_by"].items() if takes([name, *needs])}
    if required_by:
        run["required_by"] = required_by
    return run


RUN_DESCRIPTION = ("Run options: parameters of C(community.docker.docker_container), passed on unchanged and checked "
                   "by C(confine.docker.container_entries) against the installed module. C(pull) applies when the "
                   "trial starts (later stages never pull: the image enforced is the image tried). The runbook owns "
                   "C(name), C(image), C(state), C(recreate), C(restart), the connection options and the "
                   "confinement (docs/inventory.md).")


ENTRY_OPTIONS = {
    "name": _opt("str", "Container name. Its AppArmor profile is C(<prefix><name>), its state directory "
                 "C(<state dir>/<name>/).", required=True),
    "image": _opt("str", "Image the container runs (it must be present on the host). Required unless C(adopt) or "
                         "C(compose)."),
    "adopt": _opt("bool", "Adopt the container of this name that runs on the host, started by anyone: the runbook "
                          "reads its configuration (C(docker inspect)) once, keeps it in C(<state dir>/<name>/"
                          "adopted.json), and recreates it with that configuration plus the confinement. An adopted "
                          "entry takes no C(image) or C(run)."),
    "compose": _opt("dict", "A service of a docker compose project (compose v2): the runbook writes its confinement "
                            "into an override of its own, C(compose.confine.yml) in C(project_src), and brings the "
                            "service up with the project's files plus the override, never editing them. The "
                            "service's container is named after the entry. A compose entry takes no C(image), "
                            "C(run) or C(adopt).",
                    options={"project_src": _opt("path", "The project's directory.", required=True),
                             "service": _opt("str", "The service.", required=True),
                             "files": _opt("list", "The project's compose files, relative to C(project_src), as "
                                                   "given to C(docker compose -f).", elements="str", required=True),
                             "project_name": _opt("str", "The project's name (by default compose's: the "
                                                         "directory's name).")}),
    "run": _opt("dict", RUN_DESCRIPTION),
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


def entries_argument_spec(description="The containers to confine (docs/inventory.md).", run=None):
    """The argument spec of ``confine_containers``: a list of entries as ENTRY_OPTIONS declares them.

    ``run`` is the argument spec of the entries' ``run`` (:func:`run_spec`, which reads the installed
    community.docker); without it ``run`` is any dict. The roles' ``meta/argument_specs.yml`` carry the form
    without it (the collection is installed beside whichever community.docker the controller has), and
    ``confine.docker.container_entries``, the first task of every stage, validates with the whole one.

    A new copy each time, and no ``default`` on the options that have ``options`` of their own: Ansible's
    validator fills a default dict in place with the suboptions of the first entry that lacks the key, and then
    checks the next entries against that (``None`` fails ``choices``, every key counts as given for
    ``mutually_exclusive``).
    """
    options = _deep_copy(ENTRY_OPTIONS)
    if run is not None:
        options["run"] = _deep_copy(run)
    return {"description": description, "type": "list", "elements": "dict", "required": True, "options": options}


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


def validate_entries(containers, prefix="confine-", schema_problems=(), docker_spec=None):
    """Validate ``confine_containers``; return the names in order. Raises EntryError with every problem found.

    ``schema_problems`` are what Ansible's argument spec validator found against :func:`entries_argument_spec`
    (types, choices, unknown keys outside ``run``); the callers, which may import Ansible, pass them in and they are
    reported first, with the names' problems. ``docker_spec`` (:func:`docker_container_spec`) lets each entry's
    ``run`` be checked for keys docker_container does not have; without it only the runbook's own keys and the
    confinement are checked there. :func:`check_entries` does all of it.
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
        if entry.get("compose") is not None:
            given = [key for key in ("image", "run", "adopt") if entry.get(key) not in (None, False)]
            if given:
                problems.append("%s (%s): a compose entry runs the service as the project declares it; drop %s"
                                % (where, name, " and ".join(given)))
            continue
        if entry.get("adopt") is True:
            given = [key for key in ("image", "run") if entry.get(key) is not None]
            if given:
                problems.append("%s (%s): adopt: true takes the image and the run options from the container on "
                                "the host; drop %s, or drop adopt to declare the container"
                                % (where, name, " and ".join(given)))
            continue
        if image is None:
            problems.append("%s (%s): image is required (or adopt: true for a container that runs on the host, or "
                            "compose for a compose service)" % (where, name))
        elif not isinstance(image, str) or not image.strip():
            problems.append("%s (%s): image must be a non-empty string" % (where, name))
        problems.extend(run_problems(entry.get("run"), "%s (%s)" % (where, name), docker_spec))
    if problems:
        raise EntryError("; ".join(problems))
    return names


def run_problems(run, where, docker_spec=None):
    """What is wrong with an entry's ``run`` beyond types: keys the runbook owns, keys docker_container does not
    have (with ``docker_spec``), and confinement the entry tries to set itself."""
    if not isinstance(run, dict):
        return []  # absent, or a type error the schema reports
    problems = []
    owned = owned_run_keys(docker_spec) if docker_spec else RUNBOOK_OWNED
    for key in sorted(set(run) & set(owned)):
        problems.append("%s: run.%s is the runbook's: %s" % (where, key, owned[key]))
    if docker_spec:
        known = set()
        for name, option in docker_spec["argument_spec"].items():
            known.update([name, *(option.get("aliases") or ())])
        for key in sorted(set(run) - known - set(owned)):
            close = difflib.get_close_matches(str(key), sorted(known - set(owned)), n=1)
            problems.append("%s: run.%s is not a parameter of community.docker.docker_container%s"
                            % (where, key, " (did you mean %r?)" % close[0] if close else ""))
    for item in run.get("security_opts") or ():
        key = security_opt_key(item)
        if key in OWNED_SECURITY_OPTS:
            problems.append("%s: run.security_opts %r is the runbook's: it sets %s for each stage (the other security "
                            "options, label= and systempaths=, are merged with its own)" % (where, item, key))
    if run.get("privileged") is True:
        problems.append("%s: run.privileged: true is refused: Docker runs a privileged container without seccomp "
                        "and with every capability and device, and verify fails it; give the container the "
                        "capabilities and devices it needs instead" % where)
    comparisons = run.get("comparisons")
    if isinstance(comparisons, dict) and "security_opts" in comparisons:
        problems.append("%s: run.comparisons.security_opts is the runbook's: it compares them strictly" % where)
    return problems


def security_opt_key(option):
    """The key of a Docker security option: ``seccomp`` of ``seccomp=x`` and of the old ``seccomp:x`` form,
    ``no-new-privileges`` of ``no-new-privileges`` and ``no-new-privileges:true``."""
    text = str(option).strip()
    return re.split(r"[=:]", text, maxsplit=1)[0].strip().lower()


_RUN_UNSUPPORTED = re.compile(r"^(confine_containers\.run\.[^ ,]+(, |\. ))+Supported parameters include: ")


def schema_problems(containers, docker_spec=None):
    """What Ansible's argument spec validator finds wrong with ``containers`` against the entry schema, ``run``
    against ``docker_spec`` (by default the installed docker_container's, :func:`docker_container_spec`).

    An unknown key of ``run`` is left to :func:`validate_entries`, which names it per entry with a suggestion; the
    validator's own message lists the module's hundred parameters."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # pylint: disable=import-outside-toplevel

    if docker_spec is None:
        docker_spec = docker_container_spec()
    validator = ArgumentSpecValidator({"confine_containers": entries_argument_spec(run=run_spec(docker_spec))})
    messages = validator.validate({"confine_containers": containers}).error_messages
    return [message for message in messages if not _RUN_UNSUPPORTED.match(message)]


def check_entries(containers, prefix="confine-"):
    """Validate ``confine_containers`` against the whole schema (``run`` against the installed docker_container's
    argument spec); return the names. Raises EntryError. For the callers that may import Ansible (the
    ``container_entries`` action plugin and module)."""
    docker_spec = docker_container_spec()
    return validate_entries(containers, prefix, schema_problems(containers, docker_spec), docker_spec)


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
