# Copyright: confine.docker contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Adoption: the ``community.docker.docker_container`` parameters that recreate a running container as it is.

To confine a container a user already runs, the runbook must recreate it with its security options, and with
nothing else changed. :func:`parameters` takes the container's ``docker inspect`` object (and, optionally, its
image's, and the host's other containers by id) and returns the module's parameters: ``name``, ``image`` and every
option the container was created with - command and entrypoint, environment, bind mounts, volumes, ``--mount``
mounts and tmpfs, published and exposed ports, network mode, networks with their aliases, addresses and links,
restart policy, labels, resources (memory, CPU, pids, shm, blkio weight, OOM settings), ulimits, sysctls, devices
and device cgroup rules, log driver and options, health check, user, working directory, hostname and domain name,
capabilities, DNS, extra hosts, groups, stop signal and timeout, init, read-only root, tty and stdin, namespaces
(pid, ipc, uts, userns, cgroupns), runtime, cgroup parent, volumes from other containers, storage options.
:func:`entry` gives the same as a ``confine_containers`` entry (``name``, ``image``, ``run``).

The security options are the runbook's and are left out: ``seccomp=``, ``apparmor=`` and ``no-new-privileges``
(``label=`` and ``systempaths=`` are carried over, the runbook merges them with its own), and Docker's own
``AppArmorProfile``, ``MaskedPaths`` and ``ReadonlyPaths`` that follow from them. With the image's ``docker
inspect``, what the container only inherited from its image (environment, labels, command, entrypoint, exposed
ports, volumes, health check, user, working directory, stop signal) is left to the image, as ``docker run`` leaves
it; without it the container's full values are carried, which recreates the same configuration too.

Whatever cannot be carried over faithfully raises :class:`AdoptError` listing every such item, before anything is
stopped: a privileged container (the runbook refuses those), a namespace shared with a container that is gone
(``network_mode: container:<id>``, ``pid_mode``, ``ipc_mode``), anonymous volumes (a recreated container would get
new, empty ones; ``reattach_anonymous=True`` names them instead), an image tag that now names another image, and
any field of ``Config`` or ``HostConfig`` this mapping does not know that holds a value other than its neutral one
(so a container made by a newer engine, or with options such as real-time CPU scheduling or blkio device limits,
is refused rather than recreated without them).

Plain Python, no Ansible imports.
"""

from __future__ import annotations

import copy
import json
import os

from ansible_collections.confine.docker.plugins.module_utils._entries import OWNED_SECURITY_OPTS, security_opt_key
from ansible_collections.confine.docker.plugins.module_utils._io import ReadError, read_text


class AdoptError(ValueError):
    """A container whose configuration cannot be carried over faithfully; ``problems`` lists every reason."""

    def __init__(self, name, problems):
        self.name = name
        self.problems = list(problems)
        super().__init__("container %r cannot be adopted as it is: %s" % (name, "; ".join(self.problems)))


def _neutral(value):
    return value in (None, "", 0, False) or value == [] or value == {}


def duration(nanoseconds):
    """A Docker duration in nanoseconds as community.docker writes durations (``30s``, ``1500ms``)."""
    value = int(nanoseconds)
    for unit, size in (("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if value % size == 0:
            return "%d%s" % (value // size, unit)
    raise ValueError("duration %d ns is finer than a microsecond" % value)


def _port_key(port):
    number, _sep, proto = port.partition("/")
    return number, proto or "tcp"


def _published(port, binding):
    number, proto = _port_key(port)
    target = number if proto == "tcp" else "%s/%s" % (number, proto)
    host_ip, host_port = binding.get("HostIp") or "", binding.get("HostPort") or ""
    if ":" in host_ip:
        host_ip = "[%s]" % host_ip
    if host_ip:
        return "%s:%s:%s" % (host_ip, host_port, target)
    if host_port:
        return "%s:%s" % (host_port, target)
    return target


class _Mapper:
    """One container's mapping; collects every problem before failing."""

    def __init__(self, inspect, image, containers, reattach_anonymous):
        self.inspect = inspect
        self.config = dict(inspect.get("Config") or {})
        self.host = dict(inspect.get("HostConfig") or {})
        self.image = (image or {}).get("Config") or {} if image else None
        self.image_id = (image or {}).get("Id")
        self.containers = containers
        self.reattach_anonymous = reattach_anonymous
        self.name = (inspect.get("Name") or "").lstrip("/")
        self.params = {}
        self.problems = []
        self.seen_config = set()
        self.seen_host = set()

    # -- helpers ---------------------------------------------------------------------------------------------------
    def cfg(self, key):
        self.seen_config.add(key)
        return self.config.get(key)

    def hc(self, key):
        self.seen_host.add(key)
        return self.host.get(key)

    def inherited(self, key, value):
        """Whether ``value`` of Config ``key`` is the image's own (left to the image)."""
        return self.image is not None and value == self.image.get(key)

    def set(self, name, value):
        if not _neutral(value):
            self.params[name] = value

    def shared_namespace(self, option, mode):
        if not isinstance(mode, str) or not mode.startswith("container:"):
            return mode
        target = mode.split(":", 1)[1]
        if self.containers is None:
            self.problems.append("%s %r: the container it shares is not known (pass the host's containers)"
                                 % (option, mode))
            return mode
        name = _resolve(target, self.containers)
        if name is not None:
            return "container:%s" % name
        self.problems.append("%s %r: the container whose namespace it shares is gone" % (option, mode))
        return mode

    # -- the mapping -----------------------------------------------------------------------------------------------
    def run(self):
        self.params["name"] = self.name
        self.image_and_command()
        self.environment_and_labels()
        self.process()
        self.storage()
        self.network()
        self.resources()
        self.security()
        self.logging_and_health()
        self.unknown()
        if self.problems:
            raise AdoptError(self.name, self.problems)
        return self.params

    def image_and_command(self):
        image = self.cfg("Image")
        self.params["image"] = image
        if self.image_id and self.inspect.get("Image") and self.inspect["Image"] != self.image_id:
            self.problems.append("image %r now names %s, not the %s the container was created from"
                                 % (image, self.image_id, self.inspect["Image"]))
        entrypoint, command = self.cfg("Entrypoint"), self.cfg("Cmd")
        if not self.inherited("Entrypoint", entrypoint):
            # Docker drops the image's command when the entrypoint is set: carry the command with it.
            self.params["entrypoint"] = list(entrypoint or [])
            if command:
                self.params["command"] = list(command)
        elif not self.inherited("Cmd", command):
            self.params["command"] = list(command or [])

    def environment_and_labels(self):
        image_env = set((self.image or {}).get("Env") or ())
        env = {}
        for item in self.cfg("Env") or ():
            if item in image_env:
                continue
            key, _sep, value = item.partition("=")
            env[key] = value
        self.set("env", env)
        image_labels = (self.image or {}).get("Labels") or {}
        labels = {k: v for k, v in (self.cfg("Labels") or {}).items() if image_labels.get(k, object()) != v}
        self.set("labels", labels)

    def process(self):
        cid = self.inspect.get("Id") or ""
        hostname = self.cfg("Hostname")
        mode = str(self.host.get("NetworkMode") or "")
        # Docker sets the host's (or the other container's) hostname with a shared UTS or network namespace.
        shared = mode == "host" or mode.startswith("container:") or self.host.get("UTSMode") == "host"
        if hostname and hostname != cid[:12] and not shared:
            self.params["hostname"] = hostname
        self.set("domainname", self.cfg("Domainname"))
        for key, name in (("User", "user"), ("WorkingDir", "working_dir"), ("StopSignal", "stop_signal")):
            value = self.cfg(key)
            if not self.inherited(key, value):
                self.set(name, value)
        self.set("stop_timeout", self.cfg("StopTimeout"))
        self.set("tty", self.cfg("Tty"))
        self.set("interactive", self.cfg("OpenStdin"))
        self.set("mac_address", self.cfg("MacAddress"))
        shell = self.cfg("Shell")
        if shell and not self.inherited("Shell", shell):
            self.problems.append("Config.Shell %r is not the image's and docker_container cannot set it" % (shell,))
        self.set("init", self.hc("Init"))
        self.set("auto_remove", self.hc("AutoRemove"))
        self.set("groups", list(self.hc("GroupAdd") or []))
        self.set("runtime", self.hc("Runtime"))
        self.set("cgroup_parent", self.hc("CgroupParent"))
        self.set("cgroupns_mode", self.hc("CgroupnsMode"))
        self.set("pid_mode", self.shared_namespace("pid_mode", self.hc("PidMode")))
        self.set("ipc_mode", self.shared_namespace("ipc_mode", self.hc("IpcMode")))
        self.set("uts", self.hc("UTSMode"))
        self.set("userns_mode", self.hc("UsernsMode"))
        policy = self.hc("RestartPolicy") or {}
        if policy.get("Name") not in (None, ""):
            self.params["restart_policy"] = policy["Name"]
            self.set("restart_retries", policy.get("MaximumRetryCount"))

    def storage(self):
        binds = list(self.hc("Binds") or [])
        mounts = self.hc("Mounts") or []
        tmpfs = self.hc("Tmpfs") or {}
        bound = {bind.split(":")[1] if ":" in bind else bind for bind in binds}
        bound.update(mount.get("Target") for mount in mounts)
        bound.update(tmpfs)
        image_volumes = set((self.image or {}).get("Volumes") or {})
        volumes = list(binds)
        anonymous = []
        for mount in self.inspect.get("Mounts") or ():
            destination = mount.get("Destination")
            if mount.get("Type") != "volume" or destination in bound:
                continue
            # An anonymous volume: from the image's VOLUME or from `-v /path`.
            if self.reattach_anonymous:
                volumes.append("%s:%s" % (mount.get("Name"), destination))
            else:
                anonymous.append("%s (volume %s)" % (destination, mount.get("Name")))
        declared = set(self.cfg("Volumes") or {}) - image_volumes - bound
        if not self.reattach_anonymous:
            unbacked = declared - {item.split(" ")[0] for item in anonymous}
            anonymous.extend(sorted(unbacked))
        if anonymous:
            self.problems.append("anonymous volumes %s: a recreated container would get new, empty ones "
                                 "(reattach_anonymous names them)" % ", ".join(anonymous))
        self.set("volumes", volumes)
        self.set("mounts", [self.mount(mount) for mount in mounts])
        self.set("tmpfs", ["%s:%s" % (path, opts) if opts else path for path, opts in tmpfs.items()])
        self.set("volumes_from", list(self.hc("VolumesFrom") or []))
        self.set("volume_driver", self.hc("VolumeDriver"))
        self.set("storage_opts", self.hc("StorageOpt"))
        self.set("read_only", self.hc("ReadonlyRootfs"))

    def mount(self, mount):
        known = {"Type", "Source", "Target", "ReadOnly", "Consistency", "BindOptions", "VolumeOptions",
                 "TmpfsOptions"}
        for key in sorted(set(mount) - known):
            if not _neutral(mount[key]):
                self.problems.append("mount %s: %s is not known to this mapping" % (mount.get("Target"), key))
        result = {"target": mount["Target"], "type": mount.get("Type") or "volume"}
        if mount.get("Source"):
            result["source"] = mount["Source"]
        if mount.get("ReadOnly"):
            result["read_only"] = True
        if mount.get("Consistency"):
            result["consistency"] = mount["Consistency"]
        bind = dict(mount.get("BindOptions") or {})
        if bind.pop("Propagation", None):
            result["propagation"] = mount["BindOptions"]["Propagation"]
        if bind.pop("NonRecursive", None):
            result["non_recursive"] = True
        if bind.pop("CreateMountpoint", None):
            result["create_mountpoint"] = True
        volume = dict(mount.get("VolumeOptions") or {})
        if volume.pop("NoCopy", None):
            result["no_copy"] = True
        if volume.get("Labels"):
            result["labels"] = volume.pop("Labels")
        driver = volume.pop("DriverConfig", None) or {}
        if driver.get("Name"):
            result["volume_driver"] = driver["Name"]
        if driver.get("Options"):
            result["volume_options"] = driver["Options"]
        tmpfs = dict(mount.get("TmpfsOptions") or {})
        if tmpfs.get("SizeBytes"):
            result["tmpfs_size"] = str(tmpfs.pop("SizeBytes"))
        if tmpfs.get("Mode"):
            result["tmpfs_mode"] = "%o" % tmpfs.pop("Mode")
        for key, value in sorted({**bind, **volume, **tmpfs}.items()):
            if not _neutral(value):
                self.problems.append("mount %s: option %s is not known to this mapping" % (mount["Target"], key))
        return result

    def network(self):
        mode = self.shared_namespace("network_mode", self.hc("NetworkMode"))
        if mode not in (None, "", "default"):
            self.params["network_mode"] = mode
        cid = self.inspect.get("Id") or ""
        networks = []
        own = {"host", "none", "bridge", "default"}
        if not str(mode).startswith("container:") and mode not in ("host", "none"):
            for name, net in ((self.inspect.get("NetworkSettings") or {}).get("Networks") or {}).items():
                if name in own:
                    continue
                item = {"name": name}
                aliases = [a for a in net.get("Aliases") or () if a not in (cid[:12], self.name)]
                if aliases:
                    item["aliases"] = aliases
                ipam = net.get("IPAMConfig") or {}
                if ipam.get("IPv4Address"):
                    item["ipv4_address"] = ipam["IPv4Address"]
                if ipam.get("IPv6Address"):
                    item["ipv6_address"] = ipam["IPv6Address"]
                if net.get("Links"):
                    item["links"] = list(net["Links"])
                networks.append(item)
        self.set("networks", networks)
        self.set("links", ["%s:%s" % (link.split(":")[0].lstrip("/"), link.split(":")[1].rsplit("/", 1)[-1])
                           for link in self.hc("Links") or ()])
        image_exposed = set((self.image or {}).get("ExposedPorts") or {})
        bindings = self.hc("PortBindings") or {}
        published = [_published(port, binding) for port, items in sorted(bindings.items()) for binding in items or ()]
        self.set("published_ports", published)
        if any(not binding.get("HostIp") for items in bindings.values() for binding in items or ()):
            # An empty HostIp is every address (IPv4 and IPv6); community.docker would otherwise write 0.0.0.0.
            self.params["default_host_ip"] = ""
        exposed = [port for port in sorted(self.cfg("ExposedPorts") or {})
                   if port not in bindings and port not in image_exposed]
        self.set("exposed_ports", exposed)
        self.set("publish_all_ports", self.hc("PublishAllPorts"))
        self.set("dns_servers", list(self.hc("Dns") or []))
        self.set("dns_search_domains", list(self.hc("DnsSearch") or []))
        self.set("dns_opts", list(self.hc("DnsOptions") or []))
        hosts = {}
        for item in self.hc("ExtraHosts") or ():
            host, _sep, address = item.partition(":")
            if host in hosts:
                self.problems.append("extra host %r is given twice (etc_hosts takes one address per name)" % host)
            hosts[host] = address
        self.set("etc_hosts", hosts)

    def resources(self):
        for key, name in (("Memory", "memory"), ("MemoryReservation", "memory_reservation"),
                          ("MemorySwap", "memory_swap"), ("ShmSize", "shm_size"), ("KernelMemory", "kernel_memory")):
            value = self.hc(key)
            if value:
                self.params[name] = str(value)
        swappiness = self.hc("MemorySwappiness")
        if swappiness not in (None, -1):
            self.params["memory_swappiness"] = swappiness
        nano = self.hc("NanoCpus")
        if nano:
            self.params["cpus"] = nano / 1e9
        for key, name in (("CpuShares", "cpu_shares"), ("CpuPeriod", "cpu_period"), ("CpuQuota", "cpu_quota"),
                          ("CpusetCpus", "cpuset_cpus"), ("CpusetMems", "cpuset_mems"),
                          ("BlkioWeight", "blkio_weight"), ("OomScoreAdj", "oom_score_adj")):
            self.set(name, self.hc(key))
        pids = self.hc("PidsLimit")
        if pids not in (None, 0, -1):
            self.params["pids_limit"] = pids
        if self.hc("OomKillDisable"):
            self.params["oom_killer"] = True  # community.docker's oom_killer is Docker's OomKillDisable
        self.set("ulimits", ["%s:%d:%d" % (u["Name"], u["Soft"], u["Hard"]) for u in self.hc("Ulimits") or ()])
        self.set("sysctls", dict(self.hc("Sysctls") or {}))
        self.set("devices", ["%s:%s:%s" % (d["PathOnHost"], d["PathInContainer"], d["CgroupPermissions"])
                             for d in self.hc("Devices") or ()])
        self.set("device_cgroup_rules", list(self.hc("DeviceCgroupRules") or []))
        requests = []
        for request in self.hc("DeviceRequests") or ():
            item = {"driver": request.get("Driver"), "count": request.get("Count"),
                    "device_ids": request.get("DeviceIDs"), "capabilities": request.get("Capabilities"),
                    "options": request.get("Options")}
            requests.append({key: value for key, value in item.items() if not _neutral(value)})
        self.set("device_requests", requests)

    def security(self):
        if self.hc("Privileged"):
            self.problems.append("it is privileged: the runbook confines no privileged container (Docker runs it "
                                 "without seccomp and with every capability and device)")
        self.set("capabilities", list(self.hc("CapAdd") or []))
        self.set("cap_drop", list(self.hc("CapDrop") or []))
        kept = [opt for opt in self.hc("SecurityOpt") or () if security_opt_key(opt) not in OWNED_SECURITY_OPTS]
        self.set("security_opts", kept)
        # Docker derives these from the security options and privileged.
        self.seen_host.update(("MaskedPaths", "ReadonlyPaths"))

    def logging_and_health(self):
        log = self.hc("LogConfig") or {}
        self.set("log_driver", log.get("Type"))
        self.set("log_options", dict(log.get("Config") or {}))
        health = self.cfg("Healthcheck")
        if health and not self.inherited("Healthcheck", health):
            result = {"test": list(health.get("Test") or [])}
            for key, name in (("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "start_period"),
                              ("StartInterval", "start_interval")):
                if health.get(key):
                    result[name] = duration(health[key])
            if health.get("Retries"):
                result["retries"] = health["Retries"]
            for key in sorted(set(health) - {"Test", "Interval", "Timeout", "StartPeriod", "StartInterval",
                                             "Retries"}):
                if not _neutral(health[key]):
                    self.problems.append("healthcheck %s is not known to this mapping" % key)
            self.params["healthcheck"] = result

    # Fields Docker fills itself, or that the docker CLI alone uses: never an option to carry over.
    IGNORED_CONFIG = {"AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce", "OnBuild", "ArgsEscaped"}
    IGNORED_HOST = {"ConsoleSize", "ContainerIDFile", "Isolation"}

    def unknown(self):
        for section, values, seen, ignored in (("Config", self.config, self.seen_config, self.IGNORED_CONFIG),
                                               ("HostConfig", self.host, self.seen_host, self.IGNORED_HOST)):
            for key in sorted(set(values) - seen - ignored):
                if not _neutral(values[key]):
                    self.problems.append("%s.%s = %r is not known to this mapping" % (section, key, values[key]))


def parameters(inspect, image=None, containers=None, reattach_anonymous=False):
    """The ``community.docker.docker_container`` parameters (``name`` and ``image`` included) that recreate the
    container of ``inspect`` (one object of ``docker inspect``) as it is, minus the runbook's security options.

    ``image`` is the ``docker image inspect`` object of its image (what the container inherited is then left to the
    image); ``containers`` maps the host's container ids to names, to resolve a namespace shared with another
    container (``container:<id>``) to that container's name. Raises AdoptError listing whatever cannot be carried
    over faithfully.
    """
    if not isinstance(inspect, dict) or "Config" not in inspect or "HostConfig" not in inspect:
        raise AdoptError(str((inspect or {}).get("Name") if isinstance(inspect, dict) else inspect),
                         ["not a container's docker inspect object (no Config and HostConfig)"])
    return _Mapper(copy.deepcopy(inspect), image, containers, reattach_anonymous).run()


def entry(inspect, image=None, containers=None, reattach_anonymous=False):
    """The ``confine_containers`` entry of the container: ``name``, ``image`` and its ``run``."""
    params = parameters(inspect, image, containers, reattach_anonymous)
    name, image_name = params.pop("name"), params.pop("image")
    return {"name": name, "image": image_name, "run": params}


# -- the record of an adopted container ---------------------------------------------------------------------------
# The first run that adopts a container keeps what it read in <state dir>/<name>/adopted.json; every later stage and
# run (and rollback) recreates the container from that record, not from the container as it then is (which runs
# under the runbook's confinement by then, with CAP_AUDIT_WRITE dropped).
RECORD_SCHEMA = 1
RECORD_FILE = "adopted.json"


def record(inspect, image=None, containers=None, reattach_anonymous=False):
    """The record of an adopted container: its entry (:func:`entry`) and the ids it was read from."""
    return {
        "schema": RECORD_SCHEMA,
        "entry": entry(inspect, image, containers, reattach_anonymous),
        "container_id": inspect.get("Id"),
        "image_id": inspect.get("Image"),
    }


def dumps(data):
    """The record's text, as written: stable key order, so that the same record is the same bytes."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def parse_record(text, name, path=RECORD_FILE):
    """The record in ``text`` (read from ``path``) of the container ``name``; raises AdoptError naming the file."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AdoptError(name, ["%s is not JSON (%s): move it aside to adopt the container again as it now runs"
                                % (path, exc)]) from exc
    problems = []
    if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA:
        problems.append("%s is not a record of schema %d" % (path, RECORD_SCHEMA))
    else:
        item = data.get("entry")
        if not isinstance(item, dict) or item.get("name") != name or not isinstance(item.get("image"), str) \
                or not isinstance(item.get("run"), dict):
            problems.append("%s does not hold the entry of container %r (name, image, run)" % (path, name))
    if problems:
        raise AdoptError(name, problems)
    return data


def adopted_names(containers):
    """The names of the entries with ``adopt: true``, in order."""
    return [entry["name"] for entry in containers if isinstance(entry, dict) and entry.get("adopt") is True]


def complete_all(containers, adopted):
    """The entries with each adopted one completed (:func:`complete`) from ``adopted`` (entries by :func:`resolve`,
    in any order); the others as they are."""
    by_name = {item["name"]: item for item in adopted}
    return [complete(entry, by_name[entry["name"]]) if entry.get("adopt") is True else entry for entry in containers]


def complete(user_entry, adopted):
    """The declared entry of an adopted one: the user's keys (workload, health, seeds, approve) with the adopted
    ``image`` and ``run``; ``adopt`` itself is dropped, so that the stages see one kind of entry."""
    result = {key: value for key, value in user_entry.items() if key != "adopt"}
    result["image"] = adopted["image"]
    result["run"] = copy.deepcopy(adopted["run"])
    return result


class AdoptionError(ValueError):
    """Containers that cannot be adopted; ``problems`` lists each, by container."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def resolve(names, records, inspects, images=None, containers=None):
    """The entries of the adopted containers ``names``, in order, and the records to write.

    ``records`` maps a name to the text of its ``adopted.json`` (absent or None when there is none: the container
    is read then), ``inspects`` a name to its ``docker inspect`` object (None when Docker has no such container),
    ``images`` an image id to its ``docker image inspect`` object, ``containers`` the host's container ids to names.
    Returns ``(entries, new_records)``: ``entries`` as :func:`entry` gives them, ``new_records`` name -> record text
    of each container read from Docker. Raises AdoptionError listing every container that cannot be adopted, so
    that nothing is written or stopped for any of them.
    """
    entries, new_records, problems = [], {}, []
    for name in names:
        text = (records or {}).get(name)
        try:
            if text is not None:
                entries.append(parse_record(text, name, "%s/%s" % (name, RECORD_FILE))["entry"])
                continue
            inspect = (inspects or {}).get(name)
            if inspect is None:
                raise AdoptError(name, ["there is no such container on the host: adopt takes a container that "
                                        "exists (running or created); declare it with image and run instead"])
            data = record(inspect, (images or {}).get(inspect.get("Image")), containers)
        except AdoptError as exc:
            problems.append(str(exc))
            continue
        entries.append(data["entry"])
        new_records[name] = dumps(data)
    if problems:
        raise AdoptionError(problems)
    return entries, new_records


def _inspect(run, docker, kind, ident):
    """One object of ``docker <kind> inspect`` (None when Docker has no such object)."""
    rc, out, err = run([docker, kind, "inspect", "--", ident])
    if rc != 0:
        if "no such" in err.lower():
            return None
        raise AdoptionError(["docker %s inspect %s failed: %s" % (kind, ident, err.strip() or "rc=%d" % rc)])
    try:
        data = json.loads(out)
    except ValueError as exc:
        raise AdoptionError(["docker %s inspect %s gave no JSON: %s" % (kind, ident, exc)]) from exc
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None


def host_containers(run, docker="docker"):
    """id -> name of every container on the host (``docker ps -a``)."""
    rc, out, err = run([docker, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])
    if rc != 0:
        raise AdoptionError(["docker ps failed: %s" % (err.strip() or "rc=%d" % rc)])
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def read_host(names, records, run, docker="docker", containers=None):
    """What :func:`resolve` needs from Docker for the ``names`` that have no record: ``(inspects, images,
    containers)``; ``containers`` is :func:`host_containers`' result when the caller has it already.
    ``run(argv)`` runs a command and returns ``(rc, stdout, stderr)``."""
    inspects, images = {}, {}
    for name in names:
        if (records or {}).get(name) is not None:
            continue
        inspects[name] = _inspect(run, docker, "container", name)
        image = (inspects[name] or {}).get("Image")
        if image and image not in images:
            images[image] = _inspect(run, docker, "image", image)
        if containers is None:
            containers = host_containers(run, docker)
    return inspects, images, containers


def adopt(names, records, run, docker="docker", containers=None):
    """:func:`resolve` of ``names`` with what Docker says of those without a record."""
    return resolve(names, records, *read_host(names, records, run, docker, containers))


def host_sharers(run, docker="docker", containers=None):
    """:func:`sharers` of every container on the host, as Docker says (``containers`` as for :func:`read_host`)."""
    if containers is None:
        containers = host_containers(run, docker)
    if not containers:
        return {}
    rc, out, err = run([docker, "container", "inspect", *containers])
    try:
        inspects = json.loads(out) if out.strip() else []
    except ValueError as exc:
        raise AdoptionError(["docker container inspect gave no JSON: %s" % exc]) from exc
    if rc != 0 and not inspects:  # a container removed meanwhile fails the call, the others are still listed
        raise AdoptionError(["docker container inspect failed: %s" % (err.strip() or "rc=%d" % rc)])
    return sharers([item for item in inspects if isinstance(item, dict)], containers)


def record_path(state_dir, name):
    return os.path.join(state_dir, name, RECORD_FILE)


def read_records(state_dir, names):
    """name -> text of ``<state_dir>/<name>/adopted.json`` for the names that have one. Raises AdoptionError
    naming a record that exists but cannot be read."""
    records, problems = {}, []
    for name in names:
        path = record_path(state_dir, name)
        if not os.path.lexists(path):
            continue
        try:
            records[name] = read_text(path)
        except (ReadError, OSError) as exc:
            problems.append("container %r: cannot read its adoption record %s: %s" % (name, path, exc))
    if problems:
        raise AdoptionError(problems)
    return records


# -- containers that share another's namespaces ---------------------------------------------------------------------
NAMESPACE_MODES = (("NetworkMode", "network"), ("PidMode", "pid"), ("IpcMode", "ipc"))


def _resolve(target, containers):
    for cid, name in containers.items():
        if cid == target or name.lstrip("/") == target or (len(target) >= 12 and cid.startswith(target)):
            return name.lstrip("/")
    return None


def sharers(inspects, containers):
    """``{target: [(sharer, namespace), ...]}``: which containers join the network, pid or ipc namespace of which
    (``--network container:<target>``), by name. ``inspects`` are the host's containers' ``docker inspect``
    objects, ``containers`` maps their ids to names."""
    found = {}
    for data in inspects:
        host = data.get("HostConfig") or {}
        for key, namespace in NAMESPACE_MODES:
            mode = host.get(key)
            if not isinstance(mode, str) or not mode.startswith("container:"):
                continue
            target = _resolve(mode.split(":", 1)[1], containers)
            if target is not None:
                found.setdefault(target, []).append(((data.get("Name") or "").lstrip("/"), namespace))
    return found


def sharer_problems(order, shared):
    """Why recreating the containers of ``order`` (the entries' names, in the order every stage recreates them)
    would leave another container without the namespace it joined: a sharer that is not an entry, or one listed
    before the container it shares (every stage recreates in entry order, and a sharer must be recreated after
    the container it joins). ``shared`` is :func:`sharers`' result."""
    problems = []
    position = {name: index for index, name in enumerate(order)}
    for target in order:
        for sharer, namespace in shared.get(target, ()):
            if sharer not in position:
                problems.append("container %r joins the %s namespace of %r, which the runbook recreates: %r would "
                                "be left without it; add %r to confine_containers after %r, or stop sharing"
                                % (sharer, namespace, target, sharer, sharer, target))
            elif position[sharer] < position[target]:
                problems.append("container %r joins the %s namespace of %r but is listed before it: list %r after "
                                "%r, so that each stage recreates it after the container it joins"
                                % (sharer, namespace, target, sharer, target))
    return problems


def read(names, state_dir, run, docker="docker", order=None):
    """What both container_adopt and container_entries read of the host: the entries of the adopted ``names``
    (from their records in ``state_dir``, or from Docker) and the records to keep, as :func:`adopt`; with ``order``
    (every entry's name, in order) the namespace sharers are checked too (:func:`sharer_problems`). Raises
    AdoptionError with every problem."""
    containers = host_containers(run, docker) if order is not None else None
    entries, new_records = adopt(names, read_records(state_dir, names), run, docker, containers)
    if order is not None:
        problems = sharer_problems(order, host_sharers(run, docker, containers))
        if problems:
            raise AdoptionError(problems)
    return entries, new_records
