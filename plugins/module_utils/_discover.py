# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery: what a host's containers run under today, and a starting inventory for them.

:func:`describe` takes one container's ``docker inspect`` object and says how it is confined - ``privileged``
(Docker gives it every capability and device, and no seccomp or AppArmor), ``unconfined`` (``apparmor=unconfined``
or ``seccomp=unconfined``), ``custom`` (a profile of its own for either), or ``docker-default`` (Docker's default
AppArmor profile, where the host has AppArmor, and its default seccomp profile) - whether compose manages it (its
project, service, working directory and files, from compose's labels), and whether it can be adopted as it is
(:mod:`_adopt`'s reasons when not). :func:`inventory` turns the descriptions into ``confine_containers`` entries
(``adopt: true``, or ``compose`` for a compose service's container), with the containers that cannot be
confined that way listed apart, each with why.

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import json

from ansible_collections.confine.docker.plugins.module_utils._adopt import AdoptError, parameters
from ansible_collections.confine.docker.plugins.module_utils._entries import security_opt_key

CLASSES = ("privileged", "unconfined", "custom", "docker-default")
COMPOSE_LABELS = {
    "project": "com.docker.compose.project",
    "service": "com.docker.compose.service",
    "working_dir": "com.docker.compose.project.working_dir",
    "files": "com.docker.compose.project.config_files",
}


def _options(inspect):
    options = {}
    for option in (inspect.get("HostConfig") or {}).get("SecurityOpt") or ():
        key = security_opt_key(option)
        value = option.split("=", 1)[1] if "=" in option else option.split(":", 1)[1] if ":" in option else ""
        options[key] = value
    return options


def confinement(inspect):
    """``(class, apparmor, seccomp)`` of a container: its class (CLASSES), its AppArmor profile as Docker reports it
    (``docker-default``, ``unconfined``, a profile name, or None where the host has no AppArmor) and its seccomp
    (``docker-default``, ``unconfined`` or ``custom``)."""
    host = inspect.get("HostConfig") or {}
    options = _options(inspect)
    apparmor = inspect.get("AppArmorProfile") or options.get("apparmor") or None
    seccomp_option = options.get("seccomp")
    seccomp = "docker-default" if seccomp_option in (None, "", "builtin") else (
        "unconfined" if seccomp_option == "unconfined" else "custom")
    if host.get("Privileged"):
        return "privileged", apparmor or "unconfined", "unconfined"
    if apparmor == "unconfined" or seccomp == "unconfined":
        return "unconfined", apparmor, seccomp
    if seccomp == "custom" or apparmor not in (None, "docker-default"):
        return "custom", apparmor, seccomp
    return "docker-default", apparmor, seccomp


def compose_service(inspect):
    """The compose project and service that manage the container (None when compose does not)."""
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    if COMPOSE_LABELS["service"] not in labels:
        return None
    files = labels.get(COMPOSE_LABELS["files"]) or ""
    return {"project": labels.get(COMPOSE_LABELS["project"]), "service": labels[COMPOSE_LABELS["service"]],
            "project_src": labels.get(COMPOSE_LABELS["working_dir"]),
            "files": [item for item in files.split(",") if item]}


def describe(inspect, image=None, containers=None, prefix="confine-"):
    """One container as discovery reports it (see the module's RETURN)."""
    name = (inspect.get("Name") or "").lstrip("/")
    kind, apparmor, seccomp = confinement(inspect)
    state = inspect.get("State") or {}
    problems = []
    compose = compose_service(inspect)
    if compose is None:
        try:
            parameters(inspect, image, containers)
        except AdoptError as exc:
            problems = exc.problems
    else:
        # Compose recreates it from the project's files: confined through the project, not adopted.
        if (inspect.get("HostConfig") or {}).get("Privileged"):
            problems.append("compose service %s is privileged: the runbook confines no privileged container"
                            % compose["service"])
        if not compose["project_src"] or not compose["files"]:
            problems.append("compose service %s: its labels do not name the project's directory and files"
                            % compose["service"])
    managed = isinstance(apparmor, str) and apparmor.startswith(prefix)
    return {"name": name, "image": (inspect.get("Config") or {}).get("Image"), "id": inspect.get("Id"),
            "running": bool(state.get("Running")), "class": kind, "apparmor": apparmor, "seccomp": seccomp,
            "confined_by_runbook": managed, "compose": compose, "adoptable": not problems, "problems": problems}


def compose_entry(name, compose):
    """The ``confine_containers`` entry of a compose service's container: its project's files relative to the
    project's directory where they are in it."""
    src = compose["project_src"].rstrip("/")
    files = [path[len(src) + 1:] if path.startswith(src + "/") else path for path in compose["files"]]
    return {"name": name, "compose": {"project_src": src, "service": compose["service"], "files": files,
                                      "project_name": compose["project"]}}


def inventory(descriptions):
    """``(entries, left)``: a ``confine_containers`` entry for each container the runbook can take over -
    ``{name, adopt: true}``, or a ``compose`` entry for a compose service's container - and ``{name, class,
    problems}`` for each it cannot, in the order given."""
    entries, left = [], []
    for item in descriptions:
        if item["adoptable"] and item["compose"] is not None:
            entries.append(compose_entry(item["name"], item["compose"]))
        elif item["adoptable"]:
            entries.append({"name": item["name"], "adopt": True})
        else:
            left.append({"name": item["name"], "class": item["class"], "problems": list(item["problems"])})
    return entries, left


def summary(descriptions):
    """How many containers are in each class, every class named."""
    counts = dict.fromkeys(CLASSES, 0)
    for item in descriptions:
        counts[item["class"]] += 1
    return counts


def render(host, descriptions):
    """The starting inventory file of ``host``: YAML with the entries, the containers left out as comments."""
    entries, left = inventory(descriptions)
    lines = ["---",
             "# Containers found on %s by playbooks/discover.yml: each entry adopts a container as it runs, or" % host,
             "# confines a compose service through its project (docs/inventory.md).",
             "# Add a workload and a health check to each before its trial (docs/inventory.md).",
             "# Confinement found: %s." % ", ".join("%s %d" % pair for pair in summary(descriptions).items())]
    by_name = {item["name"]: item for item in descriptions}
    if entries:
        lines.append("confine_containers:")
        for entry in entries:
            found = by_name[entry["name"]]
            lines.append("  # %s, now %s (AppArmor %s, seccomp %s)%s" % (
                found["image"], found["class"], found["apparmor"] or "none", found["seccomp"],
                "" if found["running"] else ", not running"))
            lines.append("  - name: %s" % _yaml_scalar(entry["name"]))
            if "compose" in entry:
                compose = entry["compose"]
                lines.append("    compose:")
                for key in ("project_src", "service", "project_name"):
                    lines.append("      %s: %s" % (key, json.dumps(compose[key])))
                lines.append("      files: %s" % json.dumps(compose["files"]))
            else:
                lines.append("    adopt: true")
    else:
        lines.append("confine_containers: []")
    for item in left:
        lines.append("# Not adopted: %s (%s): %s" % (item["name"], item["class"], "; ".join(item["problems"])))
    return "\n".join(lines) + "\n"


def _yaml_scalar(text):
    # Docker names are [a-zA-Z0-9][a-zA-Z0-9_.-]*; quote the ones YAML would read as something else.
    plain = text and text[0].isalpha() and text.lower() not in ("yes", "no", "true", "false", "on", "off", "null")
    return text if plain else '"%s"' % text
