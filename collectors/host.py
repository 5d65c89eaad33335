"""The local host, sampled with psutil.

Names keep node_exporter's suffixes, units and labels under the ``upkeep_host_`` prefix, so
node-mixin alerts and dashboards port by a prefix substitution; with ``node_compat`` the core
series are also exposed under node_exporter's own names. Everything Linux-only is optional:
on other platforms psutil supports, what is missing is simply absent.

Sampling runs in a worker thread (psutil blocks). ``statvfs`` of each mount runs in its own
daemon thread with a deadline, so a hung NFS mount costs one thread, is remembered, and is
not touched again until it answers (node_exporter's "stuck mount" rule).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from upkeep.collectors.base import Collector, Target, register
from upkeep.config import Config, HostConfig
from upkeep.metrics import MetricSpec, Sample, counter, gauge, sample
from upkeep.reading import Reading

KIND = "host"
_R = "host"


def _g(name: str, help: str, labels: Sequence[str] = (), node: str = "") -> MetricSpec:
    return gauge(f"upkeep_host_{name}", help, labels, room=_R, counterpart=node or f"node_{name}")


def _c(name: str, help: str, labels: Sequence[str] = (), node: str = "") -> MetricSpec:
    return counter(f"upkeep_host_{name}", help, labels, room=_R,
                   counterpart=node or f"node_{name}")


CPU_SECONDS = _c("cpu_seconds_total", "Seconds the CPUs spent in each mode.", ("cpu", "mode"))
LOAD1 = _g("load1", "1m load average.")
LOAD5 = _g("load5", "5m load average.")
LOAD15 = _g("load15", "15m load average.")
CONTEXT_SWITCHES = _c("context_switches_total", "Total number of context switches.")
INTERRUPTS = _c("intr_total", "Total number of interrupts serviced.")
MEMORY = {
    key: _g(f"memory_{key}_bytes", f"Memory information field {key}_bytes.")
    for key in ("MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached", "Shmem",
                "SwapTotal", "SwapFree")
}
FS_SIZE = _g("filesystem_size_bytes", "Filesystem size in bytes.", ("device", "fstype", "mountpoint"))
FS_FREE = _g("filesystem_free_bytes", "Filesystem free space in bytes.",
             ("device", "fstype", "mountpoint"))
FS_AVAIL = _g("filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.",
              ("device", "fstype", "mountpoint"))
FS_FILES = _g("filesystem_files", "Filesystem total file nodes.", ("device", "fstype", "mountpoint"))
FS_FILES_FREE = _g("filesystem_files_free", "Filesystem total free file nodes.",
                   ("device", "fstype", "mountpoint"))
FS_READONLY = _g("filesystem_readonly", "Filesystem read-only status.",
                 ("device", "fstype", "mountpoint"))
FS_ERROR = _g("filesystem_device_error",
              "1 when statvfs failed or did not answer within filesystems.stat_timeout.",
              ("device", "fstype", "mountpoint"))
DISK_READS = _c("disk_reads_completed_total", "Reads completed successfully.", ("device",))
DISK_WRITES = _c("disk_writes_completed_total", "Writes completed successfully.", ("device",))
DISK_READ_BYTES = _c("disk_read_bytes_total", "Bytes read successfully.", ("device",))
DISK_WRITTEN_BYTES = _c("disk_written_bytes_total", "Bytes written successfully.", ("device",))
DISK_IO_TIME = _c("disk_io_time_seconds_total", "Seconds spent doing I/Os.", ("device",))
NET_RX_BYTES = _c("network_receive_bytes_total", "Bytes received.", ("device",))
NET_TX_BYTES = _c("network_transmit_bytes_total", "Bytes transmitted.", ("device",))
NET_RX_PACKETS = _c("network_receive_packets_total", "Packets received.", ("device",))
NET_TX_PACKETS = _c("network_transmit_packets_total", "Packets transmitted.", ("device",))
NET_RX_ERRS = _c("network_receive_errs_total", "Receive errors.", ("device",))
NET_TX_ERRS = _c("network_transmit_errs_total", "Transmit errors.", ("device",))
NET_RX_DROP = _c("network_receive_drop_total", "Received packets dropped.", ("device",))
NET_TX_DROP = _c("network_transmit_drop_total", "Transmitted packets dropped.", ("device",))
NET_UP = _g("network_up", "1 when the interface is up.", ("device",))
NET_SPEED = _g("network_speed_bytes", "Interface link speed in bytes per second.", ("device",))
BOOT_TIME = _g("boot_time_seconds", "Node boot time, in unixtime.")
TIME = _g("time_seconds", "System time in seconds since epoch (1970).")
PROCS = _g("processes", "Number of processes.", node="node_processes_state (summed)")
PROCS_RUNNING = _g("procs_running", "Number of processes in runnable state.")
PROCS_BLOCKED = _g("procs_blocked", "Number of processes blocked waiting for I/O.")
FD_ALLOCATED = _g("filefd_allocated", "File descriptor statistics: allocated.")
FD_MAXIMUM = _g("filefd_maximum", "File descriptor statistics: maximum.")
UNAME = _g("uname_info", "Labelled system information as provided by the uname system call.",
           ("sysname", "release", "version", "machine", "nodename"))
OS_INFO = _g("os_info", "Operating system identity from os-release (value 1).",
             ("id", "version_id", "pretty_name"))
TEMP = _g("hwmon_temp_celsius", "Hardware monitor temperature (opt-in: host.temperatures).",
          ("chip", "sensor"))
SERVICE_UP = gauge("upkeep_host_service_up",
                   "1 when the configured service check passes (process running / port answers).",
                   ("service", "check"), room=_R)

# node_exporter's own names for the core series (host.node_compat)
_NODE_COMPAT: dict[str, MetricSpec] = {}
for _spec in [CPU_SECONDS, LOAD1, LOAD5, LOAD15, *MEMORY.values(), FS_SIZE, FS_FREE, FS_AVAIL,
              FS_FILES, FS_FILES_FREE, FS_READONLY, FS_ERROR, DISK_READS, DISK_WRITES,
              DISK_READ_BYTES, DISK_WRITTEN_BYTES, DISK_IO_TIME, NET_RX_BYTES, NET_TX_BYTES,
              NET_RX_ERRS, NET_TX_ERRS, NET_RX_DROP, NET_TX_DROP, NET_UP, BOOT_TIME, TIME,
              UNAME, FD_ALLOCATED, FD_MAXIMUM]:
    _name = "node_" + _spec.name.removeprefix("upkeep_host_")
    _NODE_COMPAT[_spec.name] = MetricSpec(_name, _spec.type, _spec.help, _spec.labels,
                                          room=_R, counterpart="(node_compat)")
for _spec in _NODE_COMPAT.values():
    from upkeep.metrics import declare

    declare(_spec)


@dataclass
class _Mount:
    device: str
    mountpoint: str
    fstype: str
    opts: str


class _StatvfsGuard:
    """statvfs with a deadline; a mount that hung is skipped until its thread returns."""

    def __init__(self) -> None:
        self._stuck: set[str] = set()
        self._lock = threading.Lock()

    def statvfs(self, path: str, timeout: float) -> os.statvfs_result | None:
        with self._lock:
            if path in self._stuck:
                return None
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = os.statvfs(path)
            except OSError as err:
                box["error"] = err
            finally:
                with self._lock:
                    box["done"] = True
                    self._stuck.discard(path)

        thread = threading.Thread(target=work, name=f"statvfs {path}", daemon=True)
        thread.start()
        thread.join(timeout)
        with self._lock:
            # decided under the lock that work() ends with, not by is_alive(): a thread that
            # finished just after the join timed out has already run its discard, and marking
            # the path stuck after that would skip the mount for good
            if "done" not in box:
                self._stuck.add(path)
                return None
        result: os.statvfs_result | None = box.get("result")
        return result


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _meminfo() -> dict[str, float]:
    """/proc/meminfo in bytes where it exists; psutil's portable view elsewhere."""
    text = _read_text("/proc/meminfo")
    if text:
        out = {}
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = float(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
        return out
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    out = {"MemTotal": vm.total, "MemAvailable": vm.available, "MemFree": getattr(vm, "free", 0),
           "SwapTotal": sw.total, "SwapFree": sw.free}
    for key, attr in (("Buffers", "buffers"), ("Cached", "cached"), ("Shmem", "shared")):
        if hasattr(vm, attr):
            out[key] = getattr(vm, attr)
    return {k: float(v) for k, v in out.items()}


def _os_release() -> dict[str, str]:
    text = _read_text("/etc/os-release") or _read_text("/usr/lib/os-release") or ""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out


class HostCollector(Collector):
    kind = KIND

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self._fs_types = re.compile(config.filesystems.fs_types_exclude)
        self._mounts = re.compile(config.filesystems.mount_points_exclude)
        self._nets = re.compile(config.net_devices_exclude)
        self._disks = re.compile(config.disk_devices_exclude)
        self._statvfs = _StatvfsGuard()
        self._os = _os_release()
        self._hostname = socket.gethostname()

    def targets(self) -> Sequence[Target]:
        return [Target(KIND, "localhost", self.config.interval, self.config.timeout,
                       settings=self.config)]

    async def poll(self, target: Target) -> Reading:
        return await asyncio.to_thread(self.sample, target)

    # --- sampling (worker thread) ---------------------------------------------------------
    def sample(self, target: Target) -> Reading:
        started = time.monotonic()
        samples: list[Sample] = []
        info: dict[str, Any] = {"hostname": self._hostname}
        for part in (self._cpu, self._memory, self._filesystems, self._disks_io, self._network,
                     self._system, self._services, self._temperatures):
            samples.extend(part(info))
        if self.config.node_compat:
            samples.extend(Sample(_NODE_COMPAT[s.metric].name, s.value, s.labels)
                           for s in list(samples) if s.metric in _NODE_COMPAT)
        mem_total = info.get("memory_total_bytes") or 0
        info["summary"] = (
            f"load {info.get('load1', 0):.2f}, mem avail "
            f"{info.get('memory_available_bytes', 0) / max(mem_total, 1):.0%}, "
            f"{info.get('filesystems', 0)} filesystems"
            + (f", {info['services_failing']} service checks failing"
               if info.get("services_failing") else ""))
        return Reading(KIND, target.name, time.time(), True, time.monotonic() - started,
                       samples=samples, info=info)

    def _cpu(self, info: dict[str, Any]) -> Iterator[Sample]:
        for index, times in enumerate(psutil.cpu_times(percpu=True)):
            for mode, value in times._asdict().items():
                if mode in ("guest", "guest_nice"):
                    continue  # already included in user/nice, as node_exporter does
                yield sample(CPU_SECONDS, value, cpu=str(index), mode=mode)
        try:
            load = os.getloadavg()
        except (AttributeError, OSError):
            load = None
        if load is not None:
            info["load1"] = load[0]
            yield sample(LOAD1, load[0])
            yield sample(LOAD5, load[1])
            yield sample(LOAD15, load[2])
        stats = psutil.cpu_stats()
        yield sample(CONTEXT_SWITCHES, stats.ctx_switches)
        yield sample(INTERRUPTS, stats.interrupts)

    def _memory(self, info: dict[str, Any]) -> Iterator[Sample]:
        mem = _meminfo()
        for key, spec in MEMORY.items():
            if key in mem:
                yield sample(spec, mem[key])
        info["memory_total_bytes"] = mem.get("MemTotal")
        info["memory_available_bytes"] = mem.get("MemAvailable")

    def _filesystems(self, info: dict[str, Any]) -> Iterator[Sample]:
        fs: list[dict[str, Any]] = []
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=True):
            if (self._fs_types.match(part.fstype) or self._mounts.match(part.mountpoint)
                    or part.mountpoint in seen):
                continue
            seen.add(part.mountpoint)
            labels = {"device": part.device, "fstype": part.fstype, "mountpoint": part.mountpoint}
            st = self._statvfs.statvfs(part.mountpoint, self.config.filesystems.stat_timeout) \
                if hasattr(os, "statvfs") else None
            if st is None and hasattr(os, "statvfs"):
                yield sample(FS_ERROR, 1, **labels)
                continue
            yield sample(FS_ERROR, 0, **labels)
            if st is not None:
                size, free, avail = (st.f_blocks * st.f_frsize, st.f_bfree * st.f_frsize,
                                     st.f_bavail * st.f_frsize)
                yield sample(FS_FILES, st.f_files, **labels)
                yield sample(FS_FILES_FREE, st.f_ffree, **labels)
                readonly = bool(st.f_flag & os.ST_RDONLY)
            else:  # Windows: no statvfs
                try:
                    usage = psutil.disk_usage(part.mountpoint)
                except OSError:
                    continue
                size, free, avail = usage.total, usage.free, usage.free
                readonly = "ro" in part.opts.split(",")
            yield sample(FS_SIZE, size, **labels)
            yield sample(FS_FREE, free, **labels)
            yield sample(FS_AVAIL, avail, **labels)
            yield sample(FS_READONLY, 1 if readonly else 0, **labels)
            fs.append({**labels, "size_bytes": size, "avail_bytes": avail, "readonly": readonly})
        info["filesystems"] = len(fs)
        info["filesystem_list"] = fs

    def _disks_io(self, info: dict[str, Any]) -> Iterator[Sample]:
        try:
            counters = psutil.disk_io_counters(perdisk=True) or {}
        except (RuntimeError, OSError):
            return
        for device, c in counters.items():
            if self._disks.match(device):
                continue
            yield sample(DISK_READS, c.read_count, device=device)
            yield sample(DISK_WRITES, c.write_count, device=device)
            yield sample(DISK_READ_BYTES, c.read_bytes, device=device)
            yield sample(DISK_WRITTEN_BYTES, c.write_bytes, device=device)
            busy = getattr(c, "busy_time", None)
            if busy is not None:
                yield sample(DISK_IO_TIME, busy / 1000.0, device=device)

    def _network(self, info: dict[str, Any]) -> Iterator[Sample]:
        counters = psutil.net_io_counters(pernic=True) or {}
        try:
            stats = psutil.net_if_stats()
        except OSError:
            stats = {}
        for device, c in counters.items():
            if self._nets.match(device):
                continue
            yield sample(NET_RX_BYTES, c.bytes_recv, device=device)
            yield sample(NET_TX_BYTES, c.bytes_sent, device=device)
            yield sample(NET_RX_PACKETS, c.packets_recv, device=device)
            yield sample(NET_TX_PACKETS, c.packets_sent, device=device)
            yield sample(NET_RX_ERRS, c.errin, device=device)
            yield sample(NET_TX_ERRS, c.errout, device=device)
            yield sample(NET_RX_DROP, c.dropin, device=device)
            yield sample(NET_TX_DROP, c.dropout, device=device)
            st = stats.get(device)
            if st is not None:
                yield sample(NET_UP, 1 if st.isup else 0, device=device)
                if st.speed:
                    yield sample(NET_SPEED, st.speed * 1_000_000 / 8, device=device)

    def _system(self, info: dict[str, Any]) -> Iterator[Sample]:
        boot = psutil.boot_time()
        info["boot_time"] = boot
        yield sample(BOOT_TIME, boot)
        yield sample(TIME, time.time())
        pids = psutil.pids()
        yield sample(PROCS, len(pids))
        stat = _read_text("/proc/stat")
        if stat:
            for line in stat.splitlines():
                if line.startswith("procs_running "):
                    yield sample(PROCS_RUNNING, float(line.split()[1]))
                elif line.startswith("procs_blocked "):
                    yield sample(PROCS_BLOCKED, float(line.split()[1]))
        file_nr = _read_text("/proc/sys/fs/file-nr")
        if file_nr:
            fields = file_nr.split()
            if len(fields) == 3:
                yield sample(FD_ALLOCATED, float(fields[0]))
                yield sample(FD_MAXIMUM, float(fields[2]))
        uname = platform_uname()
        info["os"] = self._os.get("PRETTY_NAME") or f"{uname['sysname']} {uname['release']}"
        yield sample(UNAME, 1, **uname)
        if self._os:
            yield sample(OS_INFO, 1, id=self._os.get("ID", ""),
                         version_id=self._os.get("VERSION_ID", ""),
                         pretty_name=self._os.get("PRETTY_NAME", ""))

    def _services(self, info: dict[str, Any]) -> Iterator[Sample]:
        checks = self.config.services
        if not (checks.processes or checks.ports):
            return
        failing = 0
        names: set[str] = set()
        if checks.processes:
            for proc in psutil.process_iter(["name", "cmdline"]):
                try:
                    names.add(proc.info["name"] or "")
                    cmd = proc.info["cmdline"] or []
                    if cmd:
                        names.add(os.path.basename(cmd[0]))
                except (psutil.Error, TypeError):
                    continue
        results: dict[str, bool] = {}
        for check in checks.processes:
            ok = check.process in names
            results[check.name] = ok
            yield sample(SERVICE_UP, 1 if ok else 0, service=check.name, check="process")
        for port_check in checks.ports:
            ok = _port_answers(port_check.host, port_check.port,
                               min(2.0, self.config.timeout / 2))
            results[port_check.name] = ok
            yield sample(SERVICE_UP, 1 if ok else 0, service=port_check.name, check="tcp")
        failing = sum(1 for ok in results.values() if not ok)
        info["services"] = results
        info["services_failing"] = failing

    def _temperatures(self, info: dict[str, Any]) -> Iterator[Sample]:
        if not self.config.temperatures or not hasattr(psutil, "sensors_temperatures"):
            return
        try:
            temps = psutil.sensors_temperatures()
        except (OSError, RuntimeError):
            return
        for chip, entries in temps.items():
            for index, entry in enumerate(entries):
                yield sample(TEMP, entry.current, chip=chip, sensor=entry.label or f"temp{index + 1}")


def platform_uname() -> dict[str, str]:
    u = os.uname() if hasattr(os, "uname") else None
    if u is not None:
        return {"sysname": u.sysname, "release": u.release, "version": u.version,
                "machine": u.machine, "nodename": u.nodename}
    import platform

    p = platform.uname()
    return {"sysname": p.system, "release": p.release, "version": p.version,
            "machine": p.machine, "nodename": p.node}


def _port_answers(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@register(KIND)
def _factory(config: Config) -> HostCollector | None:
    return HostCollector(config.host) if config.host.enabled else None

