#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: One runbook run per host - take, renew or release the host's run lock
version_added: 0.2.0
author: confine.docker contributors (@confine)
description:
  - The stages of C(harden.yml) and C(rollback.yml) change containers, profiles and the daemon configuration of a
    host; two runs at once undo each other's work. The run lock lets one proceed and stops the other at once, with
    a message naming the holder - the controller host, the C(ansible-playbook) pid there, the user, the playbook
    and when it started.
  - The lock is a JSON file on the target (O(path), under C(/run) by default, so a reboot clears it), written
    atomically; every read-judge-write holds C(flock) on a guard file beside it, so two runs that start together
    cannot both take it.
  - A run renews the lock each time the task runs again (the runbook does at every stage). A lock is taken over
    when it is stale - its holder has not renewed it for O(lease) seconds, its file is unreadable, or (on the
    controller) the holder's C(ansible-playbook) process on this same controller is gone (pid and start time are
    compared, so a reused pid does not count as the holder). A run killed on the controller therefore leaves a lock
    that the next run from that controller takes over at once, and a run from another controller after O(lease).
  - The identity of the run is taken on the controller by the action plugin; O(owner) and O(takeover) are set by it.
  - The task reports C(changed) when it writes the lock file; the runbook sets C(changed_when) to false, as the
    lock is bookkeeping of the run, not a change of the host.
extends_documentation_fragment:
  - confine.docker.attributes
attributes:
  check_mode:
    details: In check mode nothing is written, but a lock held by another live run still fails the task.
options:
  path:
    description: The lock file.
    type: path
    default: /run/confine/lock
  state:
    description: C(present) takes the lock (or renews it for the run that holds it); C(absent) releases it when this
      run holds it and leaves another run's lock alone.
    type: str
    choices: [present, absent]
    default: present
  lease:
    description: Seconds after its last renewal at which a holder's lock is stale.
    type: int
    default: 3600
  owner:
    description: The run taking the lock (C(id), C(controller), C(pid), C(pid_start), C(user), C(playbook)); set by
      the action plugin on the controller.
    type: dict
  takeover:
    description: The id of a holder the controller found dead; the lock is replaced only when it still names that
      holder. Set by the action plugin.
    type: str
"""

EXAMPLES = r"""
- name: Take the host's run lock (a second run stops here, naming the first)
  confine.docker.run_lock:
  changed_when: false

- name: Release it
  confine.docker.run_lock:
    state: absent
  changed_when: false
"""

RETURN = r"""
action:
  description: What happened - C(acquired), C(renewed), C(took_over), C(released), C(absent) (no lock to release) or
    C(not_held) (another run's lock, left alone).
  returned: always
  type: str
  sample: acquired
holder:
  description: The lock's holder after the task (this run), or the run that holds it when the task failed.
  returned: when there is a holder
  type: dict
  sample: {id: "ctl:4242:8812345", controller: ctl, pid: 4242, user: ops, playbook: harden.yml}
stale:
  description: Why the previous holder's lock was stale, when it was taken over.
  returned: when O(state=present)
  type: str
  sample: its lease ran out (not renewed for 3900 s, more than 3600 s)
previous:
  description: The holder replaced by a takeover.
  returned: when O(state=present) and the lock was taken over
  type: dict
lock_held:
  description: True when the task failed because another live run holds the lock.
  returned: on that failure
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils._io import WriteError
from ansible_collections.confine.docker.plugins.module_utils._lock import LockError, LockHeld, acquire, release


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/run/confine/lock"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "lease": {"type": "int", "default": 3600},
            "owner": {"type": "dict"},
            "takeover": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    owner = params["owner"]
    if not owner or not isinstance(owner.get("id"), str):
        module.fail_json(msg="owner with an id is required; the action plugin sets it (run the task as "
                             "confine.docker.run_lock from a playbook)")
    if params["lease"] < 1:
        module.fail_json(msg="lease must be at least 1 second, got %d" % params["lease"])
    try:
        if params["state"] == "present":
            result = acquire(params["path"], owner, lease=params["lease"], takeover=params["takeover"],
                             check_mode=module.check_mode)
            if result["action"] != "took_over":
                result.pop("previous", None)
        else:
            result = release(params["path"], owner, check_mode=module.check_mode)
    except LockHeld as exc:
        module.fail_json(msg=str(exc), holder=exc.holder, lock_held=True, action="held")
    except (LockError, WriteError, OSError) as exc:
        module.fail_json(msg="the run lock %s cannot be used: %s" % (params["path"], exc))
    if module._diff and result["changed"]:
        result["diff"] = {"before": "held by %s\n" % (result.get("previous") or {}).get("id")
                          if result.get("previous") else "", "after": "held by %s\n" % owner["id"]
                          if params["state"] == "present" else ""}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
