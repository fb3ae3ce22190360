# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The confinement mechanisms the runbook drives, one unit each, and the registry that the state, the stages and
verify iterate over.

A mechanism says:

- whether it is on for a host (:meth:`Mechanism.enabled`, from the stage's switches) and whether an entry's profile
  has version files that a trial widens (:meth:`Mechanism.versioned`; an opaque AppArmor seed has none);
- how a version is rendered and installed for a mode, as the module and the arguments that do it on the host
  (:meth:`Mechanism.seed_step` writes version 1 from the entry's seed, :meth:`Mechanism.install_step` deploys a
  version in its trial or enforcing form); ``confine.docker.container_profiles`` runs them in registry order;
- which Docker security options run a container under it in each mode (:meth:`Mechanism.security_opts`) and what
  ``state.json`` records it runs under (:meth:`Mechanism.runs_under`);
- which events widen it (:attr:`Mechanism.events`, the collector's buckets) and which checks of
  ``container_verify`` it owns (:attr:`Mechanism.verify_checks`), with what a verify entry expects of it
  (:meth:`Mechanism.expectation`).

Adding a mechanism is one more unit in :data:`REGISTRY` plus the modules its steps name.

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import abc
import collections
import json

# The trial's modes and the two that are not the runbook's own profiles.
PROFILE_MODES = ("complain", "enforce")
FALLBACK_MODES = ("baseline", "unconfined")
# Seeds of an entry's AppArmor profile that are installed as written and never widened (docs/inventory.md).
OPAQUE_SEEDS = ("src", "content")

Step = collections.namedtuple("Step", "mechanism module args")
Step.__doc__ = """One module run on the host: ``module`` (a FQCN) with ``args``, for ``mechanism``."""


def compact_json(value):
    """``value | to_json(sort_keys=true, separators=[',', ':'])``: the form Docker is given a seccomp profile in."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def apparmor_seed(entry):
    """How an entry seeds its AppArmor profile: ``spec`` (versioned and widened by the trial), ``src`` or
    ``content`` (opaque: installed as written, never widened, no version files)."""
    seed = (entry or {}).get("apparmor") or {}
    for kind in OPAQUE_SEEDS:
        if seed.get(kind) is not None:
            return kind
    return "spec"


class MechanismError(ValueError):
    """A request a mechanism cannot serve (an unknown mode, a profile it needs and was not given)."""


class Mechanism(abc.ABC):
    """One confinement mechanism: a subclass sets the class attributes and implements the abstract methods."""

    #: its name: the key of its switch, its version files (``<name>.v<N>.json``), its events and its state field
    name = ""
    #: the collection module that installs and loads its profile on the host
    module = ""
    #: the buckets of the event collector (``security_events``) whose events widen its profile
    events = ()
    #: the checks of ``container_verify`` it owns (``_verify.MECHANISM_CHECKS``), run when a verify entry expects a
    #: profile of it (the entry's key of the mechanism's name, :meth:`expectation`)
    verify_checks = ()

    def enabled(self, switches):
        """Whether the mechanism is on, from the stage's switches (``{name: bool}``; absent is on)."""
        return bool(switches.get(self.name, True))

    def versioned(self, entry):
        """Whether the entry's profile has version files that the trial widens."""
        del entry
        return True

    @abc.abstractmethod
    def seed_step(self, entry, names):
        """The :class:`Step` that writes version 1 from the entry's seed, or None (nothing to write)."""

    @abc.abstractmethod
    def install_step(self, mode, entry, names, *, opaque=False, version_text=None, seed_pending=False,
                     backup=False):
        """The :class:`Step` that deploys the version named by ``names['files']`` in ``mode`` (complain, enforce).

        ``version_text`` is the version file's content when :meth:`reads` named it; ``seed_pending`` says that the
        version file is not on the host yet (check mode of a first trial), so the seed stands in for it.
        """

    def reads(self, mode, names, *, opaque=False, seed_pending=False):
        """A version file whose content :meth:`install_step` needs (read on the host first), or None."""
        del mode, names, opaque, seed_pending
        return None

    @abc.abstractmethod
    def security_opts(self, mode, names, result=None):
        """The Docker security options of the container in ``mode``; ``result`` is what the install step
        returned (the deployed profile), when one ran."""

    @abc.abstractmethod
    def runs_under(self, mode, layout, enabled=True):
        """What state.json records as the profile the container runs under in ``mode``."""

    @abc.abstractmethod
    def expectation(self, names, enabled=True):
        """The keys of a ``container_verify`` entry that this mechanism's checks read."""


def _check_mode(mode, allowed=PROFILE_MODES + FALLBACK_MODES):
    if mode not in allowed:
        raise MechanismError("no such mode %r (one of %s)" % (mode, ", ".join(allowed)))


class AppArmor(Mechanism):
    """An AppArmor profile per container: spec versions in ``apparmor.v<N>.json`` rendered on the controller
    (``confine.docker.apparmor_profile``), complain mode in the trial, enforce after it; Docker's docker-default as
    the baseline."""

    name = "apparmor"
    module = "confine.docker.apparmor_profile"
    events = ("apparmor",)
    verify_checks = ("apparmor", "apparmor_kernel")

    def versioned(self, entry):
        return apparmor_seed(entry) not in OPAQUE_SEEDS

    def _seed_spec(self, entry, names):
        return dict((entry.get("apparmor") or {}).get("spec") or {}, name=names["profile"])

    def seed_step(self, entry, names):
        if not self.versioned(entry):
            return None
        text = json.dumps(self._seed_spec(entry, names), indent=4, sort_keys=True) + "\n"
        return Step(self.name, "confine.docker.state_file",
                    {"path": names["files"][self.name], "content": text, "mode": "0640"})

    def reads(self, mode, names, *, opaque=False, seed_pending=False):
        _check_mode(mode, PROFILE_MODES)
        if opaque or seed_pending:
            return None
        return names["files"][self.name]

    def install_step(self, mode, entry, names, *, opaque=False, version_text=None, seed_pending=False,
                     backup=False):
        _check_mode(mode, PROFILE_MODES)
        del backup  # the module keeps the previous profile itself and puts it back when the kernel refuses one
        args = {"name": names["profile"], "path": names["apparmor_file"], "mode": mode}
        if opaque:
            # The entry's own profile: installed as written by the trial, switched as installed after it.
            if mode == "complain":
                seed = entry.get("apparmor") or {}
                args.update({key: seed[key] for key in OPAQUE_SEEDS if seed.get(key) is not None})
        elif seed_pending:
            args["spec"] = self._seed_spec(entry, names)
        else:
            if version_text is None:
                raise MechanismError("%s: the AppArmor spec of %s was not read" % (names["name"],
                                                                                   names["files"][self.name]))
            try:
                args["spec"] = json.loads(version_text)
            except ValueError as exc:
                raise MechanismError("%s: %s is not a JSON AppArmor spec: %s"
                                     % (names["name"], names["files"][self.name], exc)) from exc
        return Step(self.name, self.module, args)

    def security_opts(self, mode, names, result=None):
        del result
        _check_mode(mode)
        if mode == "unconfined":
            return ["apparmor=unconfined"]
        if mode == "baseline":
            return ["apparmor=docker-default"]
        return ["apparmor=" + names["profile"]]

    def runs_under(self, mode, layout, enabled=True):
        _check_mode(mode)
        if mode == "unconfined":
            return "unconfined"
        if not enabled:
            return None
        return "docker-default" if mode == "baseline" else layout.profile

    def expectation(self, names, enabled=True):
        return {"apparmor": names["profile"] if enabled else None}


class Seccomp(Mechanism):
    """A seccomp profile per container: versions in ``seccomp.v<N>.json`` in their enforcing form
    (``confine.docker.seccomp_profile``), deployed with ``SCMP_ACT_LOG`` as the default action in the trial and
    ``SCMP_ACT_ERRNO`` after it, and given to Docker as JSON; Docker's default profile as the baseline."""

    name = "seccomp"
    module = "confine.docker.seccomp_profile"
    events = ("seccomp",)
    verify_checks = ("seccomp", "seccomp_kernel")

    @staticmethod
    def _seed(entry):
        seed = entry.get("seccomp") or {}
        return {"base": seed.get("base") or "docker_default", "allow": list(seed.get("allow") or ()),
                "deny": list(seed.get("deny") or ()), "drop_groups": list(seed.get("drop_groups") or ())}

    def seed_step(self, entry, names):
        args = dict(self._seed(entry), path=names["files"][self.name], mode="enforce", file_mode="0640")
        return Step(self.name, self.module, args)

    def install_step(self, mode, entry, names, *, opaque=False, version_text=None, seed_pending=False,
                     backup=False):
        _check_mode(mode, PROFILE_MODES)
        del opaque, version_text
        # In the trial the default action logs (nothing blocked, everything logged); in check mode a first trial's
        # version file is not written yet, so the seed shows what it would hold.
        args = self._seed(entry) if seed_pending else {"base": names["files"][self.name]}
        args.update(path=names["seccomp_file"], mode="log" if mode == "complain" else "enforce")
        if backup:
            args["backup"] = True
        return Step(self.name, self.module, args)

    def security_opts(self, mode, names, result=None):
        _check_mode(mode)
        if mode == "unconfined":
            return ["seccomp=unconfined"]
        if mode == "baseline":
            return []  # Docker's default profile: no option
        profile = (result or {}).get("profile")
        if profile is None:
            if mode == "enforce":
                raise MechanismError("the enforcing seccomp profile of %s is needed for its security options"
                                     % names["profile"])
            return []  # a trial's profile that is not known yet (check mode) is left out
        if not isinstance(profile, dict):
            raise MechanismError("the seccomp profile must be a JSON object, got %s" % type(profile).__name__)
        return ["seccomp=" + compact_json(profile)]

    def runs_under(self, mode, layout, enabled=True):
        _check_mode(mode)
        if mode == "unconfined":
            return "unconfined"
        if mode == "baseline":
            return "docker-default"
        if not enabled:
            return "docker-default" if mode == "enforce" else None
        return layout.seccomp_file

    def expectation(self, names, enabled=True):
        return {"seccomp": names["seccomp_file"] if enabled else None}


#: The mechanisms, in the order their profiles are installed and their options given.
REGISTRY = collections.OrderedDict((mechanism.name, mechanism) for mechanism in (AppArmor(), Seccomp()))
NAMES = tuple(REGISTRY)


def get(name):
    try:
        return REGISTRY[name]
    except KeyError:
        raise MechanismError("no mechanism %r (one of %s)" % (name, ", ".join(NAMES))) from None


def switches(**given):
    """``{name: bool}`` for every mechanism, from keyword switches (an absent one is on); unknown names refused."""
    unknown = sorted(set(given) - set(NAMES))
    if unknown:
        raise MechanismError("no mechanism %s (one of %s)" % (", ".join(map(repr, unknown)), ", ".join(NAMES)))
    return {name: bool(given.get(name, True)) for name in NAMES}


def enabled(on):
    """The names of the mechanisms that ``on`` (``{name: bool}``) switches on, in registry order."""
    return [name for name, mechanism in REGISTRY.items() if mechanism.enabled(on)]


def versioned(entry, on):
    """The enabled mechanisms whose profile has version files (all of them without ``entry``)."""
    return [name for name in enabled(on) if entry is None or REGISTRY[name].versioned(entry)]


def security_opts(mode, names, on, results=None):
    """The ``security_opts`` a container runs with in ``mode``: each enabled mechanism's options, in registry order,
    then ``no-new-privileges:true`` in the runbook's own modes.

    ``results`` maps a mechanism to what its install step returned. baseline: Docker's own confinement for the
    enabled mechanisms; unconfined: none of any mechanism, whatever the switches (the diagnostic rollback).
    """
    _check_mode(mode)
    results = results or {}
    opts = []
    for name, mechanism in REGISTRY.items():
        if mode == "unconfined" or mechanism.enabled(on):
            opts.extend(mechanism.security_opts(mode, names, results.get(name)))
    if mode in PROFILE_MODES:
        opts.append("no-new-privileges:true")
    return opts


def runs_under(mode, layout, on):
    """``{name: value}``: what state.json records as the profile of each mechanism in ``mode``."""
    return {name: mechanism.runs_under(mode, layout, mechanism.enabled(on)) for name, mechanism in REGISTRY.items()}


def expectations(names, on):
    """The keys of a ``container_verify`` entry that the mechanisms' checks read, for the container of ``names``."""
    expected = {}
    for mechanism in REGISTRY.values():
        expected.update(mechanism.expectation(names, mechanism.enabled(on)))
    return expected


def event_kinds(on):
    """The event buckets that widen the enabled mechanisms."""
    return [kind for name in enabled(on) for kind in REGISTRY[name].events]
