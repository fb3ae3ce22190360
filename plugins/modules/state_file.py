#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: state_file
short_description: Write one file of the runbook on the managed host (a review report, a spec, a record)
version_added: 0.2.0
author: confine.docker contributors (@confine)
description:
  - Writes O(path) from O(content), or as a byte-for-byte copy of O(src) on the target, when it differs - through
    the collection's one safe write (a temporary file beside the target, flushed to disk, renamed over it).
  - The files the runbook keeps beside the profiles (C(report.v<N>.md), an AppArmor spec's C(apparmor.v1.json), the
    daemon stage's record of the original C(daemon.json)) and the restore of C(daemon.json) from its backup are
    written with it, so that a full disk or a read-only file system fails the task with the file and the cause,
    and leaves the old file as it was, with no temporary or partial file beside it.
extends_documentation_fragment:
  - confine.docker.attributes
options:
  path:
    description: The file to write. Its directory must exist.
    type: path
    required: true
  content:
    description: The text to write (UTF-8). One of O(content) and O(src) is required.
    type: str
  src:
    description: A file on the target to copy to O(path), byte for byte.
    type: path
  mode:
    description:
      - Permissions of O(path) (octal, as a string), or V(preserve) for the mode of O(src). Without it an existing
        file keeps its mode, and a new one takes the mode of O(src), or C(0640) with O(content).
    type: str
  force:
    description: V(false) leaves an existing O(path) as it is, whatever it holds.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Write the review report of the round
  confine.docker.state_file:
    path: /var/lib/confine/web/report.v1.md
    content: "# Review of web, round 1\n"
    mode: "0640"

- name: Put daemon.json back from its backup
  confine.docker.state_file:
    path: /etc/docker/daemon.json
    src: /etc/docker/daemon.json.4242.2026-01-01@10:00:00~
    mode: preserve
"""

RETURN = r"""
path:
  description: The file written (or that would be, in check mode).
  returned: always
  type: str
  sample: /var/lib/confine/web/report.v1.md
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._io import WriteError, atomic_write, read_bytes


def file_mode(value):
    try:
        mode = int(str(value), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise WriteError("mode %r is not an octal file mode" % (value,))
    return mode


def run(module):
    params = module.params
    path = params["path"]
    result = {"changed": False, "path": path}
    if params["content"] is not None:
        data, src_mode = params["content"].encode("utf-8"), None
    else:
        data = read_bytes(params["src"])
        if data is None:
            raise WriteError("%s does not exist: there is nothing to copy to %s" % (params["src"], path))
        src_mode = os.stat(params["src"]).st_mode & 0o7777
    old = read_bytes(path)
    if params["mode"] == "preserve":
        if src_mode is None:
            raise WriteError("mode preserve needs src: it is the mode of the file copied")
        mode = src_mode
    else:
        mode = file_mode(params["mode"]) if params["mode"] is not None else None
    if old is not None and not params["force"]:
        return result
    current_mode = os.stat(path).st_mode & 0o7777 if old is not None else None
    if old == data and (mode is None or mode == current_mode):
        return result
    result["changed"] = True
    if module._diff:
        result["diff"] = {"before": old.decode("utf-8", "replace") if old is not None else "",
                          "after": data.decode("utf-8", "replace"), "before_header": path, "after_header": path}
    if module.check_mode:
        return result
    if mode is None and old is None:
        mode = src_mode if src_mode is not None else 0o640
    atomic_write(path, data, mode=mode, makedirs=False)
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "content": {"type": "str"},
            "src": {"type": "path"},
            "mode": {"type": "str"},
            "force": {"type": "bool", "default": True},
        },
        mutually_exclusive=[("content", "src")],
        required_one_of=[("content", "src")],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (WriteError, OSError) as exc:
        module.fail_json(msg=str(exc), path=module.params["path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
