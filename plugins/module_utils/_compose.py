# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compose services: the runbook's override file beside a compose project, and what it checks of the service.

A compose entry (``compose: {project_src, service, files}``) is confined without touching the project's files: the
runbook writes ``compose.confine.yml`` in the project's directory - the service's ``container_name`` (the entry's
name, which every stage uses), its ``security_opt`` (the runbook's AppArmor profile and ``no-new-privileges``; the
seccomp profile as a file of its own beside it, ``compose.confine.<service>.seccomp.json``, since compose reads a
seccomp profile from a file), ``cap_drop`` and a label holding a digest of the confinement, so that compose
recreates the container when the confinement changes and only then - and brings the service up with the project's
files plus that override. A later ``docker compose -f <files> -f compose.confine.yml up`` keeps the confinement.
Docker's baseline (``docker-default``, Docker's default seccomp profile) is the project without the override.

:func:`service_problems` says what the runbook cannot confine in the service as compose resolves it (``docker
compose config --format json``): a service that is not there, more than one replica, a ``container_name`` other
than the entry's name, confinement of its own (``seccomp``, ``apparmor``, ``no-new-privileges`` in
``security_opt``, ``privileged``).

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import hashlib
import json
import posixpath

from ansible_collections.confine.docker.plugins.module_utils._entries import OWNED_SECURITY_OPTS, security_opt_key

OVERRIDE_FILE = "compose.confine.yml"
DIGEST_LABEL = "io.confine.docker.confinement"
# Docker's baseline as the stages give it: no option of the runbook's (AppArmor's docker-default is Docker's own).
BASELINE_OPTIONS = ("apparmor=docker-default",)


def seccomp_file(service):
    """The seccomp profile's file, relative to the project directory."""
    return "compose.confine.%s.seccomp.json" % service


def _quote(text):
    return json.dumps(str(text))  # a JSON string is a YAML double-quoted scalar


def _service(config, service):
    return ((config or {}).get("services") or {}).get(service) or {}


def cap_drop(config, service):
    """What the override drops: ``AUDIT_WRITE``, unless the service adds it or drops it (or ``ALL``) itself."""
    spec = _service(config, service)
    given = (spec.get("cap_add") or []) + (spec.get("cap_drop") or [])
    named = {str(cap).upper().removeprefix("CAP_") for cap in given}
    return [] if named & {"AUDIT_WRITE", "ALL"} else ["AUDIT_WRITE"]


def override(config, service, name, security_opts):
    """``{"override": text or None, "seccomp": text or None}`` for ``service`` under the stage's ``security_opts``
    (the seccomp profile inline, ``seccomp=<JSON>``, as docker_container takes it). No override (None) for Docker's
    baseline; no seccomp file when the options carry no profile of the runbook's (``seccomp=unconfined``)."""
    options, seccomp = [], None
    for option in security_opts:
        text = str(option)
        if text in BASELINE_OPTIONS:
            continue
        value = text.split("=", 1)[1].strip() if "=" in text else ""
        if security_opt_key(text) == "seccomp" and value not in ("unconfined", ""):
            seccomp = json.dumps(json.loads(value), indent=2, sort_keys=True) + "\n"
            text = "seccomp=" + seccomp_file(service)
        options.append(text)
    if not options:
        return {"override": None, "seccomp": None}
    drops = cap_drop(config, service)
    digest = hashlib.sha256(json.dumps({"security_opt": options, "seccomp": seccomp, "cap_drop": drops},
                                       sort_keys=True).encode("utf-8")).hexdigest()
    lines = [
        "# Written by confine.docker: the confinement of the service %s as the runbook's last stage left it." % service,
        "# Give it after the project's own files, or the next 'up' recreates the container without it:",
        "#   docker compose -f <the project's files> -f %s up -d" % OVERRIDE_FILE,
        "services:",
        "  %s:" % _quote(service),
        "    container_name: %s" % _quote(name),
        "    security_opt:",
        *("      - %s" % _quote(option) for option in options),
        *(["    cap_drop:"] + ["      - %s" % _quote(cap) for cap in drops] if drops else []),
        "    labels:",
        "      %s: %s" % (_quote(DIGEST_LABEL), _quote(digest)),
    ]
    return {"override": "\n".join(lines) + "\n", "seccomp": seccomp}


def _within(path, directory):
    path, directory = posixpath.normpath(path), posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def service_problems(config, service, name, project_src=None):
    """What keeps the runbook from confining ``service`` of the resolved compose model ``config`` (the JSON of
    ``docker compose config --format json`` of the project's files, without the override) as container ``name``.

    With ``project_src``, a writable bind mount of the project's directory (or of one above it) is refused too: the
    container could rewrite the override and its seccomp profile, which the next ``docker compose up`` reads."""
    services = (config or {}).get("services") or {}
    if service not in services:
        return ["the project has no service %r (it has %s)" % (service, ", ".join(sorted(services)) or "none")]
    spec = services[service] or {}
    problems = []
    own = spec.get("container_name")
    if own not in (None, "", name):
        problems.append("service %r names its container %r: give the entry that name" % (service, own))
    replicas = (spec.get("deploy") or {}).get("replicas")
    scale = spec.get("scale")
    if (isinstance(replicas, int) and replicas > 1) or (isinstance(scale, int) and scale > 1):
        problems.append("service %r runs more than one container: the runbook confines one container per entry"
                        % service)
    for option in spec.get("security_opt") or ():
        if security_opt_key(option) in OWNED_SECURITY_OPTS:
            problems.append("service %r sets security_opt %r: the runbook's override sets %s; take it out of the "
                            "project's files" % (service, option, security_opt_key(option)))
    for volume in spec.get("volumes") or ():
        if project_src and isinstance(volume, dict) and volume.get("type") == "bind" \
                and not volume.get("read_only") and _within(project_src, str(volume.get("source") or "")):
            problems.append("service %r mounts %s writable at %s: the container could rewrite the runbook's "
                            "override beside the project; mount it read-only or mount less"
                            % (service, volume.get("source"), volume.get("target")))
    if spec.get("privileged"):
        problems.append("service %r is privileged: Docker runs it without seccomp and with every capability and "
                        "device; give it the capabilities and devices it needs instead" % service)
    return problems
