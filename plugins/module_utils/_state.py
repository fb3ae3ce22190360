# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook state of one container: a typed, versioned record, its files, and its transitions.

Each container has a directory ``<state_root>/<name>/`` (docs/runbook.md, "State on the host")::

    state.json          the record below (``schema`` 2; a file without ``schema`` is the unversioned layout
                        the roles wrote before, migrated on read, with every key kept)
    apparmor.v<N>.json  AppArmor spec versions (v1 is the seed)
    seccomp.v<N>.json   seccomp profile versions (enforce form)
    events.v<N>.json    what the trial of version N logged
    report.v<N>.md      the review of version N

The transitions are pure functions from a :class:`State` (and what the stage observed) to the next one; each checks
its preconditions and raises :class:`TransitionRefused` with what to do. :func:`apply` reads the record, runs a
transition and writes the result atomically (``_io.atomic_write``), only when it differs. A record that cannot be
read is a :class:`StateError` naming the file and what to do, for that container alone.

The names, paths and Docker security options of a container's mode are derived here too (:class:`Layout`,
:func:`security_opts`), so every stage builds the same ones.

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re

from ansible_collections.confine.docker.plugins.module_utils import _io, _mechanisms

SCHEMA = 2
STATE_FILE = "state.json"
MODES = ("complain", "enforce", "baseline", "unconfined")
MECHANISMS = _mechanisms.NAMES
TARGETS = ("previous", "baseline", "unconfined")
# Where a rollback sends a container: its last good version, Docker's baseline, no confinement, or nowhere (its
# current version already passed verify).
ROLLBACK_TO = ("previous", "baseline", "unconfined", "keep")
STATE_MAX = 1 << 20
SEED_RE = re.compile(r"[0-9a-f]{40}")
FILE_MODE = 0o640
DIR_MODE = 0o750


class StateError(Exception):
    """A state.json that cannot be used. ``path`` is the file, ``problem`` what is wrong with it."""

    def __init__(self, path, problem, remedy=None):
        self.path = path
        self.problem = problem
        self.remedy = remedy if remedy is not None else remedy_for(path)
        super().__init__("%s: %s. %s" % (path, problem, self.remedy))


class TransitionRefused(ValueError):
    """A transition whose preconditions do not hold; the message says why and what to run first."""


def remedy_for(path):
    directory = os.path.dirname(path)
    return ("Only this container is affected. Restore the file from a backup beside it (%s.*~) if there is one, or "
            "move it aside (mv %s %s.broken) and run harden.yml again: the container's trial then starts again from "
            "version 1; the profile versions in %s stay until the new trial writes its own"
            % (path, path, path, directory))


# --- the record -------------------------------------------------------------------------------------------------

_INT = (int,)
_NUM = (int, float)


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    types: tuple
    default: object
    optional: bool
    doc: str


def _field(name, types, default, doc, optional=True):
    return Field(name, types, default, optional, doc)


# Every key of state.json, in the order docs/runbook.md lists them. ``optional``: null is a valid value.
FIELDS = (
    _field("schema", _INT, SCHEMA, "version of this record's layout", optional=False),
    _field("container", (str,), None, "the container's name (its directory's name)"),
    _field("mode", (str,), None, "complain (in a trial), enforce, baseline or unconfined; null: nothing done yet"),
    _field("round", _INT, None, "the trial's complain-collect-widen round"),
    _field("version", _INT, None, "the profile version the container runs (or its trial tries)"),
    _field("seed", (str,), None, "sha1 of the inventory entry the versions were built from"),
    _field("apparmor", (str,), None, "the AppArmor profile it runs under (docker-default, unconfined, or none)"),
    _field("seccomp", (str,), None, "the seccomp profile file it runs under (docker-default, unconfined, or none)"),
    # security_events' cursor; verify takes a timestamp too (an RFC 3339 string or the container_start word).
    _field("cursor", (dict, str), None, "where the trial's records start in the event source"),
    _field("trial_started", _NUM, None, "host clock (seconds) when the trial's container started"),
    _field("restarts", _INT, 0, "the container's RestartCount when the trial started", optional=False),
    _field("reviewed", (bool,), False, "whether the trial's current round was reviewed (widen)", optional=False),
    _field("clean", (bool,), False, "the last review added nothing, lost nothing and has no blocker",
           optional=False),
    _field("added", _INT, 0, "rules the last review added", optional=False),
    _field("refused", (list,), (), "what the guard refused during the whole trial", optional=False),
    _field("blockers", (list,), (), "keys of refusals Docker's baseline does not block too", optional=False),
    _field("lost", (list,), (), "notices of records lost during the last trial", optional=False),
    _field("suspicious", _INT, 0, "user-space look-alike records during the last trial", optional=False),
    _field("enforced_version", _INT, None, "the version last enforced"),
    _field("enforced_at", _NUM, None, "host clock (seconds) when the container started under enforcement"),
    _field("good_version", _INT, None, "the last version that passed verify"),
    _field("rolled_back_from", _INT, None, "the version the last rollback left"),
)
FIELD_NAMES = tuple(field.name for field in FIELDS)
_BY_NAME = {field.name: field for field in FIELDS}
# Keys the roles wrote into state.json before the record had a ``schema``.
LEGACY_KEYS = frozenset(FIELD_NAMES) - {"schema", "reviewed"}


def _default(field):
    return list(field.default) if isinstance(field.default, tuple) else field.default


@dataclasses.dataclass(frozen=True)
class State:
    """One container's runbook state (the content of its state.json)."""

    schema: int = SCHEMA
    container: str | None = None
    mode: str | None = None
    round: int | None = None
    version: int | None = None
    seed: str | None = None
    apparmor: str | None = None
    seccomp: str | None = None
    cursor: dict | str | None = None
    trial_started: float | None = None
    restarts: int = 0
    reviewed: bool = False
    clean: bool = False
    added: int = 0
    refused: list = dataclasses.field(default_factory=list)
    blockers: list = dataclasses.field(default_factory=list)
    lost: list = dataclasses.field(default_factory=list)
    suspicious: int = 0
    enforced_version: int | None = None
    enforced_at: float | None = None
    good_version: int | None = None
    rolled_back_from: int | None = None

    def to_dict(self):
        return {name: _copy(getattr(self, name)) for name in FIELD_NAMES}

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _copy(value):
    return json.loads(json.dumps(value)) if isinstance(value, (dict, list)) else value


def _type_name(types):
    return " or ".join({int: "an integer", float: "a number", str: "a string", bool: "true or false",
                        dict: "an object", list: "a list"}[kind] for kind in types)


def _check_value(field, value):
    """The problem with ``value`` for ``field``, or None."""
    if value is None:
        return None if field.optional else "must not be null"
    if isinstance(value, bool) and bool not in field.types:
        return "must be %s, not %s" % (_type_name(field.types), json.dumps(value))
    if not isinstance(value, field.types):
        return "must be %s, not %s" % (_type_name(field.types), type(value).__name__)
    name = field.name
    if name == "mode" and value not in MODES:
        return "must be one of %s, not %r" % (", ".join(MODES), value)
    if name == "seed" and not SEED_RE.fullmatch(value):
        return "must be the sha1 (40 hex digits) of the container's entry, not %r" % value[:60]
    if name in ("round", "version", "enforced_version", "good_version", "rolled_back_from") and value < 1:
        return "must be 1 or more, not %d" % value
    if name in ("restarts", "added", "suspicious", "trial_started", "enforced_at") and value < 0:
        return "must not be negative"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number, not %s" % value
    if name == "refused":
        for index, item in enumerate(value):
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                return "item %d must be an object with a key (as profile_widen reports it), not %r" % (index, item)
    if name == "blockers" and not all(isinstance(item, str) for item in value):
        return "must be a list of strings (the keys approve takes)"
    return None


def from_dict(data, path=STATE_FILE, name=None):
    """The :class:`State` in ``data`` (state.json's content), migrating the layout without ``schema``.

    Returns ``(state, migrated)``. Raises StateError naming ``path`` and each problem.
    """
    if not isinstance(data, dict):
        raise StateError(path, "holds %s, not a JSON object" % type(data).__name__)
    migrated = "schema" not in data
    if migrated:
        data = migrate_legacy(data, path)
    schema = data["schema"]
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise StateError(path, "its schema is %r, not a number" % (schema,))
    if schema > SCHEMA:
        raise StateError(path, "was written by a newer confine.docker (schema %d; this one reads up to %d)"
                         % (schema, SCHEMA), "Run the release that wrote it, or a newer one, on this host")
    if schema < SCHEMA:
        raise StateError(path, "has schema %d, which no release wrote (the first versioned one is %d)"
                         % (schema, SCHEMA))
    unknown = sorted(set(data) - set(FIELD_NAMES))
    if unknown:
        raise StateError(path, "has unknown key(s) %s" % ", ".join(unknown))
    problems = []
    values = {}
    for field in FIELDS:
        value = data.get(field.name, _default(field))
        problem = _check_value(field, value)
        if problem:
            problems.append("%s %s" % (field.name, problem))
        values[field.name] = float(value) if field.types is _NUM and value is not None else value
    if problems:
        raise StateError(path, "is not a valid state: " + "; ".join(problems))
    if name is not None and values["container"] not in (None, name):
        raise StateError(path, "belongs to container %r, not %r" % (values["container"], name))
    return State(**_copy(values)), migrated


def migrate_legacy(data, path=STATE_FILE):
    """The unversioned layout (no ``schema``) as a schema-2 dict: every key kept, ``reviewed`` added.

    An unversioned trial in complain mode may be reviewed again (the widen role reviewed it again on a re-run);
    any other mode has nothing left to review.
    """
    unknown = sorted(set(data) - LEGACY_KEYS)
    if unknown:
        raise StateError(path, "has key(s) %s, which no release of the runbook writes" % ", ".join(unknown))
    migrated = dict(data)
    migrated["schema"] = SCHEMA
    migrated["reviewed"] = data.get("mode") != "complain"
    for key in ("restarts", "added", "suspicious"):
        if migrated.get(key) is None:
            migrated[key] = 0
    for key in ("refused", "blockers", "lost"):
        if migrated.get(key) is None:
            migrated[key] = []
    if migrated.get("clean") is None:
        migrated["clean"] = False
    return migrated


def parse(text, path=STATE_FILE, name=None):
    """The :class:`State` in state.json's text; ``(state, migrated)``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateError(path, "is not valid JSON (%s)" % exc) from None
    return from_dict(data, path, name)


def on_disk(state):
    """What state.json holds of ``state``: every field but those that are null (a missing key reads as null), so
    that a reader that asks whether a key is there (Jinja's ``is defined``) reads what the roles always wrote."""
    return {name: value for name, value in state.to_dict().items() if value is not None}


def dumps(state):
    """state.json's text: the form ``to_nice_json`` gave it (indent 4, sorted keys), one newline at the end."""
    return json.dumps(on_disk(state), indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


# --- names, paths and security options --------------------------------------------------------------------------

def seed_hash(entry):
    """The seed of a container entry: sha1 of ``entry | to_json(sort_keys=true)``, as the roles computed it."""
    return hashlib.sha1(json.dumps(entry, sort_keys=True).encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a container's state, versions and deployed profiles are, and what its profiles are called."""

    name: str
    state_root: str = "/var/lib/confine"
    prefix: str = "confine-"
    apparmor_dir: str = "/etc/apparmor.d/containers"
    seccomp_dir: str = "/etc/docker/seccomp"

    @property
    def profile(self):
        return self.prefix + self.name

    @property
    def directory(self):
        return os.path.join(self.state_root, self.name)

    @property
    def state_file(self):
        return os.path.join(self.directory, STATE_FILE)

    @property
    def apparmor_file(self):
        return os.path.join(self.apparmor_dir, self.profile)

    @property
    def seccomp_file(self):
        return os.path.join(self.seccomp_dir, self.profile + ".json")

    def version_file(self, kind, version):
        if kind not in MECHANISMS and kind != "events":
            raise ValueError("no version files of kind %r" % kind)
        return os.path.join(self.directory, "%s.v%d.json" % (kind, version))

    def report_file(self, version):
        return os.path.join(self.directory, "report.v%d.md" % version)

    def versions(self, kind):
        """The versions of ``kind`` (apparmor, seccomp, events) on disk, sorted."""
        pattern = re.compile(r"%s\.v([1-9][0-9]*)\.json" % re.escape(kind))
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(match.group(1)) for match in map(pattern.fullmatch, names) if match)

    def files(self, version, kinds=MECHANISMS):
        """The files of ``version``: one per mechanism of ``kinds``, its events and its report."""
        files = {kind: self.version_file(kind, version) for kind in kinds}
        files.update(events=self.version_file("events", version), report=self.report_file(version))
        return files

    def names(self, version=None, kinds=MECHANISMS):
        """Everything a stage needs to name for this container, with the files of ``version`` when given."""
        names = {"name": self.name, "profile": self.profile, "dir": self.directory, "state_file": self.state_file,
                 "apparmor_file": self.apparmor_file, "seccomp_file": self.seccomp_file}
        if version is not None:
            names["files"] = self.files(version, kinds)
            names["next_files"] = self.files(version + 1, kinds)
        return names


def mechanisms(entry=None, apparmor=True, seccomp=True):
    """``(enabled, versioned)``: the enabled mechanisms, and those whose profile has version files (an opaque
    AppArmor seed has none). Without ``entry`` every enabled mechanism is taken to have them."""
    on = _mechanisms.switches(apparmor=apparmor, seccomp=seccomp)
    return _mechanisms.enabled(on), _mechanisms.versioned(entry, on)


def security_opts(mode, profile, apparmor=True, seccomp=True, seccomp_profile=None):
    """The ``security_opts`` a container runs with in ``mode`` (:func:`_mechanisms.security_opts`).

    complain, enforce: its own AppArmor profile (when ``apparmor``), its seccomp profile's JSON (when ``seccomp``)
    and no-new-privileges. In complain mode a seccomp profile that is not known yet (check mode) is left out.
    baseline: ``apparmor=docker-default`` on AppArmor hosts, Docker's default seccomp (no option).
    unconfined: neither AppArmor nor seccomp (the diagnostic rollback).
    """
    if mode not in MODES:
        raise ValueError("no security options for mode %r (one of %s)" % (mode, ", ".join(MODES)))
    results = {"seccomp": {"profile": seccomp_profile}} if seccomp_profile is not None else {}
    return _mechanisms.security_opts(mode, {"profile": profile}, _mechanisms.switches(apparmor=apparmor,
                                                                                      seccomp=seccomp), results)


def runs_under(mode, layout, apparmor=True, seccomp=True):
    """What state.json records as the container's AppArmor profile and seccomp file in ``mode``."""
    return _mechanisms.runs_under(mode, layout, _mechanisms.switches(apparmor=apparmor, seccomp=seccomp))


# --- transitions ------------------------------------------------------------------------------------------------

def trial_version(state, seed):
    """The profile version a trial of the entry with ``seed`` runs: the one on record for the same entry, else 1."""
    return (state.version or 1) if state.seed == seed else 1


def pending(state, seed):
    """Whether the container still needs the runbook: not enforced, or enforced under another entry."""
    return state.mode != "enforce" or state.seed != seed


def start_trial(state, layout, *, seed, round=1, cursor=None, clock=None, restarts=0, recreated=False,
                apparmor=True, seccomp=True):
    """Complain: the container runs the trial of its current version; round ``round`` of it starts.

    A new trial (or round) starts when the container was (re)created, was not in a trial, or runs another round or
    version: its cursor, start time and restart count are taken from this call. Otherwise the running trial keeps
    them. A round after the first follows the review of the one before, for the same entry.
    """
    name = layout.name
    if not isinstance(seed, str) or not SEED_RE.fullmatch(seed):
        raise TransitionRefused("%s: the seed must be the sha1 of the container's entry, got %r" % (name, seed))
    if isinstance(round, bool) or not isinstance(round, int) or round < 1:
        raise TransitionRefused("%s: the round must be 1 or more, got %r" % (name, round))
    if round > 1:
        follows = state.mode == "complain" and state.seed == seed and (
            (state.round == round - 1 and state.reviewed) or state.round == round)
        if not follows:
            raise TransitionRefused(
                "%s: round %d of a trial follows the review of round %d of the same entry, but the state has mode "
                "%s, round %s%s; start the trial with round 1 (the complain stage)" % (
                    name, round, round - 1, state.mode, state.round,
                    ", another entry" if state.seed != seed else ", not reviewed" if not state.reviewed else ""))
    version = trial_version(state, seed)
    new_trial = (recreated or state.cursor is None or state.mode != "complain" or state.round != round
                 or state.version != version)
    if new_trial and cursor is not None and not isinstance(cursor, dict):
        raise TransitionRefused("%s: the trial's cursor must be an object (security_events' cursor)" % name)
    changes = dict(container=name, mode="complain", round=round, version=version, seed=seed, reviewed=False,
                   clean=False, **runs_under("complain", layout, apparmor, seccomp))
    if new_trial:
        changes.update(cursor=cursor, trial_started=None if clock is None else float(clock), restarts=restarts or 0)
    if state.seed is not None and state.seed != seed:
        # The versions on record belong to another entry and are overwritten from version 1: none of them is a
        # version of this entry that passed verify.
        changes["good_version"] = None
    return state.replace(**changes)


def _unique_by_key(items):
    seen, unique = set(), []
    for item in items:
        if item["key"] not in seen:
            seen.add(item["key"])
            unique.append(item)
    return unique


def record_review(state, layout, *, added=(), refused=(), lost=(), suspicious=0):
    """Widen: the outcome of the review of the trial's current round.

    ``added`` are the rules admitted into the next version (which becomes the trial's version when there are
    any), ``refused`` what the guard refused in this round (kept for the whole trial), ``lost`` the notices of lost
    records, ``suspicious`` how many user-space look-alike records there were. The round is clean when nothing was
    added or lost and every refusal is one Docker's baseline blocks too.
    """
    name = layout.name
    if state.mode != "complain":
        raise TransitionRefused("%s is in mode %s, not in a trial: run the complain stage first" % (name, state.mode))
    if state.version is None:
        raise TransitionRefused("%s is in a trial without a version: run the complain stage again" % name)
    if state.reviewed:
        raise TransitionRefused("%s: round %s (version %s) was reviewed already; the next round starts with the "
                                "complain stage" % (name, state.round, state.version))
    for index, item in enumerate(refused):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise TransitionRefused("%s: refused item %d has no key: %r" % (name, index, item))
    if isinstance(suspicious, bool) or not isinstance(suspicious, int) or suspicious < 0:
        raise TransitionRefused("%s: suspicious is a count, got %r" % (name, suspicious))
    earlier = state.refused if (state.round or 1) > 1 else []
    refused_all = _unique_by_key([*earlier, *refused])
    blockers = ([item for item in refused_all if "baseline" not in item]
                + [item for item in refused_all if "baseline" in item and item["baseline"] != "blocks"])
    added = list(added)
    return state.replace(
        version=state.version + (1 if added else 0),
        added=len(added),
        refused=_copy(refused_all),
        blockers=[item["key"] for item in blockers],
        lost=_copy(list(lost)),
        suspicious=suspicious,
        clean=not added and not blockers and not lost,
        reviewed=True,
    )


def next_round(state):
    """Whether the trial needs another round: its current round was reviewed and the review added rules (the
    trial's version grew, and the next round tries it)."""
    return state.mode == "complain" and state.reviewed and state.added > 0


def carry_forward(layout, version, kinds, grown, check_mode=False):
    """The files of ``version + 1`` before a review of ``version`` that added rules is recorded.

    ``kinds`` are the mechanisms with version files, ``grown`` those whose review added rules: profile_widen wrote
    their next version, which must be there. Every other one's next version is its current one, copied (over any
    file an earlier trial left there), so that each version has all its files and a round that added nothing to a
    profile writes no new version of it. Returns the files copied (or, in check mode, that would be).
    """
    copies = []
    for kind in kinds:
        current, following = layout.version_file(kind, version), layout.version_file(kind, version + 1)
        if kind in grown:
            if not check_mode and not os.path.isfile(following):
                raise TransitionRefused("%s: the review added %s rules but their version %d (%s) is missing: run "
                                        "the widen stage again" % (layout.name, kind, version + 1, following))
            continue
        text = _io.read_text(current)
        if text is None:
            raise TransitionRefused("%s: version %d has no %s file (%s): run the complain stage again"
                                    % (layout.name, version, kind, current))
        copies.append((following, text))
    # Written once every precondition holds: a refusal leaves the files as they were, and so does a write that
    # fails part-way (a full disk): the copies already made are put back as they were, so that no version is left
    # with some of its files carried and others not.
    written = []
    try:
        for following, text in copies:
            before = _io.read_text(following)
            if not check_mode and before != text:
                _io.atomic_write(following, text, mode=FILE_MODE, dir_mode=DIR_MODE)
                written.append((following, before))
    except _io.WriteError:
        for following, before in reversed(written):
            if before is None:
                _io.remove_file(following)
            else:
                _io.atomic_write(following, before, mode=FILE_MODE, dir_mode=DIR_MODE)
        raise
    return [following for following, _text in copies]


def enforce(state, layout, *, force=False, clock=None, recreated=False):
    """Enforce: the reviewed version in enforce mode. Refused after a trial that was not clean, unless ``force``."""
    name = layout.name
    if state.mode not in ("complain", "enforce") or state.version is None:
        raise TransitionRefused("%s is in mode %s, not in a trial: run the complain, collect and widen stages "
                                "first" % (name, state.mode))
    if not (state.mode == "enforce" or state.clean or force):
        raise TransitionRefused(
            "%s: the last trial (round %s, version %s) was not clean - %d rule(s) still being added, refused without "
            "approval although Docker's baseline allows them: %s, lost records: %s. Review %s; approve what is "
            "legitimate in the container's `approve` list and run the trial again." % (
                name, state.round, state.version, state.added, state.blockers,
                [item.get("message", "?") if isinstance(item, dict) else "?" for item in state.lost],
                layout.report_file(state.version)))
    clock = None if clock is None else float(clock)
    enforced_at = clock if recreated or state.enforced_at is None else state.enforced_at
    return state.replace(mode="enforce", enforced_version=state.version, enforced_at=enforced_at)


def record_good(state, layout):
    """After verify passed: the enforced version is the container's last good one (what rollback goes back to)."""
    if state.mode != "enforce" or state.version is None:
        raise TransitionRefused("%s is in mode %s: only an enforced version can be recorded as good"
                                % (layout.name, state.mode))
    if state.enforced_version not in (None, state.version):
        raise TransitionRefused("%s runs version %s but version %s was enforced: enforce it before recording it "
                                "as good" % (layout.name, state.version, state.enforced_version))
    return state.replace(good_version=state.version)


def rollback_to(state, target, have_version=None):
    """Where a rollback with ``target`` sends the container: ``previous`` (its last good version), ``baseline``,
    ``unconfined`` or ``keep`` (it is enforced under the version that passed verify: nothing to undo).

    ``previous`` falls back to the baseline when there is no good version, or when ``have_version(n)`` says its
    files are gone.
    """
    if target not in TARGETS:
        raise TransitionRefused("rollback target %r is not one of %s" % (target, ", ".join(TARGETS)))
    if target != "previous":
        return target
    good = state.good_version
    if good is None or (have_version is not None and not have_version(good)):
        return "baseline"
    if good == state.version:
        return "keep" if state.mode == "enforce" else "baseline"
    return "previous"


def rollback(state, layout, *, target="previous", allow_unconfined=False, apparmor=True, seccomp=True,
             have_version=None):
    """Rollback: returns ``(new state, where)`` with ``where`` from :func:`rollback_to`."""
    if target == "unconfined" and not allow_unconfined:
        raise TransitionRefused(
            "rollback_target=unconfined removes all AppArmor and seccomp confinement and is refused; set "
            "confine_rollback_allow_unconfined=true only for a diagnostic run.")
    where = rollback_to(state, target, have_version)
    if where == "keep":
        return state, where
    mode = "enforce" if where == "previous" else where
    new = state.replace(container=layout.name, mode=mode,
                        version=state.good_version if where == "previous" else state.version,
                        rolled_back_from=state.version, **runs_under(mode, layout, apparmor, seccomp))
    return new, where


def describe_rollback(where, state, target="previous", apparmor=True):
    """Where a rollback took the container, for the runbook's report (``state`` is the state after it)."""
    if where == "keep":
        return "kept at version %s, which passed verify" % state.version
    if where == "previous":
        return "to version %s, its last good one" % state.version
    if where == "unconfined":
        return "to UNCONFINED (diagnostic rollback)"
    return "to the baseline (%sDocker's default seccomp%s)" % (
        "docker-default, " if apparmor else "", "; no good version to go back to" if target == "previous" else "")


TRANSITIONS = {
    "start_trial": start_trial,
    "record_review": record_review,
    "enforce": enforce,
    "record_good": record_good,
    "rollback": rollback,
}


# --- the file ---------------------------------------------------------------------------------------------------

def read(layout):
    """``(state, info)`` of the container's state.json; ``info``: ``exists``, ``migrated``. A missing file is an
    empty state. Raises StateError when the file cannot be read or is not a valid state."""
    path = layout.state_file
    try:
        text = _io.read_text(path, max_bytes=STATE_MAX)
    except (OSError, _io.WriteError) as exc:
        raise StateError(path, "cannot be read (%s)" % (exc.strerror or exc if isinstance(exc, OSError) else exc)) \
            from None
    if text is None:
        return State(), {"exists": False, "migrated": False}
    state, migrated = parse(text, path, layout.name)
    return state, {"exists": True, "migrated": migrated}


def _validate_written(layout):
    def check(tmp):
        with open(tmp, encoding="utf-8") as handle:
            parse(handle.read(), layout.state_file, layout.name)
    return check


def write(layout, state, backup=False):
    """Write ``state`` to the container's state.json atomically (validated first, then re-read from the temporary
    file before it replaces the old one). Returns the backup's path when ``backup`` and there was a file."""
    text = dumps(state)
    parse(text, layout.state_file, layout.name)
    # The backup is taken once the new content is accepted: a refused or failed write leaves no copy behind.
    return _io.write_with_backup(layout.state_file, text, backup=backup, mode=FILE_MODE,
                                 validate=_validate_written(layout), dir_mode=DIR_MODE)


def review_inputs(layout, version):
    """``(lost, suspicious)`` of the trial of ``version``: its events file's lost-record notices and how many
    user-space look-alike records it held."""
    path = layout.version_file("events", version)
    try:
        text = _io.read_text(path)
    except (OSError, _io.WriteError) as exc:
        raise TransitionRefused("%s: %s cannot be read (%s)" % (layout.name, path, exc)) from None
    if text is None:
        raise TransitionRefused("%s: the trial of version %d has no events (%s): run the collect stage first"
                                % (layout.name, version, path))
    try:
        events = json.loads(text)
    except ValueError as exc:
        raise TransitionRefused("%s: %s is not valid JSON (%s): run the collect stage again"
                                % (layout.name, path, exc)) from None
    if not isinstance(events, dict) or not isinstance(events.get("lost", []), list) \
            or not isinstance(events.get("suspicious", []), list):
        raise TransitionRefused("%s: %s is not what the collect stage writes (an object with lists lost and "
                                "suspicious): run the collect stage again" % (layout.name, path))
    suspicious = 0
    for entry in events.get("suspicious", []):
        count = entry.get("count") if isinstance(entry, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TransitionRefused("%s: %s has a suspicious entry without a count: %r" % (layout.name, path, entry))
        suspicious += count
    return events.get("lost", []), suspicious


def apply(layout, transition, check_mode=False, backup=False, **kwargs):
    """Read the container's state, run ``transition`` (a name of TRANSITIONS) with ``kwargs`` and write the result
    when it differs (not in check mode). A file in the layout without ``schema`` is backed up before it is first
    rewritten.

    Returns a dict: ``before``, ``after`` (State), ``changed``, ``migrated``, ``backup`` and, for rollback,
    ``rollback_to``.
    """
    if transition not in TRANSITIONS:
        raise ValueError("unknown transition %r (one of %s)" % (transition, ", ".join(TRANSITIONS)))
    before, info = read(layout)
    outcome = TRANSITIONS[transition](before, layout, **kwargs)
    result = {"before": before, "migrated": info["migrated"], "backup": None}
    if transition == "rollback":
        outcome, result["rollback_to"] = outcome
    result["after"] = outcome
    result["changed"] = outcome.to_dict() != before.to_dict() or not info["exists"]
    if result["changed"] and not check_mode:
        result["backup"] = write(layout, outcome, backup=backup or info["migrated"])
    return result
