"""Whole-module tests for confine.docker.container_state: read, the transitions, check mode, diff, plan, errors."""

from __future__ import annotations

import functools
import json
import os

import pytest
from _harness import run_module

from ansible_collections.confine.docker.plugins.module_utils import _mechanisms, _state
from ansible_collections.confine.docker.plugins.modules import container_state

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "state")
NAME = "st13-capture"
ENTRY = {"name": NAME, "image": "confine-lab/base:bookworm", "run": {"command": ["sleep", "infinity"]}}
CURSOR = {"source": "audit", "version": 1, "audit_lost": 0, "files": []}
ENFORCING = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}

run = functools.partial(run_module, container_state.main)


def fixture(label):
    with open(os.path.join(FIXTURES, label + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture
def dirs(tmp_path):
    return {"state_dir": str(tmp_path / "state"), "seccomp_dir": str(tmp_path / "seccomp"),
            "apparmor_dir": str(tmp_path / "apparmor")}


def args(dirs, **extra):
    return dict(dict(dirs, name=NAME, apparmor=False), **extra)


def state_path(dirs):
    return os.path.join(dirs["state_dir"], NAME, "state.json")


def put(dirs, data, name="state.json"):
    os.makedirs(os.path.join(dirs["state_dir"], NAME), exist_ok=True)
    with open(os.path.join(dirs["state_dir"], NAME, name), "w", encoding="utf-8") as handle:
        handle.write(data if isinstance(data, str) else json.dumps(data))


def on_disk(dirs):
    with open(state_path(dirs), encoding="utf-8") as handle:
        return json.load(handle)


def deploy_seccomp(dirs, profile):
    os.makedirs(dirs["seccomp_dir"], exist_ok=True)
    with open(os.path.join(dirs["seccomp_dir"], "confine-%s.json" % NAME), "w", encoding="utf-8") as handle:
        json.dump(profile, handle)


def test_read_without_state_names_everything_and_plans_version_1(dirs):
    result = run(args(dirs, entry=ENTRY))
    assert not result["failed"] and not result["changed"]
    assert result["state"]["mode"] is None and not result["exists"] and not result["migrated"]
    assert result["seed"] == _state.seed_hash(ENTRY) and result["trial_version"] == 1 and result["pending"]
    assert result["security_opts"] is None
    assert result["names"] == {
        "name": NAME, "profile": "confine-" + NAME, "dir": os.path.join(dirs["state_dir"], NAME),
        "state_file": state_path(dirs), "apparmor_file": os.path.join(dirs["apparmor_dir"], "confine-" + NAME),
        "seccomp_file": os.path.join(dirs["seccomp_dir"], "confine-%s.json" % NAME),
        "trial_files": {"seccomp": os.path.join(dirs["state_dir"], NAME, "seccomp.v1.json"),
                        "events": os.path.join(dirs["state_dir"], NAME, "events.v1.json"),
                        "report": os.path.join(dirs["state_dir"], NAME, "report.v1.md")}}
    assert not os.path.exists(dirs["state_dir"])


def test_read_of_a_hardened_legacy_state(dirs):
    legacy = fixture("enforced")
    put(dirs, legacy)
    deploy_seccomp(dirs, ENFORCING)
    result = run(args(dirs, entry=ENTRY))
    assert not result["failed"] and not result["changed"] and result["migrated"] and result["exists"]
    assert result["state"]["schema"] == _state.SCHEMA
    assert {key: result["state"][key] for key in legacy} == legacy
    # Another entry than the one it was hardened from: pending, and its trial starts from version 1.
    assert result["pending"] and result["trial_version"] == 1
    assert result["names"]["files"]["seccomp"] == os.path.join(dirs["state_dir"], NAME, "seccomp.v2.json")
    assert result["names"]["next_files"]["report"] == os.path.join(dirs["state_dir"], NAME, "report.v3.md")
    # apparmor is off: no AppArmor files; the trial of the other entry starts again from version 1.
    assert result["names"]["trial_files"] == {"seccomp": os.path.join(dirs["state_dir"], NAME, "seccomp.v1.json"),
                                              "events": os.path.join(dirs["state_dir"], NAME, "events.v1.json"),
                                              "report": os.path.join(dirs["state_dir"], NAME, "report.v1.md")}
    assert result["security_opts"] == ["seccomp=" + _mechanisms.compact_json(ENFORCING), "no-new-privileges:true"]
    # The security options of another mode, and with a profile given rather than the deployed one.
    assert run(args(dirs, mode="baseline", apparmor=True))["security_opts"] == ["apparmor=docker-default"]
    given = dict(ENFORCING, defaultErrnoRet=1)
    assert run(args(dirs, seccomp_profile=given))["security_opts"][0] == "seccomp=" + _mechanisms.compact_json(given)


def test_start_trial_check_real_check_real(dirs):
    trial = args(dirs, action="start_trial", entry=ENTRY, cursor=CURSOR, clock=1796151338.5, restarts=0,
                 recreated=True)
    first = run(trial, check_mode=True, diff=True)
    assert not first["failed"] and first["changed"]
    assert first["diff"]["before"] == "" and '"mode": "complain"' in first["diff"]["after"]
    assert not os.path.exists(dirs["state_dir"])
    second = run(trial)
    assert second["changed"] and on_disk(dirs)["mode"] == "complain" and on_disk(dirs)["cursor"] == CURSOR
    assert second["state"] == dict(_state.State().to_dict(), **on_disk(dirs))
    # The container was not recreated again: the same trial, nothing to record.
    again = dict(trial, recreated=False, cursor=dict(CURSOR, audit_lost=5), clock=1796151999.0)
    third = run(again, check_mode=True, diff=True)
    assert not third["failed"] and not third["changed"] and "diff" not in third
    fourth = run(again)
    assert not fourth["changed"] and on_disk(dirs)["cursor"] == CURSOR
    assert on_disk(dirs)["trial_started"] == 1796151338.5


def test_start_trial_needs_the_entry(dirs):
    result = run(args(dirs, action="start_trial"))
    assert result["failed"] and result["refused"] and "entry is required" in result["msg"]


def test_record_review_takes_profile_widens_results_and_the_rounds_events(dirs):
    put(dirs, fixture("complain-round1"))
    review = {"seccomp": {"added": ["mkdir"], "refused": [], "report": "...", "changed": True},
              "apparmor": {"skipped": True, "changed": False}}
    missing = run(args(dirs, action="record_review", review=review))
    assert missing["failed"] and "run the collect stage first" in missing["msg"]
    with open(os.path.join(FIXTURES, "events.v1.json"), encoding="utf-8") as handle:
        put(dirs, handle.read(), "events.v1.json")
    plan = run(args(dirs, action="record_review", review=review, plan=True))
    assert not plan["failed"] and not plan["changed"] and plan["state"]["version"] == 2
    assert "schema" not in on_disk(dirs)
    # The review added seccomp rules: their version 2 is what profile_widen wrote, and it must be there.
    unwritten = run(args(dirs, action="record_review", review=review))
    assert unwritten["failed"] and unwritten["refused"] and "seccomp.v2.json) is missing" in unwritten["msg"]
    assert "schema" not in on_disk(dirs)
    put(dirs, "{}", "seccomp.v2.json")
    result = run(args(dirs, action="record_review", review=review, backup=True))
    assert result["changed"] and result["migrated"]
    written = on_disk(dirs)
    assert (written["version"], written["added"], written["clean"], written["reviewed"]) == (2, 1, False, True)
    with open(result["backup_file"], encoding="utf-8") as handle:
        assert json.load(handle) == fixture("complain-round1")
    again = run(args(dirs, action="record_review", review=review))
    assert again["failed"] and again["refused"] and "reviewed already" in again["msg"]
    unknown = run(args(dirs, action="record_review", review={"selinux": {}}))
    assert unknown["failed"] and "unknown mechanism(s) selinux" in unknown["msg"]


def test_enforce_plan_refuses_an_unclean_trial_before_anything_changes(dirs):
    put(dirs, dict(fixture("complain-round1"), version=2, added=1))
    result = run(args(dirs, action="enforce", plan=True))
    assert result["failed"] and result["refused"] and "was not clean" in result["msg"]
    forced = run(args(dirs, action="enforce", plan=True, force=True, seccomp_profile=ENFORCING))
    assert not forced["failed"] and not forced["changed"] and forced["state"]["mode"] == "enforce"
    assert forced["security_opts"] == ["seccomp=" + _mechanisms.compact_json(ENFORCING), "no-new-privileges:true"]
    assert on_disk(dirs)["mode"] == "complain"


def test_enforce_and_record_good(dirs):
    put(dirs, dict(fixture("complain-round1"), version=2, clean=True))
    enforced = run(args(dirs, action="enforce", clock=1796151403.5, recreated=True), diff=True)
    assert enforced["changed"] and '"mode": "complain"' in enforced["diff"]["before"]
    assert enforced["state"]["enforced_at"] == 1796151403.5 and enforced["state"]["enforced_version"] == 2
    # Enforce's mode needs the enforcing seccomp profile for its options: none is deployed, none is given.
    assert enforced["security_opts"] is None
    good = run(args(dirs, action="record_good"))
    assert good["changed"] and on_disk(dirs)["good_version"] == 2
    assert not run(args(dirs, action="record_good"))["changed"]


def test_a_given_seccomp_profile_is_used_as_given_for_the_mode_asked(dirs):
    put(dirs, dict(fixture("enforced")))
    result = run(args(dirs, action="enforce", seccomp_profile={"defaultAction": "SCMP_ACT_ERRNO"}, mode="enforce"))
    assert not result["failed"]
    assert result["security_opts"][0] == 'seccomp={"defaultAction":"SCMP_ACT_ERRNO"}'


def test_rollback_where_and_what(dirs):
    put(dirs, dict(fixture("enforced"), version=3))
    # The good version's files are gone: the baseline.
    gone = run(args(dirs, action="rollback", plan=True))
    assert gone["rollback_to"] == "baseline" and gone["security_opts"] == []
    assert gone["rollback_report"] == "to the baseline (Docker's default seccomp; no good version to go back to)"
    put(dirs, "{}", "seccomp.v2.json")
    deploy_seccomp(dirs, ENFORCING)
    plan = run(args(dirs, action="rollback", plan=True))
    assert plan["rollback_to"] == "previous" and not plan["changed"]
    assert plan["security_opts"] == ["seccomp=" + _mechanisms.compact_json(ENFORCING), "no-new-privileges:true"]
    back = run(args(dirs, action="rollback"))
    assert back["changed"] and (on_disk(dirs)["version"], on_disk(dirs)["rolled_back_from"]) == (2, 3)
    assert back["rollback_report"] == "to version 2, its last good one"
    # Now enforced under its good version: a rollback leaves it as it is.
    keep = run(args(dirs, action="rollback"))
    assert keep["rollback_to"] == "keep" and not keep["changed"]
    assert keep["rollback_report"] == "kept at version 2, which passed verify"
    assert keep["security_opts"][-1] == "no-new-privileges:true"
    refused = run(args(dirs, action="rollback", target="unconfined"))
    assert refused["failed"] and refused["refused"] and "confine_rollback_allow_unconfined" in refused["msg"]
    loose = run(args(dirs, action="rollback", target="unconfined", allow_unconfined=True))
    assert loose["changed"] and loose["security_opts"] == ["apparmor=unconfined", "seccomp=unconfined"]


def test_a_corrupt_state_fails_that_container_naming_the_file(dirs):
    put(dirs, '{"mode": "enforce", "version": 2')
    for action in ("read", "start_trial", "rollback"):
        result = run(args(dirs, action=action, entry=ENTRY, target="baseline"))
        assert result["failed"] and result["state_error"] and result["path"] == state_path(dirs)
        assert result["msg"].startswith(state_path(dirs) + ": is not valid JSON")
        assert "Only this container is affected" in result["msg"]
        assert result["names"]["seccomp_file"] == os.path.join(dirs["seccomp_dir"], "confine-%s.json" % NAME)
    with open(state_path(dirs), encoding="utf-8") as handle:
        assert handle.read() == '{"mode": "enforce", "version": 2'


@pytest.mark.parametrize("name", ["../escape", "web\n", "", "a" * 200])
def test_a_name_that_cannot_be_a_directory_is_refused(dirs, name):
    result = run(dict(args(dirs), name=name))
    assert result["failed"] and "name" in result["msg"]
    assert not os.path.exists(dirs["state_dir"])


def test_an_unwritable_state_directory_is_a_clear_failure(dirs):
    os.makedirs(dirs["state_dir"])
    with open(os.path.join(dirs["state_dir"], NAME), "w", encoding="utf-8") as handle:
        handle.write("a file where the directory should be")
    result = run(args(dirs, action="rollback", target="baseline"))
    assert result["failed"] and NAME in result["msg"]


SEEDS = {"spec": {"spec": {"capabilities": {"allow": ["chown"]}}}, "src": {"src": "files/confine-web.apparmor"},
         "content": {"content": "profile confine-st13-capture {\n}\n"}}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_an_apparmor_src_or_content_seed_is_opaque_and_has_no_version_files(dirs, seed):
    entry = dict(ENTRY, apparmor=SEEDS[seed])
    result = run(args(dirs, entry=entry, apparmor=True))
    assert not result["failed"] and result["mechanisms"] == ["apparmor", "seccomp"]
    assert result["opaque"] == ([] if seed == "spec" else ["apparmor"])
    assert ("apparmor" in result["names"]["trial_files"]) == (seed == "spec")
    assert "seccomp" in result["names"]["trial_files"] and result["next_round"] is False
    # Without the entry, or with AppArmor off, nothing is opaque.
    assert run(args(dirs, apparmor=True))["opaque"] == []
    assert run(args(dirs, entry=entry))["opaque"] == [] and run(args(dirs, entry=entry))["mechanisms"] == ["seccomp"]


def review_round(dirs, entry, review, **extra):
    return run(args(dirs, action="record_review", entry=entry, apparmor=True, review=review, **extra))


def test_a_review_that_grew_one_profile_carries_the_other_forward_and_says_another_round_is_due(dirs):
    put(dirs, dict(fixture("complain-round1"), schema=_state.SCHEMA, reviewed=False))
    put(dirs, json.dumps({"lost": [], "suspicious": []}), "events.v1.json")
    put(dirs, '{"name": "confine-st13-capture"}\n', "apparmor.v1.json")
    put(dirs, '{"syscalls": []}\n', "seccomp.v1.json")
    # An earlier trial's version 2 of the AppArmor spec is not this trial's: replaced by the copy of version 1.
    put(dirs, '{"left": "by another entry"}\n', "apparmor.v2.json")
    put(dirs, '{"syscalls": ["mkdir"]}\n', "seccomp.v2.json")
    review = {"seccomp": {"added": [{"key": "mkdir"}], "refused": []}, "apparmor": {"added": [], "refused": []}}
    result = review_round(dirs, dict(ENTRY, apparmor=SEEDS["spec"]), review)
    assert not result["failed"] and result["changed"] and result["next_round"] is True, result
    directory = os.path.join(dirs["state_dir"], NAME)
    with open(os.path.join(directory, "apparmor.v2.json"), encoding="utf-8") as handle:
        assert handle.read() == '{"name": "confine-st13-capture"}\n'
    with open(os.path.join(directory, "seccomp.v2.json"), encoding="utf-8") as handle:
        assert handle.read() == '{"syscalls": ["mkdir"]}\n'
    assert result["names"]["files"]["apparmor"] == os.path.join(directory, "apparmor.v2.json")
    assert run(args(dirs))["next_round"] is True


def test_a_clean_review_writes_no_next_version_and_needs_no_other_round(dirs):
    put(dirs, dict(fixture("complain-round1"), schema=_state.SCHEMA, reviewed=False))
    put(dirs, json.dumps({"lost": [], "suspicious": []}), "events.v1.json")
    put(dirs, "{}", "seccomp.v1.json")
    review = {"seccomp": {"added": [], "refused": []},
              "apparmor": {"added": [], "refused": [], "format": "opaque"}}
    result = review_round(dirs, dict(ENTRY, apparmor=SEEDS["content"]), review)
    assert not result["failed"] and result["next_round"] is False and result["state"]["clean"] is True
    assert sorted(os.listdir(os.path.join(dirs["state_dir"], NAME))) == ["events.v1.json", "seccomp.v1.json",
                                                                         "state.json"]


def test_an_opaque_seed_grows_only_its_seccomp_versions(dirs):
    put(dirs, dict(fixture("complain-round1"), schema=_state.SCHEMA, reviewed=False))
    put(dirs, json.dumps({"lost": [], "suspicious": []}), "events.v1.json")
    put(dirs, "{}", "seccomp.v1.json")
    put(dirs, "{}", "seccomp.v2.json")
    review = {"seccomp": {"added": [{"key": "mkdir"}], "refused": []},
              "apparmor": {"added": [], "refused": [{"key": "/srv/x", "category": "seed", "baseline": "allows"}]}}
    result = review_round(dirs, dict(ENTRY, apparmor=SEEDS["src"]), review)
    assert not result["failed"] and result["state"]["version"] == 2 and result["state"]["blockers"] == ["/srv/x"]
    assert "apparmor" not in result["names"]["files"]
    assert not any(name.startswith("apparmor.") for name in os.listdir(os.path.join(dirs["state_dir"], NAME)))
