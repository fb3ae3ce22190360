#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: daemon_config
short_description: Safely edit the Docker daemon's daemon.json with validation and backup
version_added: 0.1.0
author: confine.docker contributors (@confine)
description:
  - Manages the Docker daemon configuration file (C(/etc/docker/daemon.json) by default).
  - O(settings) are deep-merged into the current content (objects merge key by key, other values are replaced) and
    the keys in O(remove) are dropped. Every other key the file had is kept with its value unchanged; the file is
    written with sorted keys and a two-space indent.
  - Before anything is written the result is validated - known keys and their JSON types, the keys the installed
    engine takes (C(dockerd --version); Docker 20.10 does not know C(proxies), C(log-format), C(cdi-spec-dirs) and
    ignores C(default-network-opts), Docker 26 no longer knows C(cluster-store), C(cluster-advertise) and
    C(oom-score-adjust)), C(log-level), C(log-format), C(default-cgroupns-mode) and C(default-ipc-mode) values,
    C(default-ulimits) shape, the fields of C(runtimes), C(default-address-pools) (CIDR and size), C(features),
    C(proxies), C(default-network-opts) and C(builder), ranges (C(mtu), C(network-diagnostic-port),
    C(max-download-attempts), C(oom-score-adjust)), plain JSON only (no C(NaN) or C(Infinity), integers within
    64 bits, nesting at most 32 levels), string values in C(log-opts) and in list keys, combinations dockerd refuses
    (C(icc=false) with C(iptables=false), C(bridge) with C(bip)), a C(seccomp-profile) path must exist and pass the
    collection's seccomp validator - and, when the installed C(dockerd) has C(--validate) (Docker 23 and later),
    with C(dockerd --validate --config-file), in check mode too (on a temporary copy). Docker 20.10 has no
    C(--validate); then only the module's own validation runs and RV(validated_by) says so.
  - The C(seccomp-profile) words C(builtin) and C(unconfined) are refused when the installed dockerd is older than
    Docker 23 (it has no C(--validate)); Docker 20.10 reads them as file names and does not start.
  - Proven against the dockerd of Debian 12 (Docker 20.10.24) and Debian 13 (Docker 26.1.5).
  - A daemon.json that does not parse as JSON, or that names a key twice, is never overwritten; the task fails with
    the line and column of the error (or the repeated key) and the file is left for the user to fix.
  - A C(seccomp-profile) file, like daemon.json itself, is read only when it is a regular UTF-8 file of sane size
    (a FIFO or a device such as C(/dev/zero) is refused, not read).
  - When O(path) is a symlink, the file it points to is read and written (the link stays as it is), RV(written_path)
    names it and a warning says so. A link into a directory that does not exist is refused.
  - C(dockerd --validate) gets 60 seconds; one that does not answer is killed with its children and the task fails
    without writing.
  - The write is atomic (temporary file beside the target, renamed over it). The module does not restart Docker; it
    returns RV(needs_restart) and RV(reload_keys) so that a handler can restart, or reload with C(SIGHUP) when every
    changed key is reloadable. The C(confine.docker.daemon) role does that safely and restores the backup when
    dockerd does not come back.
extends_documentation_fragment:
  - confine.docker.attributes
options:
  path:
    description:
      - Path of the daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - Keys and values to merge into the file. Nested objects (C(log-opts), C(default-ulimits), C(features), ...)
        are merged key by key.
    type: dict
    default: {}
  remove:
    description:
      - Top-level keys to drop. A dotted name (C(log-opts.max-size)) drops a nested key when no top-level key has
        that exact name.
      - Applied after O(settings).
    type: list
    elements: str
    default: []
  allow_unknown:
    description:
      - Accept keys the module does not know (newer Docker releases, plugins). They are kept unvalidated and a
        warning names them. Without it an unknown key fails the task.
    type: bool
    default: false
  validate_seccomp:
    description:
      - Check that a C(seccomp-profile) value other than C(unconfined) or C(builtin) names an existing file on the
        host that passes the collection's seccomp validator.
    type: bool
    default: true
  dockerd_path:
    description:
      - The C(dockerd) binary used for C(dockerd --validate) where it supports that option.
    type: str
    default: dockerd
  backup:
    description:
      - Keep a copy of the old file (C(<path>.<pid>.<timestamp>~)) before it is replaced; its path is returned in
        RV(backup_file). The copy is taken only once the new content passed validation, so a refused change leaves
        none behind.
    type: bool
    default: false
notes:
  - Docker reads daemon.json only at start, or on C(SIGHUP) for the keys listed in RV(reload_keys).
  - Settings given both in daemon.json and as C(dockerd) command-line flags make dockerd refuse to start; keep
    each setting in one place.
seealso:
  - name: Docker daemon configuration file
    description: The daemon.json reference, including which keys a reload applies.
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
"""

EXAMPLES = r"""
- name: Harden the Docker daemon
  confine.docker.daemon_config:
    settings:
      no-new-privileges: true
      live-restore: true
      icc: false
      userland-proxy: false
      log-level: info
    backup: true
  register: daemon_json

- name: Use the project's seccomp baseline daemon-wide and bound the json-file logs
  confine.docker.daemon_config:
    settings:
      seccomp-profile: /etc/docker/seccomp/baseline.json
      log-opts:
        max-size: 10m
        max-file: "3"

- name: Drop a setting and a nested log option
  confine.docker.daemon_config:
    remove:
      - userns-remap
      - log-opts.max-file
"""

RETURN = r"""
changed_keys:
  description: Top-level keys whose value was added, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [icc, no-new-privileges]
needs_restart:
  description:
    - True when a change takes effect only after dockerd restarts. Removing a reloadable key also needs a restart
      (a reload keeps the running value of a key the file no longer sets), except for the keys a reload resets.
  returned: always
  type: bool
  sample: true
reload_keys:
  description: Changed keys that dockerd applies on C(SIGHUP) without a restart.
  returned: always
  type: list
  elements: str
  sample: [live-restore]
config:
  description: The daemon configuration after the task (what is, or in check mode would be, in the file).
  returned: always
  type: dict
  sample: {icc: false, no-new-privileges: true}
backup_file:
  description: Path of the backup copy of the old file.
  returned: when O(backup=true) and the file was changed
  type: str
  sample: /etc/docker/daemon.json.4242.2026-01-01@00:00:00~
written_path:
  description: The file written when O(path) is a symlink (its target).
  returned: when O(path) is a symlink
  type: str
  sample: /srv/config/docker/daemon.json
validated_by:
  description:
    - What validated the new content. C(module) is the module's own key/type/seccomp checks;
      C(module+dockerd) adds C(dockerd --validate).
  returned: always
  type: str
  sample: module
engine:
  description: The installed dockerd's version (from C(dockerd --version)), null when it cannot be run.
  returned: always
  type: str
  sample: 26.1.5
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._daemon import (
    DaemonConfigError,
    changed_keys,
    check_json_value,
    check_seccomp_file,
    desired_config,
    dockerd_validate,
    dockerd_version,
    parse_text,
    render,
    restart_plan,
    supports_validate,
    validate_settings,
    version_text,
)
from ansible_collections.confine.docker.plugins.module_utils._io import (
    WriteError,
    atomic_write,
    make_temp_dir,
    read_text,
    write_with_backup,
)


def validate_in_check_mode(new_text, dockerd):
    """``dockerd --validate`` on a copy of the new file in a temporary directory (check mode writes nothing else)."""
    workdir = make_temp_dir("confine-daemon-json-")
    try:
        tmp = atomic_write(os.path.join(workdir, "daemon.json"), new_text, makedirs=False)
        dockerd_validate(tmp, dockerd)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def resolve_path(path):
    """The file to read and write for ``path``: itself, or the target of a symlink (written through, so the link
    stays a link to the file it names; a missing target is created). A link into a directory that does not exist is
    refused."""
    if not os.path.islink(path):
        return path
    target = os.path.realpath(path)
    if not os.path.isdir(os.path.dirname(target)):
        raise DaemonConfigError("%s is a symlink to %s, whose directory does not exist: refusing to write through it; "
                                "fix or remove the link" % (path, target))
    return target


def run(module):
    params = module.params
    path = params["path"]
    result = {"changed": False, "changed_keys": [], "needs_restart": False, "reload_keys": [], "validated_by": "module"}
    check_json_value(params["settings"], "settings")
    target = resolve_path(path)
    if target != path:
        result["written_path"] = target
    text = read_text(target)
    current = parse_text(text)
    wanted = desired_config(current, params["settings"], params["remove"])
    engine = dockerd_version(params["dockerd_path"])
    use_dockerd = supports_validate(engine)
    result["engine"] = version_text(engine) if engine else None
    seccomp_check = check_seccomp_file if params["validate_seccomp"] else None
    warnings = validate_settings(wanted, allow_unknown=params["allow_unknown"], seccomp_check=seccomp_check,
                                 engine=engine)
    for warning in warnings:
        module.warn(warning)
    result["config"] = wanted
    new_text = render(wanted)
    keys = changed_keys(current, wanted)
    # Same data but the file is missing or not in canonical form: nothing Docker would notice, nothing to do.
    if not keys and (text is not None or not wanted):
        return result
    result["changed"] = True
    result["changed_keys"] = keys
    result["needs_restart"], result["reload_keys"] = restart_plan(keys, wanted)
    if module._diff:
        result["diff"] = {
            "before": text if text is not None else "",
            "after": new_text,
            "before_header": target,
            "after_header": target,
        }
    if use_dockerd:
        result["validated_by"] = "module+dockerd"
    if module.check_mode:
        if use_dockerd:
            validate_in_check_mode(new_text, params["dockerd_path"])
        return result

    def validate(tmp):
        if use_dockerd:
            dockerd_validate(tmp, params["dockerd_path"])

    # The backup is taken once the new content is accepted: a refused configuration leaves no copy behind.
    backup = write_with_backup(target, new_text, backup=params["backup"] and text is not None,
                               mode=None if text is not None else 0o644, validate=validate)
    if backup:
        result["backup_file"] = backup
    if target != path:
        module.warn("%s is a symlink: its target %s was written" % (path, target))
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/docker/daemon.json"},
            "settings": {"type": "dict", "default": {}},
            "remove": {"type": "list", "elements": "str", "default": []},
            "allow_unknown": {"type": "bool", "default": False},
            "validate_seccomp": {"type": "bool", "default": True},
            "dockerd_path": {"type": "str", "default": "dockerd"},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (DaemonConfigError, WriteError, OSError) as exc:
        module.fail_json(msg=str(exc), path=module.params["path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
