# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container entries of ``confine_containers``, validated before anything is written.

A container's name becomes a directory under the state dir, a file name under the AppArmor and seccomp
directories and part of a profile name (``<prefix><name>``), so it must be a Docker container name
(``[a-zA-Z0-9][a-zA-Z0-9_.-]*``) that keeps all three valid: no ``/``, no ``..``, short enough.

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import re

from ansible_collections.confine.docker.plugins.module_utils import _apparmor

DOCKER_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
NAME_MAX = 128


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


def validate_entries(containers, prefix="confine-"):
    """Validate ``confine_containers``; return the names in order. Raises EntryError with every problem found."""
    if not isinstance(prefix, str):
        raise EntryError("confine_profile_prefix must be a string, got %r" % (prefix,))
    if not isinstance(containers, (list, tuple)):
        raise EntryError("confine_containers must be a list of container entries, got %s" % type(containers).__name__)
    problems = []
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
