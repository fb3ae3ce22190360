"""The AppArmor domain logic: names, specs, bane input, the template, mode flags, kernel state and the parser."""

from __future__ import annotations

import os
import shutil
import subprocess

import jinja2
import pytest

from ansible_collections.confine.docker.plugins.module_utils import _apparmor as aa
from ansible_collections.confine.docker.plugins.module_utils._apparmor_template import (
    PROFILE_TEMPLATE,
    TEMPLATE_OPTIONS,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "apparmor")
PARSER = shutil.which("apparmor_parser", path="/sbin:/usr/sbin:/usr/bin")


def render(spec, abi=None):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, **TEMPLATE_OPTIONS)
    return env.from_string(PROFILE_TEMPLATE).render(**aa.template_context(spec, abi=abi))


# ------------------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["nginx", "app-1", "docker-nginx", "a.b_c", "X"])
def test_good_names(name):
    assert aa.validate_name(name) == name
    assert aa.default_path(name) == "/etc/apparmor.d/containers/" + name


@pytest.mark.parametrize(
    "name",
    ["", "../etc/passwd", "a/b", "a b", "x;reboot", "$(id)", ".hidden", "-x", "a..b", "a" * 201, None, 5, "web\n",
     "web\n}", "docker-default", "unconfined", "runc", "crun"],
)
def test_bad_names_are_refused(name):
    with pytest.raises(aa.SpecError) as err:
        aa.validate_name(name)
    assert err.value.path == "name"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/tmp/a b", "whitespace"),
        ("/tmp/a\\qb", "escapes nothing"),
        ("/tmp/a\\", "escapes nothing"),
        ("/tmp/{a", "unbalanced braces"),
        ("/tmp/a,b", "outside a {a,b}"),
        ("/tmp/[ab", "not a valid pattern"),
        ("tmp/x", "absolute"),
    ],
)
def test_bad_rule_paths_are_refused(path, message):
    with pytest.raises(aa.SpecError, match=message):
        aa.validate_rule_path(path, "filesystem.files[0].path")


@pytest.mark.parametrize("path", ["/tmp/a\\040b", "/tmp/a\\*b", "/tmp/a\\,b", "/tmp/\\303\\251", "@{PROC}/@{pid}/x"])
def test_escaped_rule_paths_are_accepted(path):
    assert aa.validate_rule_path(path, "x") == path


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("} profile docker-default flags=(complain) {", "closes a block"),
        ("/x r, } profile other { /** rwx,", "closes a block"),
        ('#include "/etc/shadow"', "never a path on the host"),
        ("#include </etc/shadow>", "never a path on the host"),
        ("include if exists /var/lib/x", "never a path on the host"),
        ("#include <abstractions/../../etc/x>", "'..'"),
        ("{ /x r,", "unbalanced braces"),
    ],
)
def test_extra_rules_stay_inside_the_profile(rule, message):
    with pytest.raises(aa.SpecError, match=message):
        aa.normalize_spec({"name": "p", "extra_rules": [rule]})


def test_extra_rules_may_include_abstractions():
    spec = aa.normalize_spec({"name": "p", "extra_rules": ["#include <abstractions/nameservice>", "# a comment"]})
    assert spec["extra_rules"] == ["#include <abstractions/nameservice>", "# a comment"]


# ------------------------------------------------------------------------------------------------------------- specs


def test_normalize_fills_every_key_and_deduplicates():
    spec = aa.normalize_spec({"filesystem": {"writable_paths": ["/tmp/**", "/tmp/**"]}}, name="app")
    assert spec["name"] == "app"
    assert spec["filesystem"]["writable_paths"] == ["/tmp/**"]
    assert spec["filesystem"]["deny_exec"] == []
    assert spec["capabilities"] == {"allow": [], "deny": []}
    assert spec["network"] == {"raw": None, "packet": None, "protocols": []}
    assert spec["extra_rules"] == []


@pytest.mark.parametrize(
    ("spec", "name", "where"),
    [
        ({}, None, "name"),
        ({"name": "a"}, "b", "name"),
        ({"name": "a", "bogus": 1}, None, "spec"),
        ({"name": "a", "filesystem": {"writable_paths": "/tmp/**"}}, None, "filesystem.writable_paths"),
        ({"name": "a", "filesystem": {"writable_paths": ["relative"]}}, None, "filesystem.writable_paths"),
        ({"name": "a", "capabilities": {"allow": ["sys_admin"], "deny": ["sys_admin"]}}, None, "capabilities"),
        ({"name": "a", "capabilities": {"allow": ["no_such_cap"]}}, None, "capabilities.allow"),
        ({"name": "a", "network": {"raw": "yes please"}}, None, "network.raw"),
    ],
)
def test_bad_specs_name_the_offending_key(spec, name, where):
    with pytest.raises(aa.SpecError) as err:
        aa.normalize_spec(spec, name=name)
    assert err.value.path is not None and err.value.path.startswith(where.split(".")[0]), err.value


def test_bane_toml_maps_to_a_spec():
    with open(os.path.join(FIXTURES, "bane-sample.toml"), encoding="utf-8") as handle:
        spec = aa.normalize_spec(aa.load_bane_toml(handle.read()))
    assert spec["name"] == "docker-nginx"
    assert "/bin/sh" in spec["filesystem"]["deny_exec"]
    assert "net_bind_service" in spec["capabilities"]["allow"]


def test_bane_keys_are_recognised_in_a_mapping():
    spec = aa.normalize_spec({"Name": "web", "Capabilities": {"Allow": ["chown"]}})
    assert spec["name"] == "docker-web"
    assert spec["capabilities"]["allow"] == ["chown"]


# ---------------------------------------------------------------------------------------------------------- template


SPEC = {
    "name": "app",
    "filesystem": {
        "read_only_paths": ["/etc/**"],
        "writable_paths": ["/tmp/**"],
        "allow_exec": ["/usr/bin/python3*"],
        "deny_exec": ["/bin/sh"],
        "files": [{"path": "/var/lib/app/**", "perms": "rw"}],
    },
    "capabilities": {"allow": ["chown"]},
    "network": {"protocols": ["tcp"]},
}


def test_template_carries_docker_default_protections_and_the_spec():
    text = render(SPEC)
    assert "profile app flags=(attach_disconnected,mediate_deleted) {" in text
    for rule in ("deny mount", "capability chown,", "/tmp/** ", "/var/lib/app/** rw,", "network inet tcp,"):
        assert rule in text, rule
    assert "audit deny /bin/sh" in text
    assert "/usr/bin/python3*" in text
    # A spec that says nothing about raw sockets denies none (docker-default does not); the protocols listed are an
    # allow-list, so raw sockets are simply not allowed.
    assert "deny network" not in text and "\n  network raw," not in text
    # Asked for, raw and packet denials name the families they mean and are logged; netlink (PAM's audit) is not.
    strict = render(dict(SPEC, network={"protocols": ["tcp"], "raw": False, "packet": False}))
    assert "audit deny network inet raw,\n  audit deny network inet6 raw,\n  audit deny network packet," in strict
    assert "deny network raw," not in strict


def _denials(text):
    return [line.strip().rstrip(",") for line in text.splitlines() if " deny " in " " + line.strip() + " "]


@pytest.mark.parametrize("abi", [None, "3.0", "4.0"])
def test_trial_render_of_an_empty_spec_denies_nothing_docker_default_allows(abi):
    from ansible_collections.confine.docker.plugins.module_utils._apparmor_template import DOCKER_DEFAULT_DENY

    # What the complain stage loads for a container entry without a seed: the spec of its name only, complain mode.
    text = aa.set_mode(render({"name": "app"}, abi=abi), "app", "complain")
    assert "flags=(attach_disconnected,mediate_deleted,complain)" in text
    denials = _denials(text)
    assert denials, text
    # Every denial the project adds is audited, and each one is one of docker-default's.
    assert all(line.startswith("audit deny ") for line in denials), denials
    assert [line[len("audit deny "):] for line in denials] == list(DOCKER_DEFAULT_DENY)
    # An empty spec: every network family and type (raw netlink for PAM's audit included), every capability is left
    # to the trial (none denied), every read.
    assert "\n  network,\n" in text and "\n  /** r,\n" in text
    assert "deny network" not in text and "deny capability" not in text


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ({"raw": False}, ["network inet raw", "network inet6 raw"]),
        ({"packet": False}, ["network packet"]),
        ({"raw": False, "packet": False}, ["network inet raw", "network inet6 raw", "network packet"]),
        ({"raw": True, "packet": True}, []),
        ({"protocols": ["tcp", "udp"]}, []),
    ],
)
def test_raw_and_packet_denials_name_their_families_and_are_audited(network, expected):
    denials = [line for line in _denials(render({"name": "app", "network": network})) if "network" in line]
    assert denials == ["audit deny " + rule for rule in expected]
    # Never a family-wide raw denial: that one would deny raw netlink sockets (PAM, libaudit, iproute2) too.
    assert not any(line.endswith("deny network raw") for line in denials)


def test_template_output_is_stable():
    assert render(SPEC) == render(dict(SPEC))


def test_signals_come_from_the_profile_the_host_and_the_runtime_only():
    signals = sorted(line.strip() for line in render(SPEC).splitlines() if line.strip().startswith("signal"))
    assert signals == [
        "signal (receive) peer=crun,",
        "signal (receive) peer=runc,",
        "signal (receive) peer=unconfined,",
        "signal (send,receive) peer=app,",
    ]


@pytest.mark.parametrize("abi", ["3.0", "4.0"])
def test_template_declares_the_abi_and_uses_include(abi):
    lines = render(SPEC, abi=abi).splitlines()
    assert "abi <abi/%s>," % abi in lines
    assert "include <tunables/global>" in lines and "  include <abstractions/base>" in lines
    assert lines.index("abi <abi/%s>," % abi) < lines.index("include <tunables/global>")
    assert not any(line.lstrip().startswith("#include") for line in lines)
    assert aa.declared_abi("\n".join(lines)) == abi


def test_template_without_abi_keeps_the_old_include_syntax():
    text = render(SPEC)
    assert "#include <tunables/global>" in text and "  #include <abstractions/base>" in text
    assert aa.declared_abi(text) is None


@pytest.mark.parametrize("abi", ["2.0", "4", "auto", 4.0, "../abi/4.0"])
def test_unknown_abis_are_refused(abi):
    with pytest.raises(aa.SpecError) as err:
        aa.template_context(SPEC, abi=abi)
    assert err.value.path == "abi"


# ------------------------------------------------------------------------------------------------------ ABI facts


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("AppArmor parser version 4.1.0\nCopyright (C) 1999-2008 Novell Inc.\n", "4.1.0"),
        ("AppArmor parser version 3.0.8\n", "3.0.8"),
        ("AppArmor parser version 2.13.6\n", "2.13.6"),
        ("apparmor_parser: unrecognized option\n", None),
        ("", None),
    ],
)
def test_parse_parser_version(text, version):
    assert aa.parse_parser_version(text) == version


@pytest.mark.parametrize(
    ("text", "abi"),
    [
        ("  abi <abi/4.0>,\n  include <abstractions/base>\n", "4.0"),
        ('abi "/etc/apparmor.d/abi/3.0",\n', "3.0"),
        ("# abi <abi/4.0>,\n#include <tunables/global>\n", None),
        ("abi <abi/4.0>, # the ABI\n", "4.0"),
        ("profile p {\n}\n", None),
    ],
)
def test_declared_abi(text, abi):
    assert aa.declared_abi(text) == abi


@pytest.mark.parametrize(
    ("version", "available", "base", "abi"),
    [
        # Debian 13: AppArmor 4.1 ships 3.0 and 4.0, its abstractions declare 4.0.
        ("4.1.0", ["3.0", "4.0"], "4.0", "4.0"),
        # Debian 12: AppArmor 3.0 ships 3.0, its abstractions declare 3.0.
        ("3.0.8", ["3.0", "kernel-5.4-vanilla"], "3.0", "3.0"),
        # Abstractions written for an ABI the template does not know: the newest one it knows.
        ("5.0.0", ["3.0", "4.0", "5.0"], "5.0", "4.0"),
        # Abstractions that declare none: the newest.
        ("4.1.0", ["3.0", "4.0"], None, "4.0"),
        # Parsers before AppArmor 3 do not know abi rules.
        ("2.13.6", ["3.0"], "3.0", None),
        (None, ["3.0", "4.0"], "4.0", None),
        ("4.1.0", [], None, None),
    ],
)
def test_choose_abi(version, available, base, abi):
    assert aa.choose_abi(version, available, base) == abi


def _fake_apparmor_host(tmp_path, abis, base_text, af_unix=False):
    abi_dir = tmp_path / "abi"
    abi_dir.mkdir()
    for name in abis:
        (abi_dir / name).write_text("")
    base = tmp_path / "base"
    base.write_text(base_text)
    securityfs = tmp_path / "securityfs"
    for feature in ("signal", "namespaces", "network_v8"):
        (securityfs / "features" / feature).mkdir(parents=True)
    if af_unix:
        (securityfs / "features" / "network").mkdir()
        (securityfs / "features" / "network" / "af_unix").write_text("yes\n")
    param = tmp_path / "enabled"
    param.write_text("Y\n")
    return {"abi_dir": str(abi_dir), "base": str(base), "securityfs": str(securityfs), "param": str(param)}


def test_host_facts_of_an_apparmor_4_host(tmp_path):
    paths = _fake_apparmor_host(tmp_path, ["3.0", "4.0", "kernel-5.4-vanilla"], "  abi <abi/4.0>,\n")
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, "AppArmor parser version 4.1.0\nCopyright (C) 1999-2008 Novell Inc.\n", ""

    facts = aa.host_facts("/usr/sbin/apparmor_parser", run, **paths)
    assert calls == [["/usr/sbin/apparmor_parser", "--version"]]
    assert facts["enabled"] is True and facts["reason"] == ""
    assert (facts["parser_version"], facts["abis"], facts["abstractions_abi"], facts["abi"]) == (
        "4.1.0", ["3.0", "4.0"], "4.0", "4.0")
    assert facts["features"] == {"namespaces": True, "network_v8": True, "signal": True, "network.af_unix": False}


def test_host_facts_see_fine_grained_unix_mediation(tmp_path):
    paths = _fake_apparmor_host(tmp_path, ["3.0", "4.0"], "abi <abi/4.0>,\n", af_unix=True)
    facts = aa.host_facts("/sbin/apparmor_parser", lambda argv: (0, "AppArmor parser version 4.1.3\n", ""), **paths)
    assert facts["features"]["network.af_unix"] is True


def test_host_facts_without_parser_or_kernel_support(tmp_path):
    facts = aa.host_facts(None, abi_dir=str(tmp_path / "none"), base=str(tmp_path / "none"),
                          securityfs=str(tmp_path / "none"), param=str(tmp_path / "none"))
    assert facts["enabled"] is False and "no AppArmor" in facts["reason"]
    assert (facts["parser"], facts["parser_version"], facts["abis"], facts["abi"], facts["features"]) == (
        None, None, [], None, {})


def test_host_facts_when_the_parser_fails(tmp_path):
    paths = _fake_apparmor_host(tmp_path, ["3.0"], "abi <abi/3.0>,\n")
    facts = aa.host_facts("/sbin/apparmor_parser", lambda argv: (1, "", "broken\n"), **paths)
    assert facts["parser_version"] is None and facts["abi"] is None


@pytest.mark.skipif(PARSER is None, reason="apparmor_parser is not installed")
@pytest.mark.parametrize("abi", [None, "3.0"])
@pytest.mark.parametrize("mode", ["enforce", "complain"])
def test_rendered_profile_compiles(tmp_path, mode, abi):
    text = aa.set_mode(render(SPEC, abi=abi), "app", mode)
    path = tmp_path / "app"
    path.write_text(text)
    proc = subprocess.run([PARSER, "-QK", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


# -------------------------------------------------------------------------------------------------------- mode flags


@pytest.mark.parametrize(
    ("header", "mode", "expected"),
    [
        ("profile p {", "complain", "profile p flags=(complain) {"),
        ("profile p flags=(attach_disconnected) {", "complain", "profile p flags=(attach_disconnected,complain) {"),
        ("profile p flags=(attach_disconnected,complain) {", "enforce", "profile p flags=(attach_disconnected) {"),
        ("profile p flags=(complain) {", "enforce", "profile p {"),
        ("profile p flags=(complain) {", "complain", "profile p flags=(complain) {"),
        ("p flags=(mediate_deleted) {  # keep me", "complain", "p flags=(mediate_deleted,complain) {  # keep me"),
    ],
)
def test_set_mode_edits_only_the_header(header, mode, expected):
    text = "#include <tunables/global>\n%s\n  file,\n}\n" % header
    result = aa.set_mode(text, "p", mode)
    assert result == "#include <tunables/global>\n%s\n  file,\n}\n" % expected
    assert aa.profile_mode(result, "p") == mode
    assert aa.set_mode(result, "p", mode) == result


def test_set_mode_ignores_nested_profiles_and_finds_the_named_one():
    text = "profile other {\n  profile p {\n  }\n}\nprofile p {\n}\n"
    assert aa.set_mode(text, "p", "complain").splitlines()[4] == "profile p flags=(complain) {"


@pytest.mark.parametrize("text", ["profile q {\n}\n", "profile p\n{\n}\n"])
def test_headers_that_cannot_be_edited_are_refused(text):
    with pytest.raises(aa.ProfileError):
        aa.set_mode(text, "p", "complain")


# ------------------------------------------------------------------------------------------------------ kernel state


def test_parse_kernel_profiles():
    text = "docker-default (enforce)\nconfine-app (complain)\n/usr/bin/man (enforce)\nweird\n"
    assert aa.parse_kernel_profiles(text) == {
        "docker-default": "enforce",
        "confine-app": "complain",
        "/usr/bin/man": "enforce",
        "weird": "unknown",
    }


@pytest.mark.parametrize(
    ("param", "mounted", "enabled", "reason"),
    [
        (None, False, False, "no AppArmor"),
        ("N\n", True, False, "disabled"),
        ("Y\n", False, False, "securityfs"),
        ("Y\n", True, True, ""),
    ],
)
def test_apparmor_enabled(tmp_path, param, mounted, enabled, reason):
    param_file = tmp_path / "enabled"
    if param is not None:
        param_file.write_text(param)
    securityfs = tmp_path / "apparmor"
    if mounted:
        securityfs.mkdir()
    got, why = aa.apparmor_enabled(str(securityfs), str(param_file))
    assert got is enabled
    assert reason in why


# ------------------------------------------------------------------------------------------------------------ parser


def test_parser_error_carries_message_and_line():
    calls = []

    def run(argv):
        calls.append(argv)
        return 1, "", (
            "Cache read/write disabled: interface file missing.\n"
            "AppArmor parser error for %s in profile %s at line 3: syntax error\n" % (argv[-1], argv[-1])
        )

    with pytest.raises(aa.ParserError) as err:
        aa.Parser(run=run).compile_check("profile p {\n  bogus\n}\n", display="/etc/apparmor.d/containers/p")
    assert err.value.line == 3
    assert "Cache read/write" not in str(err.value)
    assert "/etc/apparmor.d/containers/p" in str(err.value)
    assert calls[0][:2] == ["apparmor_parser", "-QK"]


def test_parser_lists_profile_names():
    def run(argv):
        return (0, "p\np//hat\n", "") if argv[1] == "-N" else (0, "", "")

    assert aa.Parser(run=run).compile_check("profile p {\n}\n") == ["p", "p//hat"]


@pytest.mark.skipif(PARSER is None, reason="apparmor_parser is not installed")
def test_real_parser_reports_the_line_of_a_syntax_error():
    with pytest.raises(aa.ParserError) as err:
        aa.Parser(binary=PARSER).compile_check("profile p {\n  file,\n  this is not a rule\n}\n")
    assert err.value.line == 3
