"""Unit tests for _discover: each confinement class from docker inspect objects, compose's labels, and the
starting inventory (an adopt entry per adoptable container, the others as comments saying why)."""

from __future__ import annotations

import copy
import json
import os

import pytest
import yaml

from ansible_collections.confine.docker.plugins.module_utils import _discover, _entries

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "adopt")


def load(name):
    with open(os.path.join(FIXTURES, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


MINIMAL, IMAGE = load("minimal"), load("image-base")


def container(name="web", security=(), privileged=False, apparmor="docker-default", labels=None):
    data = copy.deepcopy(MINIMAL)
    data["Name"] = "/" + name
    data["HostConfig"]["SecurityOpt"] = list(security) or None
    data["HostConfig"]["Privileged"] = privileged
    data["AppArmorProfile"] = apparmor
    data["State"]["Running"] = True
    if labels:
        data["Config"]["Labels"] = dict(data["Config"].get("Labels") or {}, **labels)
    return data


@pytest.mark.parametrize("data, expected", [
    (container(), ("docker-default", "docker-default", "docker-default")),
    (container(apparmor=""), ("docker-default", None, "docker-default")),
    (container(security=["seccomp=unconfined"]), ("unconfined", "docker-default", "unconfined")),
    (container(security=["apparmor=unconfined"], apparmor="unconfined"),
     ("unconfined", "unconfined", "docker-default")),
    (container(security=['seccomp={"defaultAction":"SCMP_ACT_ERRNO"}']), ("custom", "docker-default", "custom")),
    (container(security=["apparmor=confine-web"], apparmor="confine-web"),
     ("custom", "confine-web", "docker-default")),
    (container(privileged=True, apparmor="unconfined"), ("privileged", "unconfined", "unconfined")),
    (container(privileged=True, security=['seccomp={"x":1}']), ("privileged", "docker-default", "unconfined")),
])
def test_each_container_is_in_its_class(data, expected):
    assert _discover.confinement(data) == expected


def test_compose_labels_name_the_project_and_service():
    data = container(labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "web",
                             "com.docker.compose.project.working_dir": "/srv/shop",
                             "com.docker.compose.project.config_files": "/srv/shop/a.yml,/srv/shop/b.yml"})
    assert _discover.compose_service(data) == {"project": "shop", "service": "web", "project_src": "/srv/shop",
                                               "files": ["/srv/shop/a.yml", "/srv/shop/b.yml"]}
    assert _discover.compose_service(container()) is None
    described = _discover.describe(data, IMAGE, {})
    assert described["adoptable"] and described["problems"] == []
    entries, left = _discover.inventory([described])
    assert left == [] and entries == [{"name": "web", "compose": {"project_src": "/srv/shop", "service": "web",
                                                                  "files": ["a.yml", "b.yml"], "project_name": "shop"}}]
    written = yaml.safe_load(_discover.render("h", [described]))["confine_containers"]
    assert written == entries and _entries.check_entries(written) == ["web"]
    # A compose container whose labels do not say where its project is cannot be written as an entry.
    bare = container(labels={"com.docker.compose.service": "web", "com.docker.compose.project": "shop"})
    assert "do not name the project's directory" in _discover.describe(bare, IMAGE, {})["problems"][0]


def test_the_starting_inventory_adopts_what_can_be_adopted_and_says_why_not_for_the_rest():
    found = [_discover.describe(container("web"), IMAGE, {}),
             _discover.describe(container("tools", privileged=True, apparmor="unconfined"), IMAGE, {}),
             _discover.describe(container("9lives", security=["seccomp=unconfined"]), IMAGE, {}),
             _discover.describe(container("mine", security=["apparmor=confine-mine"], apparmor="confine-mine"),
                                IMAGE, {})]
    assert [item["confined_by_runbook"] for item in found] == [False, False, False, True]
    text = _discover.render("db1", found)
    data = yaml.safe_load(text)
    assert data["confine_containers"] == [{"name": "web", "adopt": True}, {"name": "9lives", "adopt": True},
                                          {"name": "mine", "adopt": True}]
    assert _entries.validate_entries(data["confine_containers"]) == ["web", "9lives", "mine"]
    assert "# Not adopted: tools (privileged): it is privileged" in text
    assert "privileged 1, unconfined 1, custom 1, docker-default 1" in text
    assert _discover.summary(found) == {"privileged": 1, "unconfined": 1, "custom": 1, "docker-default": 1}


def test_a_host_without_containers_gets_an_empty_inventory():
    assert yaml.safe_load(_discover.render("empty", []))["confine_containers"] == []
