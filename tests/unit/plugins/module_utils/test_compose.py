"""Unit tests for _compose: the runbook's override of a compose service (its container name, security options with
the seccomp profile as a file, AUDIT_WRITE dropped, a digest label that changes with the confinement and only then),
no override for Docker's baseline, and what keeps a service from being confined."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.confine.docker.plugins.filter import compose as compose_filter
from ansible_collections.confine.docker.plugins.module_utils import _compose

MODEL = {"name": "shop", "services": {"web": {"image": "nginx", "security_opt": ["label=disable"]},
                                      "db": {"image": "postgres", "cap_add": ["AUDIT_WRITE"]}}}
PROFILE = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
ENFORCE = ["apparmor=confine-web", "seccomp=" + json.dumps(PROFILE, separators=(",", ":")), "no-new-privileges:true"]


def test_the_override_names_the_container_and_gives_the_seccomp_profile_as_a_file():
    result = _compose.override(MODEL, "web", "shop-web", ENFORCE)
    data = yaml.safe_load(result["override"])
    service = data["services"]["web"]
    assert service["container_name"] == "shop-web"
    assert service["security_opt"] == ["apparmor=confine-web", "seccomp=compose.confine.web.seccomp.json",
                                       "no-new-privileges:true"]
    assert service["cap_drop"] == ["AUDIT_WRITE"]
    assert json.loads(result["seccomp"]) == PROFILE
    assert list(service["labels"]) == [_compose.DIGEST_LABEL]
    assert "-f compose.confine.yml up -d" in result["override"]


def test_the_digest_changes_with_the_confinement_and_only_with_it():
    def digest(opts):
        return yaml.safe_load(_compose.override(MODEL, "web", "shop-web", opts)["override"])["services"]["web"][
            "labels"][_compose.DIGEST_LABEL]

    logging = [ENFORCE[0], "seccomp=" + json.dumps(dict(PROFILE, defaultAction="SCMP_ACT_LOG")), *ENFORCE[2:]]
    assert digest(ENFORCE) == digest(list(ENFORCE))
    assert digest(ENFORCE) != digest(logging)
    assert digest(ENFORCE) != digest(ENFORCE[:1])


def test_the_baseline_has_no_override_and_unconfined_no_seccomp_file():
    assert _compose.override(MODEL, "web", "w", ["apparmor=docker-default"]) == {"override": None, "seccomp": None}
    assert _compose.override(MODEL, "web", "w", []) == {"override": None, "seccomp": None}
    unconfined = _compose.override(MODEL, "web", "w", ["apparmor=unconfined", "seccomp=unconfined"])
    assert unconfined["seccomp"] is None
    assert yaml.safe_load(unconfined["override"])["services"]["web"]["security_opt"] == ["apparmor=unconfined",
                                                                                         "seccomp=unconfined"]


def test_a_service_that_keeps_audit_write_is_not_made_to_drop_it():
    data = yaml.safe_load(_compose.override(MODEL, "db", "shop-db", ENFORCE)["override"])
    assert "cap_drop" not in data["services"]["db"]


@pytest.mark.parametrize("service, spec, message", [
    ("api", {}, "the project has no service 'api' (it has db, web)"),
    ("web", {"container_name": "other"}, "names its container 'other'"),
    ("web", {"deploy": {"replicas": 3}}, "more than one container"),
    ("web", {"scale": 2}, "more than one container"),
    ("web", {"security_opt": ["seccomp=unconfined"]}, "sets security_opt 'seccomp=unconfined'"),
    ("web", {"security_opt": ["apparmor:unconfined"]}, "the runbook's override sets apparmor"),
    ("web", {"security_opt": ["no-new-privileges"]}, "sets no-new-privileges"),
    ("web", {"privileged": True}, "is privileged"),
])
def test_a_service_the_runbook_cannot_confine_is_named_with_why(service, spec, message):
    model = json.loads(json.dumps(MODEL))
    model["services"]["web"].update(spec)
    problems = _compose.service_problems(model, service, "shop-web")
    assert len(problems) == 1 and message in problems[0], problems


@pytest.mark.parametrize("source, read_only, refused", [
    ("/srv/shop", False, True), ("/srv", False, True), ("/", False, True), ("/srv/shop", True, False),
    ("/srv/shop/site", False, False), ("/srv/shopping", False, False),
])
def test_a_writable_mount_of_the_project_directory_is_refused(source, read_only, refused):
    model = json.loads(json.dumps(MODEL))
    model["services"]["web"]["volumes"] = [{"type": "bind", "source": source, "target": "/app",
                                            "read_only": read_only}]
    problems = _compose.service_problems(model, "web", "shop-web", "/srv/shop")
    assert bool(problems) is refused, problems
    if refused:
        assert "could rewrite the runbook's override" in problems[0]


def test_a_service_it_can_confine_has_no_problem_and_the_filters_take_the_json_text():
    model = json.loads(json.dumps(MODEL))
    model["services"]["web"]["container_name"] = "shop-web"
    assert _compose.service_problems(model, "web", "shop-web") == []
    text = json.dumps(model)
    assert compose_filter.compose_problems(text, "web", "shop-web") == []
    assert compose_filter.compose_override(text, "web", "shop-web", ENFORCE) == _compose.override(
        model, "web", "shop-web", ENFORCE)
