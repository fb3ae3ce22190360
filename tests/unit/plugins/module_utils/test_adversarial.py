"""The adversarial corpus (tests/unit/fixtures/adversarial/): what a compromised container under trial can make the
logs hold, and the exact outcome for each case.

- records.json: lines that look like AppArmor/seccomp records but are not the kernel's (user-space audit messages,
  records inside other records, other syslog tags, other journal transports, user-space kmsg): never an event,
  always counted as suspicious; and the genuine forms of the same records, each exactly one event.
- events.json: events with injected fields (refused as malformed, nothing added), fresh names under every sensitive
  directory (refused, never generalised), exec of copied binaries (refused: write xor execute), legitimate
  generalisation (still admitted), odd characters (escaped, the result compiles).
- seccomp.json: odd seccomp records (refused with a reason, never a traceback).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.confine.docker.plugins.action.apparmor_profile import render_profile
from ansible_collections.confine.docker.plugins.module_utils import _widen
from ansible_collections.confine.docker.plugins.module_utils._events import Collector

HERE = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "adversarial")
PARSER = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as handle:
        return json.load(handle)


RECORDS = load("records.json")
EVENTS = load("events.json")
SECCOMP = load("seccomp.json")


@pytest.mark.parametrize("case", RECORDS["forged"], ids=lambda case: case["name"])
def test_forged_records_are_never_events(case):
    collector = Collector()
    collector.feed_line(case["line"])
    result = collector.result()
    assert result["apparmor"] == [] and result["seccomp"] == []
    assert result["stats"]["records"] == 0
    assert result["stats"]["suspicious"] == 1
    (entry,) = result["suspicious"]
    assert entry["count"] == 1 and entry["samples"]


@pytest.mark.parametrize("case", RECORDS["forged"], ids=lambda case: case["name"])
def test_forged_records_naming_another_profile_are_filtered_like_events(case):
    collector = Collector(profiles=["confine-db"])
    collector.feed_line(case["line"])
    assert collector.result()["suspicious"] == []


@pytest.mark.parametrize("case", RECORDS["genuine"], ids=lambda case: case["name"])
def test_genuine_records_are_one_event(case):
    collector = Collector()
    collector.feed_line(case["line"])
    result = collector.result()
    assert len(result[case["kind"]]) == 1
    assert result["suspicious"] == []


def test_forged_and_genuine_together_count_only_the_genuine():
    collector = Collector(profiles=["confine-web"])
    for case in RECORDS["forged"] + RECORDS["genuine"]:
        collector.feed_line(case["line"])
    result = collector.result()
    assert sum(event["count"] for event in result["apparmor"]) == sum(
        1 for case in RECORDS["genuine"] if case["kind"] == "apparmor")
    assert result["stats"]["suspicious"] == len(RECORDS["forged"])
    assert {profile for entry in result["suspicious"] for profile in entry["profiles"]} == {
        "confine-web", "docker-default"}


@pytest.mark.parametrize("case", EVENTS["cases"], ids=lambda case: case["name"])
def test_widen_outcome(case):
    result = _widen.widen("apparmor", EVENTS["spec"], case["events"])
    added = [entry["key"] for entry in result["added"]]
    refused = {entry["key"]: entry for entry in result["refused"]}
    assert sorted(set(added)) == sorted(case["added"])
    if "malformed" in case:
        (entry,) = result["refused"]
        assert entry["category"] == "malformed"
        assert entry["reason"].startswith("malformed record: " + case["malformed"])
        assert result["profile"] == _widen.widen("apparmor", EVENTS["spec"], [])["profile"]
    for key, category in case.get("refused", {}).items():
        assert key in refused, "%s was not refused: %s" % (key, sorted(refused))
        assert refused[key]["category"] == category
    if "refused" in case:
        assert set(refused) == set(case["refused"])
    if "narrowed_from" in case:
        assert all(case["narrowed_from"] in entry["note"] for entry in result["added"])
    # Whatever was admitted is a literal or a glob the guard accepts, and nothing refused is in the new spec.
    spec_text = json.dumps(result["profile"])
    for key in refused:
        assert json.dumps(key)[1:-1] not in spec_text or key in case["added"]


def test_widened_corpus_profiles_compile(tmp_path):
    if not os.path.exists(PARSER):
        pytest.fail("apparmor_parser is needed (Debian package apparmor)")
    for case in EVENTS["cases"]:
        result = _widen.widen("apparmor", EVENTS["spec"], case["events"])
        path = tmp_path / case["name"]
        path.write_text(render_profile(result["profile"])[1])
        proc = subprocess.run([PARSER, "-QK", str(path)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, (case["name"], proc.stderr)
        names = subprocess.run([PARSER, "-N", str(path)], capture_output=True, text=True, check=False)
        assert names.stdout.split() == ["confine-web"], case["name"]


def test_text_widening_refuses_injected_peers_and_keeps_one_profile():
    text = "profile confine-web {\n  /** r,\n}\n"
    events = [case["events"][0] for case in EVENTS["cases"] if case["name"].startswith("injected_")]
    result = _widen.widen("apparmor", text, events, name="confine-web")
    assert result["profile"] == text
    assert result["added"] == []
    assert {entry["category"] for entry in result["refused"]} == {"malformed"}


@pytest.mark.parametrize("case", SECCOMP, ids=lambda case: case["name"])
def test_odd_seccomp_records_are_refused_with_a_reason(case):
    profile = {"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    event = dict(case["event"], count=1, container="web")
    result = _widen.widen("seccomp", profile, [event])
    assert result["added"] == []
    (entry,) = result["refused"]
    assert entry["category"] == case["category"]
    assert entry["reason"]
    assert result["profile"]["syscalls"] == [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
    assert "Refused: 1" in result["report"]


@pytest.mark.parametrize("case", RECORDS["wrong_form"], ids=lambda case: case["name"])
def test_each_source_accepts_only_its_own_line_form(case, tmp_path):
    from ansible_collections.confine.docker.plugins.module_utils import _sources

    log = tmp_path / "log"
    log.write_text(case["line"] + "\n")
    collector = Collector()
    _sources.collect(case["source"], collector, paths=[str(log)])
    result = collector.result()
    assert result["apparmor"] == [] and result["stats"]["records"] == 0
    assert result["stats"]["suspicious"] == 1
    # The same line is a record for the file source, which takes every form.
    collector = Collector()
    _sources.collect("file", collector, paths=[str(log)])
    assert len(collector.result()["apparmor"]) == 1
