"""The container state: record, migration from the unversioned layout, transitions, corrupt files, atomic writes,
and the names and security options the Jinja roles built at 7aca073 (rendered here by Ansible's own templar)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.confine.docker.plugins.module_utils import _io, _mechanisms, _state
from ansible_collections.confine.docker.plugins.module_utils._state import State, StateError, TransitionRefused

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "state")
NAME = "st13-capture"
SEED = "35e0899c9142783e8cbe28b3a5334b698c4ab9ad"
OTHER_SEED = "90a7680624f8da2f30025515f19f94d1aa417fbf"
CURSOR = {"source": "audit", "version": 1, "audit_lost": 0, "files": [{"path": "/var/log/audit/audit.log",
                                                                      "offset": 4096, "inode": 7, "dev": 1}]}
LEGACY = ("complain-round1", "enforced", "rolled-back-previous", "rolled-back-baseline", "failed-verify-baseline")


def fixture(label):
    with open(os.path.join(FIXTURES, label + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def render(expression, **variables):
    """``{{ expression }}`` rendered by Ansible's templar, as a role's task would."""
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template("{{ %s }}" % expression))


@pytest.fixture
def layout(tmp_path):
    return _state.Layout(NAME, str(tmp_path / "state"), "confine-", str(tmp_path / "apparmor"),
                         str(tmp_path / "seccomp"))


def put(layout, data):
    os.makedirs(layout.directory, exist_ok=True)
    with open(layout.state_file, "w", encoding="utf-8") as handle:
        handle.write(data if isinstance(data, str) else json.dumps(data))


def text_of(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def on_disk(layout):
    with open(layout.state_file, encoding="utf-8") as handle:
        return json.load(handle)


def legacy_state(label):
    state, migrated = _state.from_dict(fixture(label), name=NAME)
    assert migrated
    return state


def legacy_view(state):
    """The keys of ``state`` the Jinja roles wrote (no schema, no reviewed)."""
    return {key: value for key, value in state.to_dict().items() if key in _state.LEGACY_KEYS}


def expect(role_dict, **deviations):
    """What the record holds for the dict a Jinja role wrote: its keys, every other key at its default."""
    full = {field.name: _state._default(field) for field in _state.FIELDS if field.name in _state.LEGACY_KEYS}
    full.update(role_dict)
    full.update(deviations)
    return full


# --- the record and the migration from the unversioned layout ---------------------------------------------------

def test_the_field_table_and_the_record_agree():
    assert tuple(field.name for field in dataclasses.fields(State)) == _state.FIELD_NAMES
    assert State().to_dict() == {field.name: _state._default(field) for field in _state.FIELDS}


@pytest.mark.parametrize("label", LEGACY)
def test_every_key_of_a_real_legacy_state_is_kept(label):
    original = fixture(label)
    state = legacy_state(label)
    assert state.schema == _state.SCHEMA
    assert legacy_view(state) == expect(original)
    # The migrated record writes and reads back as itself.
    again, migrated = _state.parse(_state.dumps(state), name=NAME)
    assert again == state and not migrated


@pytest.mark.parametrize("label, reviewed", [("complain-round1", False), ("enforced", True),
                                             ("rolled-back-baseline", True)])
def test_a_legacy_trial_may_still_be_reviewed_and_nothing_else(label, reviewed):
    assert legacy_state(label).reviewed is reviewed


def test_the_legacy_file_is_kept_until_a_transition_changes_it_then_backed_up(layout):
    put(layout, fixture("enforced"))
    before = text_of(layout.state_file)
    # Recording the good version again changes nothing: the file stays in its layout, nothing is written.
    result = _state.apply(layout, "record_good")
    assert not result["changed"] and result["migrated"] and result["backup"] is None
    assert text_of(layout.state_file) == before
    # A rollback to the baseline rewrites it in the new layout and keeps the old file beside it.
    result = _state.apply(layout, "rollback", target="baseline", apparmor=False)
    assert result["changed"] and result["rollback_to"] == "baseline"
    with open(result["backup"], encoding="utf-8") as handle:
        assert handle.read() == before
    written = on_disk(layout)
    assert written["schema"] == _state.SCHEMA and written["mode"] == "baseline"
    expected = dict(fixture("enforced"), mode="baseline", seccomp="docker-default", rolled_back_from=2)
    assert {key: written.get(key) for key in expected} == expected
    # Read again: no longer the old layout, so the next write takes no backup unless asked.
    assert not _state.read(layout)[1]["migrated"]


def test_state_json_is_written_as_to_nice_json_wrote_it(layout):
    state = legacy_state("enforced")
    assert _state.dumps(state) == render("s | to_nice_json(sort_keys=true) ~ '\n'", s=_state.on_disk(state))
    # Null fields are left out, as the roles' `is defined` and `default()` read them.
    assert "apparmor" not in json.loads(_state.dumps(state)) and state.apparmor is None
    assert "rolled_back_from" not in json.loads(_state.dumps(state))
    assert _state.parse(_state.dumps(state), name=NAME)[0] == state


# --- a state.json that cannot be used: an error for that container, naming the file and what to do ----------------

CORRUPT = [
    ("{not json", "is not valid JSON"),
    ("", "is not valid JSON"),
    ("[1, 2]", "holds list, not a JSON object"),
    (json.dumps(dict(fixture("enforced"), colour="red")), "which no release of the runbook writes"),
    (json.dumps(dict(fixture("enforced"), schema=2, colour="red")), "unknown key(s) colour"),
    (json.dumps(dict(fixture("enforced"), schema=3)), "newer confine.docker (schema 3"),
    (json.dumps(dict(fixture("enforced"), schema=1)), "has schema 1"),
    (json.dumps(dict(fixture("enforced"), schema="2")), "its schema is '2'"),
    (json.dumps(dict(fixture("enforced"), mode="permissive")), "mode must be one of complain"),
    (json.dumps(dict(fixture("enforced"), version="2")), "version must be an integer, not str"),
    (json.dumps(dict(fixture("enforced"), version=True)), "version must be an integer, not true"),
    (json.dumps(dict(fixture("enforced"), version=0)), "version must be 1 or more"),
    (json.dumps(dict(fixture("enforced"), clean="yes")), "clean must be true or false"),
    (json.dumps(dict(fixture("enforced"), seed="abc")), "seed must be the sha1"),
    (json.dumps(dict(fixture("enforced"), refused=[{"item": "mount"}])), "refused item 0 must be an object with a key"),
    (json.dumps(dict(fixture("enforced"), blockers=[1])), "blockers must be a list of strings"),
    (json.dumps(dict(fixture("enforced"), cursor=5)), "cursor must be an object or a string, not int"),
    (json.dumps(dict(fixture("enforced"), restarts=-1)), "restarts must not be negative"),
    (json.dumps(dict(fixture("enforced"), container="web")), "belongs to container 'web'"),
    (json.dumps(dict(fixture("enforced"), trial_started=float("nan"))), "trial_started must be a finite number"),
    (json.dumps(dict(fixture("enforced"), enforced_at=float("inf"))), "enforced_at must be a finite number"),
]


@pytest.mark.parametrize("text, problem", CORRUPT)
def test_a_corrupt_state_is_a_clear_error_naming_the_file_and_what_to_do(layout, text, problem):
    put(layout, text)
    with pytest.raises(StateError) as info:
        _state.read(layout)
    message = str(info.value)
    assert problem in message
    assert info.value.path == layout.state_file and message.startswith(layout.state_file + ": ")
    assert "Only this container is affected" in message or "Run the release that wrote it" in message
    # Nothing was written over it.
    with open(layout.state_file, encoding="utf-8") as handle:
        assert handle.read() == text


def test_every_problem_of_a_state_is_named_at_once(layout):
    put(layout, dict(fixture("enforced"), version="2", clean="yes"))
    with pytest.raises(StateError, match="version must be an integer, not str; clean must be true or false"):
        _state.read(layout)


def test_a_state_that_is_not_utf8_or_not_a_regular_file_is_refused_unread(layout):
    os.makedirs(layout.directory)
    with open(layout.state_file, "wb") as handle:
        handle.write(b'{"mode": "\xff"}')
    with pytest.raises(StateError, match=r"cannot be read .*not UTF-8"):
        _state.read(layout)
    os.unlink(layout.state_file)
    os.mkfifo(layout.state_file)
    with pytest.raises(StateError, match=r"cannot be read .*a FIFO"):
        _state.read(layout)
    os.unlink(layout.state_file)
    os.mkdir(layout.state_file)
    with pytest.raises(StateError, match=r"cannot be read .*a directory"):
        _state.read(layout)


def test_transitions_refuse_to_run_on_a_corrupt_state_and_leave_it(layout):
    put(layout, "{garbage")
    for transition, kwargs in (("start_trial", {"seed": SEED}), ("record_good", {}),
                               ("rollback", {"target": "baseline"})):
        with pytest.raises(StateError):
            _state.apply(layout, transition, **kwargs)
    assert text_of(layout.state_file) == "{garbage"
    assert os.listdir(layout.directory) == ["state.json"]


def test_a_state_written_by_hand_for_verify_is_read(layout):
    # tests/integration/test_verify_vm.py gives the verify role a state.json with a timestamp for a cursor.
    put(layout, {"container": NAME, "mode": "enforce", "cursor": "2026-12-01T19:00:00.5Z"})
    state, info = _state.read(layout)
    assert (state.mode, state.cursor, info["migrated"]) == ("enforce", "2026-12-01T19:00:00.5Z", True)


def test_a_missing_state_is_the_empty_state(layout):
    state, info = _state.read(layout)
    assert state == State() and info == {"exists": False, "migrated": False}


# --- the transitions, against what the Jinja roles recorded ------------------------------------------------------

# roles/complain/tasks/container.yml and roles/complain/vars/main.yml at 7aca073.
COMPLAIN_VERSION = ("complain_previous.version | default(1) if complain_previous.seed | default('') == complain_seed "
                    "else 1")
COMPLAIN_NEW_TRIAL = (
    "container_result is changed or complain_state.cursor | default(none) is none"
    " or complain_state.mode | default('') != 'complain'"
    " or complain_state.round | default(0) | int != complain_round | int"
    " or complain_state.version | default(0) | int != complain_version | int")
COMPLAIN_NEW_STATE = """complain_state | combine({
           'container': complain_container.name,
           'mode': 'complain',
           'round': complain_round | int,
           'version': complain_version | int,
           'seed': complain_seed,
           'apparmor': complain_profile if complain_apparmor | bool else none,
           'seccomp': complain_seccomp_file if complain_seccomp | bool else none,
           'cursor': complain_events.cursor if complain_new_trial else complain_state.cursor | default(none),
           'trial_started': complain_clock.stdout | float if complain_new_trial
                            else complain_state.trial_started | default(none),
           'restarts': container_result.container.RestartCount | default(0) if complain_new_trial
                       else complain_state.restarts | default(0),
           'clean': false,
         })"""


def complain_0_2(previous, layout, seed, round_, recreated, restarts, clock, apparmor=True, seccomp=True):
    variables = dict(complain_previous=previous, complain_state=previous, complain_seed=seed,
                     complain_round=round_, container_result={"changed": recreated,
                                                              "container": {"RestartCount": restarts}},
                     complain_container={"name": layout.name}, complain_profile=layout.profile,
                     complain_apparmor=apparmor, complain_seccomp=seccomp, complain_seccomp_file=layout.seccomp_file,
                     complain_events={"cursor": CURSOR}, complain_clock={"stdout": "%.6f" % clock})
    variables["complain_version"] = render(COMPLAIN_VERSION, **variables)
    variables["complain_new_trial"] = render(COMPLAIN_NEW_TRIAL, **variables)
    return render(COMPLAIN_NEW_STATE, **variables)


def reviewed_round1():
    """complain-round1 after a review that admitted the workload's mkdir (version 2)."""
    return dict(fixture("complain-round1"), version=2, added=1, refused=[], blockers=[], lost=[], suspicious=0,
                clean=False)


START_TRIAL = [
    # previous state.json, round, container recreated, deviation from the Jinja role
    ("first trial", None, 1, True, {}),
    ("the same trial again, nothing recreated", "complain-round1", 1, False, {}),
    ("the same trial, the container recreated", "complain-round1", 1, True, {}),
    ("round 2 under the widened version", reviewed_round1, 2, True, {}),
    ("an enforced container tried again", "enforced", 1, True, {}),
    ("after a rollback to the baseline", "rolled-back-baseline", 1, True, {}),
    ("after a rollback from nothing", "failed-verify-baseline", 1, True, {}),
]


def previous_of(source):
    if source is None:
        return {}
    return source() if callable(source) else fixture(source)


# Every case with the same entry and with a changed one, but a later round of another entry, which is refused
# (test_a_later_round_follows_the_review_of_the_one_before).
START_TRIAL_CASES = [pytest.param(*case, seed, id="%s, %s entry" % (case[0], label))
                     for case in START_TRIAL for seed, label in ((SEED, "same"), (OTHER_SEED, "changed"))
                     if case[2] == 1 or seed == SEED]


@pytest.mark.parametrize("case, source, round_, recreated, deviation, seed", START_TRIAL_CASES)
def test_start_trial_records_what_the_complain_role_recorded(layout, case, source, round_, recreated, deviation,
                                                             seed):
    previous = previous_of(source)
    state = _state.from_dict(previous, name=NAME)[0] if previous else State()
    if round_ > 1:
        state = state.replace(reviewed=True)
    new = _state.start_trial(state, layout, seed=seed, round=round_, cursor=CURSOR, clock=1796151338.537, restarts=2,
                             recreated=recreated, apparmor=False)
    role = complain_0_2(previous, layout, seed, round_, recreated, 2, 1796151338.537, apparmor=False)
    deviation = dict(deviation)
    if previous.get("seed") not in (None, seed) and previous.get("good_version") is not None:
        # The versions on record are another entry's and are overwritten from version 1: no good version survives.
        deviation["good_version"] = None
    assert legacy_view(new) == expect(role, **deviation)
    assert new.reviewed is False


def test_a_later_round_follows_the_review_of_the_one_before(layout):
    trial = legacy_state("complain-round1")
    with pytest.raises(TransitionRefused, match=r"round 2 of a trial follows the review of round 1.*not reviewed"):
        _state.start_trial(trial, layout, seed=SEED, round=2)
    with pytest.raises(TransitionRefused, match="another entry"):
        _state.start_trial(trial.replace(reviewed=True), layout, seed=OTHER_SEED, round=2)
    with pytest.raises(TransitionRefused, match="mode enforce"):
        _state.start_trial(legacy_state("enforced"), layout, seed=SEED, round=3)
    assert _state.start_trial(trial.replace(reviewed=True), layout, seed=SEED, round=2, cursor=CURSOR).round == 2


@pytest.mark.parametrize("seed, round_", [("abc", 1), (None, 1), (SEED, 0), (SEED, True), (SEED, "1")])
def test_start_trial_refuses_a_bad_seed_or_round(layout, seed, round_):
    with pytest.raises(TransitionRefused):
        _state.start_trial(State(), layout, seed=seed, round=round_)


# roles/widen/tasks/container.yml at 7aca073.
WIDEN_NEW_STATE = """widen_state | combine({
           'version': widen_state.version | int + (1 if widen_added | length > 0 else 0),
           'added': widen_added | length,
           'refused': widen_refused,
           'blockers': widen_blockers | map(attribute='key') | list,
           'lost': widen_lost,
           'suspicious': widen_inputs.events.suspicious | default([]) | map(attribute='count') | sum,
           'clean': widen_added | length == 0 and widen_blockers | length == 0 and widen_lost | length == 0,
         })"""
WIDEN_VARS = {
    "widen_added": "(widen_apparmor_result.added | default([])) + (widen_seccomp_result.added | default([]))",
    "widen_refused_now": "(widen_apparmor_result.refused | default([])) + (widen_seccomp_result.refused | default([]))",
    "widen_refused": "(((widen_state.refused | default([])) if widen_state.round | default(1) | int > 1 else [])"
                     " + widen_refused_now) | unique(attribute='key')",
    "widen_blockers": "widen_refused | rejectattr('baseline', 'defined') | list + widen_refused"
                      " | selectattr('baseline', 'defined') | rejectattr('baseline', 'equalto', 'blocks') | list",
    "widen_lost": "widen_inputs.events.lost | default([])",
}

MOUNT = {"key": "mount", "item": "mount", "why": "mounts", "baseline": "blocks"}
PTRACE = {"key": "ptrace", "item": "ptrace", "why": "debugs other processes", "baseline": "allows"}
RAW = {"key": "capability net_raw", "item": "capability net_raw", "why": "raw sockets"}
LOST = [{"kind": "audit-lost", "records": 3, "message": "auditd lost 3 records"}]
SUSPICIOUS = [{"kind": "apparmor", "count": 2, "profiles": ["confine-x"], "samples": ["..."]},
              {"kind": "seccomp", "count": 1, "profiles": [], "samples": []}]

REVIEWS = [
    # trial, apparmor result, seccomp result, events
    ("round 1 admits mkdir", "complain-round1", {}, {"added": ["mkdir"], "refused": []}, {"lost": []}),
    ("round 1 clean", "complain-round1", {"added": [], "refused": []}, {"added": [], "refused": []}, {}),
    ("refusals the baseline blocks too", "complain-round1", {"added": [], "refused": [MOUNT]},
     {"added": [], "refused": []}, {}),
    ("blockers: no baseline verdict, baseline allows", "complain-round1", {"added": ["/data/** rw"], "refused": [RAW]},
     {"added": [], "refused": [MOUNT, PTRACE]}, {}),
    ("lost records and look-alikes", "complain-round1", {}, {"added": [], "refused": []},
     {"lost": LOST, "suspicious": SUSPICIOUS}),
    ("round 2 keeps round 1's refusals, once each", "round2", {"added": [], "refused": [MOUNT]},
     {"added": [], "refused": [PTRACE]}, {}),
    ("round 1 forgets an earlier trial's refusals", "round1-after-trial", {"added": [], "refused": []},
     {"added": [], "refused": [MOUNT]}, {}),
]


def round2():
    return dict(fixture("complain-round1"), round=2, version=2, refused=[PTRACE, RAW])


TRIALS = {"round2": round2, "round1-after-trial": lambda: dict(fixture("complain-round1"), refused=[PTRACE])}


@pytest.mark.parametrize("case, trial, apparmor, seccomp, events", REVIEWS, ids=[r[0] for r in REVIEWS])
def test_record_review_records_what_the_widen_role_recorded(layout, case, trial, apparmor, seccomp, events):
    previous = TRIALS[trial]() if trial in TRIALS else fixture(trial)
    variables = dict(widen_state=previous, widen_apparmor_result=apparmor, widen_seccomp_result=seccomp,
                     widen_inputs={"events": events})
    for name, expression in WIDEN_VARS.items():
        variables[name] = render(expression, **variables)
    role = render(WIDEN_NEW_STATE, **variables)
    state = _state.from_dict(previous, name=NAME)[0]
    new = _state.record_review(state, layout, added=apparmor.get("added", []) + seccomp.get("added", []),
                               refused=apparmor.get("refused", []) + seccomp.get("refused", []),
                               lost=events.get("lost", []),
                               suspicious=sum(entry["count"] for entry in events.get("suspicious", [])))
    assert legacy_view(new) == expect(role)
    assert new.reviewed is True


def test_a_round_is_reviewed_once_and_only_in_a_trial(layout):
    trial = legacy_state("complain-round1")
    reviewed = _state.record_review(trial, layout, added=["mkdir"])
    with pytest.raises(TransitionRefused, match="was reviewed already; the next round starts with the complain"):
        _state.record_review(reviewed, layout)
    with pytest.raises(TransitionRefused, match="is in mode enforce, not in a trial"):
        _state.record_review(legacy_state("enforced"), layout)
    with pytest.raises(TransitionRefused, match="refused item 0 has no key"):
        _state.record_review(trial, layout, refused=["mount"])
    with pytest.raises(TransitionRefused, match="suspicious is a count"):
        _state.record_review(trial, layout, suspicious=-1)


def test_review_inputs_come_from_the_rounds_events_file(layout):
    os.makedirs(layout.directory)
    with pytest.raises(TransitionRefused, match=r"no events \(.*events.v1.json\): run the collect stage first"):
        _state.review_inputs(layout, 1)
    with open(os.path.join(FIXTURES, "events.v1.json"), encoding="utf-8") as source, \
            open(layout.version_file("events", 1), "w", encoding="utf-8") as dest:
        dest.write(source.read())
    assert _state.review_inputs(layout, 1) == ([], 0)
    with open(layout.version_file("events", 2), "w", encoding="utf-8") as handle:
        json.dump({"lost": LOST, "suspicious": SUSPICIOUS, "apparmor": [], "seccomp": []}, handle)
    assert _state.review_inputs(layout, 2) == (LOST, 3)
    with open(layout.version_file("events", 3), "w", encoding="utf-8") as handle:
        handle.write("{broken")
    with pytest.raises(TransitionRefused, match="is not valid JSON"):
        _state.review_inputs(layout, 3)
    with open(layout.version_file("events", 3), "w", encoding="utf-8") as handle:
        json.dump({"suspicious": [{"kind": "x"}]}, handle)
    with pytest.raises(TransitionRefused, match="suspicious entry without a count"):
        _state.review_inputs(layout, 3)


# roles/enforce/tasks/container.yml at 7aca073.
ENFORCE_ALLOWED = "enforce_state.mode == 'enforce' or enforce_state.clean | default(false) or enforce_force | bool"
ENFORCE_NEW_STATE = (
    "enforce_state | combine({'mode': 'enforce', 'enforced_version': enforce_state.version,"
    " 'enforced_at': enforce_clock.stdout | float if container_result is changed"
    " else enforce_state.enforced_at | default(enforce_clock.stdout | float)})")

ENFORCE = [
    ("clean trial, container recreated", lambda: dict(reviewed_round1(), added=0, version=2, clean=True), False, True),
    ("unclean trial forced", reviewed_round1, True, True),
    ("enforced already, nothing recreated", lambda: fixture("enforced"), False, False),
    ("enforced already, recreated", lambda: fixture("enforced"), False, True),
]


@pytest.mark.parametrize("case, previous, force, recreated", ENFORCE, ids=[e[0] for e in ENFORCE])
def test_enforce_records_what_the_enforce_role_recorded(layout, case, previous, force, recreated):
    previous = previous()
    variables = dict(enforce_state=previous, enforce_force=force, enforce_clock={"stdout": "1796151403.574127"},
                     container_result={"changed": recreated})
    assert render(ENFORCE_ALLOWED, **variables)
    role = render(ENFORCE_NEW_STATE, **variables)
    state = _state.from_dict(previous, name=NAME)[0].replace(reviewed=True)
    new = _state.enforce(state, layout, force=force, clock=1796151403.574127, recreated=recreated)
    assert legacy_view(new) == expect(role)


def test_enforce_refuses_an_unclean_trial_naming_its_blockers_and_the_report(layout):
    state = legacy_state("complain-round1").replace(
        version=2, added=1, blockers=["ptrace"], lost=LOST, reviewed=True)
    assert not render(ENFORCE_ALLOWED, enforce_state=state.to_dict(), enforce_force=False)
    with pytest.raises(TransitionRefused) as info:
        _state.enforce(state, layout)
    message = str(info.value)
    assert "the last trial (round 1, version 2) was not clean - 1 rule(s) still being added" in message
    assert "['ptrace']" in message and "auditd lost 3 records" in message
    assert layout.report_file(2) in message


@pytest.mark.parametrize("label", ["rolled-back-baseline", "failed-verify-baseline"])
def test_enforce_needs_a_trial_first(layout, label):
    with pytest.raises(TransitionRefused, match="is in mode baseline, not in a trial"):
        _state.enforce(legacy_state(label), layout, force=True)
    with pytest.raises(TransitionRefused, match="is in mode None, not in a trial"):
        _state.enforce(State(), layout, force=True)


# playbooks/tasks/record_good.yml at 7aca073.
RECORD_GOOD = "harden_state | combine({'good_version': harden_state.version})"


@pytest.mark.parametrize("label", ["enforced", "rolled-back-previous"])
def test_record_good_records_what_harden_recorded(layout, label):
    role = render(RECORD_GOOD, harden_state=fixture(label))
    assert legacy_view(_state.record_good(legacy_state(label), layout)) == expect(role)


def test_record_good_needs_the_enforced_version(layout):
    with pytest.raises(TransitionRefused, match="only an enforced version can be recorded as good"):
        _state.record_good(legacy_state("complain-round1"), layout)
    with pytest.raises(TransitionRefused, match="runs version 3 but version 2 was enforced"):
        _state.record_good(legacy_state("enforced").replace(version=3), layout)


# roles/rollback/tasks/container.yml at 7aca073.
ROLLBACK_TO = ("'unconfined' if rollback_target == 'unconfined' else 'previous' if rollback_target == 'previous'"
               " and rollback_previous.good_version is defined and rollback_previous.good_version"
               " != rollback_previous.version else 'baseline'")
ROLLBACK_NEW_STATE = """rollback_state | combine({
           'container': rollback_container.name,
           'mode': 'enforce' if rollback_to == 'previous' else rollback_to,
           'version': rollback_state.good_version if rollback_to == 'previous'
                      else rollback_state.version | default(none),
           'rolled_back_from': rollback_state.version | default(none),
           'apparmor': rollback_profile if rollback_to == 'previous' and rollback_apparmor | bool
                       else 'unconfined' if rollback_to == 'unconfined'
                       else 'docker-default' if rollback_apparmor | bool else none,
           'seccomp': rollback_seccomp_file if rollback_to == 'previous' and rollback_seccomp | bool
                      else 'unconfined' if rollback_to == 'unconfined' else 'docker-default',
         })"""

ROLLBACKS = [
    ("no state, previous", lambda: {}, "previous"),
    ("no state, baseline", lambda: {}, "baseline"),
    ("version 3 went wrong, previous", lambda: dict(fixture("enforced"), version=3), "previous"),
    ("version 3 went wrong, baseline", lambda: dict(fixture("enforced"), version=3), "baseline"),
    ("a trial without good version, previous", lambda: fixture("complain-round1"), "previous"),
    ("a trial whose version is the good one, previous", lambda: dict(fixture("enforced"), mode="complain"),
     "previous"),
    ("enforced, unconfined", lambda: fixture("enforced"), "unconfined"),
    ("baseline again, baseline", lambda: fixture("rolled-back-baseline"), "baseline"),
]


@pytest.mark.parametrize("apparmor, seccomp", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("case, previous, target", ROLLBACKS, ids=[r[0] for r in ROLLBACKS])
def test_rollback_records_what_the_rollback_role_recorded(layout, case, previous, target, apparmor, seccomp):
    previous = previous()
    variables = dict(rollback_target=target, rollback_previous=previous, rollback_state=previous,
                     rollback_container={"name": NAME}, rollback_profile=layout.profile,
                     rollback_seccomp_file=layout.seccomp_file, rollback_apparmor=apparmor, rollback_seccomp=seccomp)
    variables["rollback_to"] = render(ROLLBACK_TO, **variables)
    role = render(ROLLBACK_NEW_STATE, **variables)
    state = _state.from_dict(previous, name=NAME)[0] if previous else State()
    new, where = _state.rollback(state, layout, target=target, allow_unconfined=True, apparmor=apparmor,
                                 seccomp=seccomp)
    assert where == variables["rollback_to"]
    assert legacy_view(new) == expect(role)


# roles/rollback/tasks/container.yml at 7aca073: the report's words.
ROLLBACK_WHERE = """('version ' ~ rollback_state.good_version ~ ', its last good one') if rollback_to == 'previous'
         else 'UNCONFINED (diagnostic rollback)' if rollback_to == 'unconfined'
         else 'the baseline (' ~ ('docker-default, ' if rollback_apparmor | bool else '') ~ "Docker's default seccomp"
              ~ (('; no good version to go back to' if rollback_target == 'previous' else '') ~ ')')"""


@pytest.mark.parametrize("apparmor", [True, False])
@pytest.mark.parametrize("case, previous, target", ROLLBACKS, ids=[r[0] for r in ROLLBACKS])
def test_the_rollback_report_says_what_the_rollback_role_said(layout, case, previous, target, apparmor):
    previous = previous()
    state = _state.from_dict(previous, name=NAME)[0] if previous else State()
    new, where = _state.rollback(state, layout, target=target, allow_unconfined=True, apparmor=apparmor)
    role = render(ROLLBACK_WHERE, rollback_to=where, rollback_state=previous, rollback_apparmor=apparmor,
                  rollback_target=target)
    # The role said where; the word "to" was the report's.
    assert _state.describe_rollback(where, new, target, apparmor) == "to " + role
    assert _state.describe_rollback("keep", legacy_state("enforced")) == "kept at version 2, which passed verify"


def test_rollback_leaves_a_container_enforced_under_its_good_version(layout):
    # The Jinja role sent it to the baseline, and with it every verified container of a host whose rescue ran.
    enforced = legacy_state("enforced")
    assert render(ROLLBACK_TO, rollback_target="previous", rollback_previous=fixture("enforced")) == "baseline"
    assert _state.rollback(enforced, layout, target="previous") == (enforced, "keep")
    # Asked for the baseline, it goes there.
    assert _state.rollback(enforced, layout, target="baseline")[1] == "baseline"


def test_rollback_to_a_good_version_whose_files_are_gone_goes_to_the_baseline(layout):
    state = legacy_state("enforced").replace(version=3)
    assert _state.rollback(state, layout, have_version=lambda version: version != 2)[1] == "baseline"
    assert _state.rollback(state, layout, have_version=lambda version: True)[1] == "previous"


def test_unconfined_needs_the_diagnostic_switch(layout):
    with pytest.raises(TransitionRefused, match=r"rollback_target=unconfined .* is refused"):
        _state.rollback(legacy_state("enforced"), layout, target="unconfined")
    with pytest.raises(TransitionRefused, match="not one of previous, baseline, unconfined"):
        _state.rollback(legacy_state("enforced"), layout, target="docker-default")


# --- the runbook's states as one table: (state, transition) -> next mode | refusal ---------------------------------

TABLE = [
    # (mode, reviewed, clean) before, transition, mode after or the refusal's words
    ((None, False, False), "record_review", "not in a trial"),
    ((None, False, False), "enforce", "not in a trial"),
    ((None, False, False), "record_good", "only an enforced version"),
    (("complain", False, False), "record_review", "complain"),
    (("complain", True, False), "record_review", "reviewed already"),
    (("complain", True, False), "enforce", "was not clean"),
    (("complain", True, True), "enforce", "enforce"),
    (("complain", True, True), "record_good", "only an enforced version"),
    (("enforce", True, True), "enforce", "enforce"),
    (("enforce", True, True), "record_good", "enforce"),
    (("enforce", True, True), "record_review", "not in a trial"),
    (("baseline", True, True), "enforce", "not in a trial"),
    (("baseline", True, True), "record_good", "only an enforced version"),
    (("unconfined", True, True), "record_review", "not in a trial"),
]


@pytest.mark.parametrize("before, transition, after", TABLE, ids=["%s-%s" % (t[0][0], t[1]) for t in TABLE])
def test_the_transition_table(layout, before, transition, after):
    mode, reviewed, clean = before
    state = State(container=NAME, mode=mode, round=1, version=None if mode is None else 2, seed=SEED,
                  reviewed=reviewed, clean=clean, enforced_version=2 if mode == "enforce" else None)
    function = _state.TRANSITIONS[transition]
    if after in _state.MODES:
        assert function(state, layout).mode == after
    else:
        with pytest.raises(TransitionRefused, match=after):
            function(state, layout)


def test_a_whole_trial_through_the_files(layout):
    """complain, review (widened), complain round 2, review (clean), enforce, record good, then a repeat changes
    nothing, each written atomically to state.json."""
    entry = {"name": NAME, "image": "confine-lab/base:bookworm"}
    seed = _state.seed_hash(entry)
    steps = [
        ("start_trial", dict(seed=seed, round=1, cursor=CURSOR, clock=100.0, recreated=True), "complain", 1),
        ("record_review", dict(added=["mkdir"]), "complain", 2),
        ("start_trial", dict(seed=seed, round=2, cursor=CURSOR, clock=200.0, recreated=True), "complain", 2),
        ("record_review", {}, "complain", 2),
        ("enforce", dict(clock=300.0, recreated=True), "enforce", 2),
        ("record_good", {}, "enforce", 2),
    ]
    for transition, kwargs, mode, version in steps:
        result = _state.apply(layout, transition, **kwargs)
        assert result["changed"], transition
        written = on_disk(layout)
        assert (written["mode"], written["version"], written["schema"]) == (mode, version, _state.SCHEMA)
    assert on_disk(layout)["good_version"] == 2 and on_disk(layout)["clean"] is True
    assert not _state.pending(_state.read(layout)[0], seed)
    assert _state.pending(_state.read(layout)[0], _state.seed_hash(dict(entry, image="other")))
    assert not _state.apply(layout, "record_good")["changed"]
    assert not _state.apply(layout, "enforce", clock=400.0)["changed"]
    assert oct(stat.S_IMODE(os.stat(layout.state_file).st_mode)) == oct(_state.FILE_MODE)


def test_check_mode_computes_the_transition_and_writes_nothing(layout):
    result = _state.apply(layout, "start_trial", check_mode=True, seed=SEED, cursor=CURSOR, clock=1.0)
    assert result["changed"] and result["after"].mode == "complain"
    assert not os.path.exists(layout.directory)


# --- atomic writes -----------------------------------------------------------------------------------------------

def test_a_failure_mid_write_leaves_the_old_file(layout, monkeypatch):
    put(layout, fixture("enforced"))
    before = text_of(layout.state_file)

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io.os, "replace", no_rename)
    with pytest.raises(_io.WriteError, match=r"cannot write .*state\.json.*: no space left on the file system"):
        _state.apply(layout, "rollback", target="baseline", backup=True)
    assert text_of(layout.state_file) == before
    # No temporary file and no backup of a write that did not happen.
    assert os.listdir(layout.directory) == ["state.json"]


def test_a_written_file_that_does_not_read_back_is_never_renamed_over_the_old_one(layout, monkeypatch):
    put(layout, fixture("enforced"))
    before = text_of(layout.state_file)
    real_write = _io.atomic_write

    def truncating_write(path, data, **kwargs):
        return real_write(path, data[: len(data) // 2], **kwargs)

    monkeypatch.setattr(_io, "atomic_write", truncating_write)
    with pytest.raises(StateError, match="is not valid JSON"):
        _state.apply(layout, "rollback", target="baseline")
    assert text_of(layout.state_file) == before
    assert os.listdir(layout.directory) == ["state.json"]


def test_an_invalid_record_is_never_written(layout):
    with pytest.raises(StateError, match="mode must be one of"):
        _state.write(layout, State(container=NAME, mode="permissive"))
    assert not os.path.exists(layout.state_file)


# --- names, paths, seeds and security options, as the roles built them ------------------------------------------

# roles/complain/vars/main.yml (the same in enforce's and rollback's vars) at 7aca073.
ROLE_NAMES = {
    "profile": "complain_profile_prefix ~ complain_container.name",
    "dir": "complain_state_dir ~ '/' ~ complain_container.name",
    "seccomp_file": "complain_seccomp_dir ~ '/' ~ complain_profile_prefix ~ complain_container.name ~ '.json'",
    "apparmor_file": "complain_apparmor_dir ~ '/' ~ complain_profile_prefix ~ complain_container.name",
    "state_file": "complain_state_dir ~ '/' ~ complain_container.name ~ '/state.json'",
}


@pytest.mark.parametrize("prefix", ["confine-", "acme.", ""])
def test_names_and_paths_are_the_roles(tmp_path, prefix):
    layout = _state.Layout("web", "/var/lib/confine", prefix, "/etc/apparmor.d/containers", "/etc/docker/seccomp")
    variables = dict(complain_profile_prefix=prefix, complain_container={"name": "web"},
                     complain_state_dir="/var/lib/confine", complain_seccomp_dir="/etc/docker/seccomp",
                     complain_apparmor_dir="/etc/apparmor.d/containers")
    names = layout.names(2)
    for key, expression in ROLE_NAMES.items():
        assert names[key] == render(expression, **variables), key
    assert names["files"] == {"apparmor": "/var/lib/confine/web/apparmor.v2.json",
                              "seccomp": "/var/lib/confine/web/seccomp.v2.json",
                              "events": "/var/lib/confine/web/events.v2.json",
                              "report": "/var/lib/confine/web/report.v2.md"}
    assert names["next_files"]["seccomp"] == "/var/lib/confine/web/seccomp.v3.json"


def test_the_versions_on_disk(layout):
    os.makedirs(layout.directory)
    for name in ("seccomp.v1.json", "seccomp.v2.json", "seccomp.v10.json", "seccomp.v0.json", "seccomp.vx.json",
                 "apparmor.v1.json", "events.v1.json", "report.v1.md", "seccomp.v2.json.tmp"):
        open(os.path.join(layout.directory, name), "w").close()
    assert layout.versions("seccomp") == [1, 2, 10]
    assert layout.versions("apparmor") == [1]
    assert layout.versions("events") == [1]
    with pytest.raises(ValueError):
        layout.version_file("selinux", 1)


ENTRIES = [
    {"name": "web", "image": "nginx:bookworm"},
    {"name": "web", "image": "nginx:bookworm", "run": {"env": {"GREETING": "grüß dich"}, "published_ports": ["80"]},
     "seccomp": {"deny": ["mount"]}, "workload": {"min_observe": 30, "commands": [["true"], "echo hi"]}},
    {"image": "x", "name": "db", "approve": {"apparmor": ["capability sys_admin"]}, "health": {"url": "http://a/"}},
]


@pytest.mark.parametrize("entry", ENTRIES)
def test_the_seed_is_the_hash_the_roles_computed(entry):
    assert _state.seed_hash(entry) == render("e | to_json(sort_keys=true) | hash('sha1')", e=entry)


# The three builders at 7aca073: roles/complain/tasks/container.yml, roles/enforce/tasks/container.yml and
# roles/rollback/tasks/container.yml.
COMPLAIN_OPTS = """(['apparmor=' ~ complain_profile] if complain_apparmor | bool else [])
         + (['seccomp=' ~ (complain_seccomp_result.profile | to_json(sort_keys=true, separators=[',', ':']))]
            if complain_seccomp | bool and complain_seccomp_result.profile is defined else [])
         + ['no-new-privileges:true']"""
ENFORCE_OPTS = """(['apparmor=' ~ enforce_profile] if enforce_apparmor | bool else [])
         + (['seccomp=' ~ (enforce_seccomp_result.profile | to_json(sort_keys=true, separators=[',', ':']))]
            if enforce_seccomp | bool else [])
         + ['no-new-privileges:true']"""
ROLLBACK_OPTS = """['apparmor=unconfined', 'seccomp=unconfined'] if rollback_to == 'unconfined'
         else (((['apparmor=' ~ rollback_profile] if rollback_apparmor | bool else [])
                + (['seccomp=' ~ (rollback_seccomp_result.profile | to_json(sort_keys=true, separators=[',', ':']))]
                   if rollback_seccomp | bool else [])
                + ['no-new-privileges:true']) if rollback_to == 'previous'
         else (['apparmor=docker-default'] if rollback_apparmor | bool else []))"""

PROFILE = {"defaultAction": "SCMP_ACT_LOG", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ["read", "write", "mkdir"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "comment": "refusé"}]}
MECHANISMS = [(True, True), (True, False), (False, True), (False, False)]


@pytest.mark.parametrize("apparmor, seccomp", MECHANISMS)
def test_complain_security_opts_are_the_complain_roles(apparmor, seccomp):
    for result in ({"profile": PROFILE}, {}):
        role = render(COMPLAIN_OPTS, complain_profile="confine-web", complain_apparmor=apparmor,
                      complain_seccomp=seccomp, complain_seccomp_result=result)
        assert _state.security_opts("complain", "confine-web", apparmor, seccomp, result.get("profile")) == role


@pytest.mark.parametrize("apparmor, seccomp", MECHANISMS)
def test_enforce_security_opts_are_the_enforce_and_rollback_roles(apparmor, seccomp):
    profile = dict(PROFILE, defaultAction="SCMP_ACT_ERRNO")
    ours = _state.security_opts("enforce", "confine-web", apparmor, seccomp, profile)
    assert ours == render(ENFORCE_OPTS, enforce_profile="confine-web", enforce_apparmor=apparmor,
                          enforce_seccomp=seccomp, enforce_seccomp_result={"profile": profile})
    assert ours == render(ROLLBACK_OPTS, rollback_to="previous", rollback_profile="confine-web",
                          rollback_apparmor=apparmor, rollback_seccomp=seccomp,
                          rollback_seccomp_result={"profile": profile})


@pytest.mark.parametrize("apparmor, seccomp", MECHANISMS)
@pytest.mark.parametrize("mode", ["baseline", "unconfined"])
def test_baseline_and_unconfined_security_opts_are_the_rollback_roles(mode, apparmor, seccomp):
    role = render(ROLLBACK_OPTS, rollback_to=mode, rollback_profile="confine-web", rollback_apparmor=apparmor,
                  rollback_seccomp=seccomp, rollback_seccomp_result={})
    assert _state.security_opts(mode, "confine-web", apparmor, seccomp) == role


def test_enforce_security_opts_need_the_seccomp_profile():
    with pytest.raises(ValueError, match="the enforcing seccomp profile of confine-web is needed"):
        _state.security_opts("enforce", "confine-web", True, True, None)
    assert _state.security_opts("enforce", "confine-web", True, False, None) == [
        "apparmor=confine-web", "no-new-privileges:true"]
    with pytest.raises(ValueError, match="no security options for mode 'permissive'"):
        _state.security_opts("permissive", "confine-web")
    with pytest.raises(ValueError, match="must be a JSON object"):
        _state.security_opts("complain", "confine-web", True, True, "[]")


def test_docs_runbook_describes_the_record_and_every_transition():
    with open(os.path.join(FIXTURES, "..", "..", "..", "..", "docs", "runbook.md"), encoding="utf-8") as handle:
        runbook = handle.read()
    section = runbook.split("## State on the host", 1)[1].split("\n## ", 1)[0]
    listing = section.split("```", 2)[1]
    diagram = section.split("```", 4)[3]
    for name in _state.FIELD_NAMES:
        assert re.search(r"\b%s\b" % name, listing), "the state.json listing does not name %s" % name
    for transition in _state.TRANSITIONS:
        assert transition in diagram, "the state diagram does not show %s" % transition
    for mode in (*_state.MODES, *_state.ROLLBACK_TO):
        assert mode in diagram, "the state diagram does not show %s" % mode


# --- opaque AppArmor seeds, carrying versions forward, another round ----------------------------------------------


@pytest.mark.parametrize(
    ("apparmor", "kind", "versioned"),
    [
        (None, "spec", ["apparmor", "seccomp"]),
        ({}, "spec", ["apparmor", "seccomp"]),
        ({"spec": {"capabilities": {"allow": ["chown"]}}}, "spec", ["apparmor", "seccomp"]),
        ({"src": "files/web.apparmor"}, "src", ["seccomp"]),
        ({"content": "profile confine-web {\n}\n"}, "content", ["seccomp"]),
    ],
)
def test_a_src_or_content_seed_is_opaque(apparmor, kind, versioned):
    entry = {"name": "web", "image": "nginx"}
    if apparmor is not None:
        entry["apparmor"] = apparmor
    assert _mechanisms.apparmor_seed(entry) == kind
    assert _state.mechanisms(entry) == (["apparmor", "seccomp"], versioned)
    assert _state.mechanisms(entry, apparmor=False) == (["seccomp"], ["seccomp"])
    assert _state.mechanisms(entry, seccomp=False) == (["apparmor"], [k for k in versioned if k == "apparmor"])
    assert _state.mechanisms(None) == (["apparmor", "seccomp"], ["apparmor", "seccomp"])


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mode": "complain", "reviewed": True, "added": 2}, True),
        ({"mode": "complain", "reviewed": True, "added": 0}, False),
        ({"mode": "complain", "reviewed": False, "added": 2}, False),
        ({"mode": "enforce", "reviewed": True, "added": 2}, False),
        ({}, False),
    ],
)
def test_another_round_is_due_when_the_review_of_this_one_added_rules(changes, expected):
    assert _state.next_round(_state.State(**changes)) is expected


def write_version(layout, kind, version, text):
    os.makedirs(layout.directory, exist_ok=True)
    with open(layout.version_file(kind, version), "w", encoding="utf-8") as handle:
        handle.write(text)


def test_carry_forward_copies_the_profiles_that_did_not_grow(layout):
    write_version(layout, "apparmor", 1, '{"name": "a"}\n')
    write_version(layout, "seccomp", 1, "{}\n")
    write_version(layout, "apparmor", 2, '{"stale": true}\n')
    with pytest.raises(_state.TransitionRefused, match=r"seccomp.v2.json\) is missing: run the widen stage"):
        _state.carry_forward(layout, 1, ["apparmor", "seccomp"], ["seccomp"])
    write_version(layout, "seccomp", 2, '{"grown": true}\n')
    planned = _state.carry_forward(layout, 1, ["apparmor", "seccomp"], ["seccomp"], check_mode=True)
    assert planned == [layout.version_file("apparmor", 2)]
    assert text_of(layout.version_file("apparmor", 2)) == '{"stale": true}\n'
    assert _state.carry_forward(layout, 1, ["apparmor", "seccomp"], ["seccomp"]) == planned
    assert text_of(layout.version_file("apparmor", 2)) == '{"name": "a"}\n'
    assert text_of(layout.version_file("seccomp", 2)) == '{"grown": true}\n'
    # Only the mechanisms with version files: an opaque AppArmor seed has none.
    assert _state.carry_forward(layout, 2, ["seccomp"], []) == [layout.version_file("seccomp", 3)]
    assert not os.path.exists(layout.version_file("apparmor", 3))
    with pytest.raises(_state.TransitionRefused, match="version 3 has no apparmor file"):
        _state.carry_forward(layout, 3, ["apparmor"], [])


def test_a_carry_forward_that_fails_part_way_puts_back_what_it_had_copied(layout, monkeypatch):
    write_version(layout, "apparmor", 1, '{"name": "a"}\n')
    write_version(layout, "seccomp", 1, "{}\n")
    write_version(layout, "seccomp", 2, '{"stale": true}\n')
    real = _io.atomic_write

    def full_disk(path, data, **kwargs):
        if path == layout.version_file("seccomp", 2) and data == "{}\n":
            raise _io.WriteError("cannot write %s: No space left on device" % path, path=path, errno=28)
        return real(path, data, **kwargs)

    monkeypatch.setattr(_io, "atomic_write", full_disk)
    with pytest.raises(_io.WriteError, match="No space left"):
        _state.carry_forward(layout, 1, ["apparmor", "seccomp"], [])
    # The AppArmor copy made before the failure is gone again; the seccomp file is as it was.
    assert not os.path.exists(layout.version_file("apparmor", 2))
    assert text_of(layout.version_file("seccomp", 2)) == '{"stale": true}\n'
    write_version(layout, "apparmor", 2, '{"older": true}\n')
    with pytest.raises(_io.WriteError):
        _state.carry_forward(layout, 1, ["apparmor", "seccomp"], [])
    assert text_of(layout.version_file("apparmor", 2)) == '{"older": true}\n'
    assert sorted(os.listdir(layout.directory)) == sorted(
        os.path.basename(layout.version_file(kind, version)) for kind in ("apparmor", "seccomp") for version in (1, 2))
