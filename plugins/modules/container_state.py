#!/usr/bin/python
# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: container_state
short_description: Read a container's runbook state or move it through one transition
version_added: 0.2.0
author: confine.docker contributors (@confine)
description:
  - Owns C(<state_dir>/<name>/state.json), the record of where one container is in the runbook (docs/runbook.md,
    "State on the host"), and the names, paths and Docker security options derived from it, so that every stage
    builds the same ones.
  - O(action=read) returns the state and what follows from it; the other actions are the runbook's transitions -
    C(start_trial) (complain), C(record_review) (widen), C(enforce), C(record_good) (after verify) and
    C(rollback). Each checks its preconditions first and fails, writing nothing, with what to run instead; a
    transition that changes nothing writes nothing and reports C(changed=false).
  - The record carries a C(schema) version. A state.json without one (the unversioned layout the roles wrote
    before) is read as that layout, every key kept; the first transition that changes it writes the new layout and
    keeps a backup of the old file beside it.
  - A state.json that cannot be read - not JSON, not an object, an unknown key, a value of the wrong type, another
    container's, not a regular file, unreadable - fails the task for this container alone, naming the file and
    what to do.
  - Writes are atomic (a temporary file beside state.json, re-read and checked, renamed over it).
extends_documentation_fragment:
  - confine.docker.attributes
attributes:
  check_mode:
    details: In check mode the transition is computed and checked, and nothing is written.
options:
  name:
    description: The container's name (its state directory and profile names are derived from it).
    type: str
    required: true
  action:
    description:
      - C(read) returns the state; the other choices are the transitions.
      - C(start_trial) records the trial of the container's current version (O(round), and when a new trial starts
        O(cursor), O(clock), O(restarts)); a container whose O(entry) changed starts again from version 1.
      - C(record_review) records the review of the trial's round from O(review) and the round's events file. When
        the review added rules the trial's version grows; the new version's file of a mechanism whose review added
        nothing is then a copy of its current one (profile_widen writes no version that adds nothing), and that of
        a mechanism whose review added rules must be there.
      - C(enforce) records the enforcement of the reviewed version; refused after a trial that was not clean unless
        O(force).
      - C(record_good) records the enforced version as the last one that passed verify.
      - C(rollback) records where the container goes back to (RV(rollback_to)) for O(target).
    type: str
    choices: [read, start_trial, record_review, enforce, record_good, rollback]
    default: read
  plan:
    description:
      - Check the transition's preconditions and return what it would record (RV(state), RV(rollback_to),
        RV(security_opts)) without writing, as the stages do before they change profiles and containers. The task
        reports C(changed=false).
    type: bool
    default: false
  entry:
    description:
      - The container's entry of C(confine_containers); its seed (the sha1 of its JSON with sorted keys) tells
        whether the versions on record were built from it. Required by O(action=start_trial); with O(action=read)
        it gives RV(seed), RV(trial_version) and RV(pending).
      - It also says how the AppArmor profile is seeded. A C(spec) seed is versioned (C(apparmor.v<N>.json)) and
        widened by the trial; an C(apparmor.src) or C(apparmor.content) seed is opaque (RV(opaque)) - installed as
        written, never widened, with no version files, so RV(names) has no AppArmor files for it. Without O(entry)
        every enabled mechanism is taken to have version files.
    type: dict
  state_dir:
    description: Host directory holding one state directory per container (C(confine_state_dir)).
    type: path
    default: /var/lib/confine
  profile_prefix:
    description: Prefix of the container's AppArmor profile and seccomp file names (C(confine_profile_prefix)).
    type: str
    default: confine-
  apparmor_dir:
    description: Where the AppArmor profiles are installed (C(confine_apparmor_dir)).
    type: path
    default: /etc/apparmor.d/containers
  seccomp_dir:
    description: Where the containers' seccomp profiles are deployed (C(confine_seccomp_dir)).
    type: path
    default: /etc/docker/seccomp
  apparmor:
    description: Whether the container has an AppArmor profile of its own (C(confine_apparmor)).
    type: bool
    default: true
  seccomp:
    description: Whether the container has a seccomp profile of its own (C(confine_seccomp)).
    type: bool
    default: true
  round:
    description: The trial's round (O(action=start_trial)); a round after the first follows the review of the one
      before.
    type: int
    default: 1
  cursor:
    description: The event cursor taken before the container (re)started (the C(cursor) that
      C(confine.docker.security_events) returns), for O(action=start_trial).
    type: dict
  clock:
    description: The host's clock (seconds since the epoch) before the container (re)started, for
      O(action=start_trial) (the trial's start) and O(action=enforce) (the start of enforcement).
    type: float
  restarts:
    description: The container's restart count when its trial starts (O(action=start_trial)).
    type: int
    default: 0
  recreated:
    description: Whether the container was (re)created under the new confinement (O(action=start_trial),
      O(action=enforce)).
    type: bool
    default: false
  review:
    description:
      - What the review admitted and refused, per mechanism (O(action=record_review)) - the results of
        C(confine.docker.profile_widen), of which C(added) and C(refused) are read. The lost and look-alike records
        come from the round's C(events.v<N>.json).
    type: dict
    default: {}
  force:
    description: Enforce after a trial that was not clean (O(action=enforce); C(confine_force_enforce)).
    type: bool
    default: false
  target:
    description:
      - Where O(action=rollback) sends the container. C(previous) is its last good version, or the baseline when it
        has none; a container already enforced under its good version stays as it is. C(baseline) is
        C(docker-default) and Docker's default seccomp; C(unconfined) needs O(allow_unconfined).
    type: str
    choices: [previous, baseline, unconfined]
    default: previous
  allow_unconfined:
    description: Permit O(target=unconfined) (C(confine_rollback_allow_unconfined)), for a diagnostic run only.
    type: bool
    default: false
  mode:
    description:
      - The mode whose RV(security_opts) to return; by default the state's mode after the action.
    type: str
    choices: [complain, enforce, baseline, unconfined]
  seccomp_profile:
    description:
      - The seccomp profile the container runs with, as deployed (the C(profile) that
        C(confine.docker.seccomp_profile) returns), for RV(security_opts). By default the deployed file
        (C(<seccomp_dir>/<prefix><name>.json)) is read.
    type: dict
  backup:
    description: Keep a copy of the old state.json (C(state.json.<pid>.<timestamp>~)) before it is replaced.
    type: bool
    default: false
notes:
  - The roles take the host's run lock (C(confine.docker.run_lock)) first; the module does not lock by itself.
seealso:
  - module: confine.docker.container_entries
  - module: confine.docker.profile_widen
"""

EXAMPLES = r"""
- name: Read the state of web, with the version its trial runs
  confine.docker.container_state:
    name: web
    entry: "{{ container }}"
  register: web_state

- name: Record the trial of web (after the container ran under the trial's profiles)
  confine.docker.container_state:
    name: web
    action: start_trial
    entry: "{{ container }}"
    round: 1
    cursor: "{{ events.cursor }}"
    clock: "{{ clock.stdout | float }}"
    restarts: "{{ container_restart_count }}"
    recreated: "{{ container_changed }}"

- name: Record the review of the round
  confine.docker.container_state:
    name: web
    action: record_review
    review:
      apparmor: "{{ widen_apparmor }}"
      seccomp: "{{ widen_seccomp }}"

- name: Check that web may be enforced, before its profiles change
  confine.docker.container_state:
    name: web
    action: enforce
    plan: true

- name: Where would a rollback take it?
  confine.docker.container_state:
    name: web
    action: rollback
    target: previous
    plan: true
  register: rollback_plan
"""

RETURN = r"""
state:
  description: The container's state after the action (what is or would be in state.json); C(mode) is null when
    nothing was recorded yet.
  returned: success
  type: dict
  sample: {schema: 2, container: web, mode: enforce, round: 2, version: 2, good_version: 2, clean: true}
before:
  description: The state before the action (the empty state when there was no state.json).
  returned: success
  type: dict
exists:
  description: Whether state.json existed before the action.
  returned: success
  type: bool
migrated:
  description: Whether state.json was in the layout without C(schema) (the unversioned layout) and was read as that.
  returned: success
  type: bool
names:
  description:
    - The container's names and paths - C(profile), C(dir), C(state_file), C(apparmor_file), C(seccomp_file) - and
      the files of the state's version (C(files)), of the next one (C(next_files)) and, with O(entry), of the
      version a trial of the entry runs (C(trial_files)), each C(apparmor) and C(seccomp) (the enabled mechanisms
      that have version files, RV(opaque) ones left out), C(events) and C(report).
  returned: success, and when state.json cannot be read (without the files)
  type: dict
  sample: {profile: confine-web, dir: /var/lib/confine/web, seccomp_file: /etc/docker/seccomp/confine-web.json,
           files: {seccomp: /var/lib/confine/web/seccomp.v2.json, report: /var/lib/confine/web/report.v2.md}}
security_opts:
  description:
    - The Docker C(security_opts) of the container in O(mode), or in the state's mode after the action; null when
      there is no mode yet, or when an enforcing seccomp profile is needed and none is deployed.
  returned: success
  type: list
  elements: str
  sample: [apparmor=confine-web, 'seccomp={"defaultAction":"SCMP_ACT_ERRNO",...}', no-new-privileges:true]
mechanisms:
  description: The enabled mechanisms (O(apparmor), O(seccomp)).
  returned: success
  type: list
  elements: str
  sample: [apparmor, seccomp]
expectations:
  description:
    - What C(confine.docker.container_verify) expects of the container's mechanisms (the keys of a verify entry
      each mechanism's checks read) - C(apparmor), its profile name or null when AppArmor is off; C(seccomp), its
      deployed profile file or null when seccomp is off.
  returned: success
  type: dict
  sample: {apparmor: confine-web, seccomp: /etc/docker/seccomp/confine-web.json}
opaque:
  description:
    - The enabled mechanisms whose profile is the entry's own and is never widened (C(apparmor) for an
      C(apparmor.src) or C(apparmor.content) seed of O(entry)); they have no version files.
  returned: success
  type: list
  elements: str
  sample: [apparmor]
next_round:
  description:
    - Whether the trial needs another round - its current round was reviewed and the review added rules, so the
      next round tries the grown version (from the state after the action).
  returned: success
  type: bool
seed:
  description: The seed of O(entry).
  returned: when O(entry) is given
  type: str
trial_version:
  description: The version a trial of O(entry) runs (the one on record for the same entry, else 1).
  returned: when O(entry) is given
  type: int
pending:
  description: Whether the container still needs the runbook (not enforced, or enforced under another entry).
  returned: when O(entry) is given
  type: bool
rollback_to:
  description: Where O(action=rollback) sends the container - C(previous), C(baseline), C(unconfined) or C(keep)
    (it is enforced under the version that passed verify).
  returned: when O(action=rollback)
  type: str
rollback_report:
  description: Where O(action=rollback) takes the container, in words, for the runbook's report.
  returned: when O(action=rollback)
  type: str
  sample: to version 2, its last good one
state_error:
  description:
    - True when the task failed because state.json cannot be read (RV(names) and RV(expectations) are returned
      then too).
  returned: on that failure
  type: bool
path:
  description: The state.json that cannot be read.
  returned: on that failure
  type: str
backup_file:
  description: The backup of the old state.json.
  returned: when one was taken
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.confine.docker.plugins.module_utils import _mechanisms, _state
from ansible_collections.confine.docker.plugins.module_utils._entries import EntryError, validate_name
from ansible_collections.confine.docker.plugins.module_utils._io import ReadError, WriteError, read_text


def _layout(params):
    return _state.Layout(params["name"], params["state_dir"], params["profile_prefix"], params["apparmor_dir"],
                         params["seccomp_dir"])


def _expectations(params, layout):
    """What container_verify expects of the enabled mechanisms of the container (its RV(expectations))."""
    on = _mechanisms.switches(apparmor=params["apparmor"], seccomp=params["seccomp"])
    return _mechanisms.expectations(layout.names(), on)


def _kinds(params):
    """The mechanisms with version files (with O(entry), an opaque AppArmor seed has none)."""
    return _state.mechanisms(params["entry"], params["apparmor"], params["seccomp"])[1]


def _deployed_seccomp(params, layout):
    if params["seccomp_profile"] is not None:
        return params["seccomp_profile"]
    try:
        text = read_text(layout.seccomp_file)
    except (OSError, ReadError):
        return None
    if text is None:
        return None
    try:
        profile = json.loads(text)
    except ValueError:
        return None
    return profile if isinstance(profile, dict) else None


def _review(params, layout, state, plan):
    review = params["review"]
    unknown = sorted(set(review) - set(_state.MECHANISMS))
    if unknown:
        raise _state.TransitionRefused("review: unknown mechanism(s) %s (one of %s)"
                                       % (", ".join(unknown), ", ".join(_state.MECHANISMS)))
    added, refused, grown = [], [], []
    for kind in _state.MECHANISMS:
        result = review.get(kind) or {}
        if not isinstance(result, dict):
            raise _state.TransitionRefused("review.%s must be profile_widen's result (a dict)" % kind)
        for key, into in (("added", added), ("refused", refused)):
            items = result.get(key) or []
            if not isinstance(items, list):
                raise _state.TransitionRefused("review.%s.%s must be a list" % (kind, key))
            into.extend(items)
        if result.get("added"):
            grown.append(kind)
    # The state's own preconditions first (a trial, not reviewed yet): they say what to run before the events do.
    _state.record_review(state, layout)
    lost, suspicious = _state.review_inputs(layout, state.version)
    if added:
        # The next version's files are there before the state names it.
        _state.carry_forward(layout, state.version, _kinds(params), grown, check_mode=plan)
    return {"added": added, "refused": refused, "lost": lost, "suspicious": suspicious}


def _transition_args(params, layout, state, plan=False):
    action = params["action"]
    mechanisms = {"apparmor": params["apparmor"], "seccomp": params["seccomp"]}
    if action == "start_trial":
        if params["entry"] is None:
            raise _state.TransitionRefused("entry is required to start a trial")
        return dict(seed=_state.seed_hash(params["entry"]), round=params["round"], cursor=params["cursor"],
                    clock=params["clock"], restarts=params["restarts"], recreated=params["recreated"], **mechanisms)
    if action == "record_review":
        return _review(params, layout, state, plan)
    if action == "enforce":
        return dict(force=params["force"], clock=params["clock"], recreated=params["recreated"])
    if action == "rollback":
        kinds = _kinds(params)

        def have_version(version):
            return all(os.path.isfile(layout.version_file(kind, version)) for kind in kinds)

        return dict(target=params["target"], allow_unconfined=params["allow_unconfined"], have_version=have_version,
                    **mechanisms)
    return {}


def run(module):
    params = module.params
    validate_name(params["name"], params["profile_prefix"], where="name")
    layout = _layout(params)
    action = params["action"]
    plan = params["plan"] or module.check_mode
    if action == "read":
        before, info = _state.read(layout)
        outcome = {"before": before, "after": before, "changed": False, "migrated": info["migrated"],
                   "backup": None}
    else:
        state, info = _state.read(layout)
        kwargs = _transition_args(params, layout, state, plan)
        outcome = _state.apply(layout, action, check_mode=plan, backup=params["backup"], **kwargs)
    after = outcome["after"]
    result = {
        "changed": outcome["changed"] and not params["plan"],
        "state": after.to_dict(),
        "before": outcome["before"].to_dict(),
        "exists": info["exists"],
        "migrated": outcome["migrated"],
        "names": layout.names(after.version, _kinds(params)),
    }
    if outcome.get("backup"):
        result["backup_file"] = outcome["backup"]
    if "rollback_to" in outcome:
        result["rollback_to"] = outcome["rollback_to"]
        result["rollback_report"] = _state.describe_rollback(outcome["rollback_to"], after, params["target"],
                                                             params["apparmor"])
    enabled, versioned = _state.mechanisms(params["entry"], params["apparmor"], params["seccomp"])
    result.update(mechanisms=enabled, opaque=[kind for kind in enabled if kind not in versioned],
                  expectations=_expectations(params, layout), next_round=_state.next_round(after))
    if params["entry"] is not None:
        seed = _state.seed_hash(params["entry"])
        trial_version = _state.trial_version(after, seed)
        result.update(seed=seed, trial_version=trial_version, pending=_state.pending(after, seed))
        result["names"]["trial_files"] = layout.files(trial_version, _kinds(params))
    mode = params["mode"] or ("enforce" if outcome.get("rollback_to") == "keep" else after.mode)
    result["security_opts"] = None
    if mode is not None:
        try:
            result["security_opts"] = _state.security_opts(
                mode, layout.profile, params["apparmor"], params["seccomp"], _deployed_seccomp(params, layout))
        except ValueError:
            # Enforce's options need the enforcing seccomp profile, and none is deployed or given yet.
            result["security_opts"] = None
    if module._diff and result["changed"]:
        result["diff"] = {
            "before": _state.dumps(outcome["before"]) if info["exists"] else "",
            "after": _state.dumps(after),
            "before_header": layout.state_file,
            "after_header": layout.state_file,
        }
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "action": {"type": "str", "default": "read",
                       "choices": ["read", "start_trial", "record_review", "enforce", "record_good", "rollback"]},
            "plan": {"type": "bool", "default": False},
            "entry": {"type": "dict"},
            "state_dir": {"type": "path", "default": "/var/lib/confine"},
            "profile_prefix": {"type": "str", "default": "confine-"},
            "apparmor_dir": {"type": "path", "default": "/etc/apparmor.d/containers"},
            "seccomp_dir": {"type": "path", "default": "/etc/docker/seccomp"},
            "apparmor": {"type": "bool", "default": True},
            "seccomp": {"type": "bool", "default": True},
            "round": {"type": "int", "default": 1},
            "cursor": {"type": "dict"},
            "clock": {"type": "float"},
            "restarts": {"type": "int", "default": 0},
            "recreated": {"type": "bool", "default": False},
            "review": {"type": "dict", "default": {}},
            "force": {"type": "bool", "default": False},
            "target": {"type": "str", "default": "previous", "choices": list(_state.TARGETS)},
            "allow_unconfined": {"type": "bool", "default": False},
            "mode": {"type": "str", "choices": list(_state.MODES)},
            "seccomp_profile": {"type": "dict"},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = run(module)
    except _state.StateError as exc:
        # The names do not depend on the state: a caller that goes on without it (verify) still has them.
        layout = _layout(params)
        module.fail_json(msg=str(exc), path=exc.path, state_error=True, names=layout.names(),
                         expectations=_expectations(params, layout))
    except _state.TransitionRefused as exc:
        module.fail_json(msg=str(exc), refused=True)
    except EntryError as exc:
        module.fail_json(msg=str(exc))
    except (WriteError, OSError) as exc:
        module.fail_json(msg="the state of %s cannot be written: %s" % (params["name"], exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
