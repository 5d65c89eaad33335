"""Host collector pieces that a subprocess scrape cannot exercise: the hung-mount guard,
exclusion patterns, node_compat, platform fallbacks."""

from __future__ import annotations

import os
import threading
import time
import types

import pytest

from tests.support import wait_for
from upkeep.collectors import host
from upkeep.collectors.base import Target
from upkeep.config import parse_config


def _collector(text: str = "") -> host.HostCollector:
    return host.HostCollector(parse_config(text).host)


def _target(c: host.HostCollector) -> Target:
    return c.targets()[0]


def test_statvfs_guard_bounds_a_hung_mount_and_skips_it_until_it_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = host.os.statvfs
    calls: list[str] = []

    def slow_statvfs(path: str):  # type: ignore[no-untyped-def]
        calls.append(path)
        if path == "/hung":
            release.wait(10)  # a hung NFS server: the syscall does not return
        return real("/")

    monkeypatch.setattr(host.os, "statvfs", slow_statvfs)
    guard = host._StatvfsGuard()
    started = time.monotonic()
    assert guard.statvfs("/hung", 0.2) is None
    assert time.monotonic() - started < 1
    # while the first call is stuck, the mount is not touched again (no thread pile-up)
    assert guard.statvfs("/hung", 0.2) is None
    assert calls.count("/hung") == 1
    assert guard.statvfs("/ok", 0.2) is not None
    release.set()
    # answers again once its stuck thread has returned (that thread needs a moment to run)
    wait_for(lambda: guard.statvfs("/hung", 0.2) is not None, timeout=10,
             message="the recovered mount answering again")


def test_excluded_filesystems_and_devices_are_absent() -> None:
    c = _collector()
    reading = c.sample(_target(c))
    mounts = {s.labels["mountpoint"] for s in reading.samples
              if s.metric == "upkeep_host_filesystem_size_bytes"}
    fstypes = {s.labels["fstype"] for s in reading.samples
               if s.metric == "upkeep_host_filesystem_size_bytes"}
    assert "/" in mounts
    assert not any(m.startswith(("/proc", "/sys", "/dev")) for m in mounts)
    assert not fstypes & {"proc", "sysfs", "cgroup2", "devtmpfs", "nfs", "nfs4"}
    devices = {s.labels["device"] for s in reading.samples
               if s.metric == "upkeep_host_network_up"}
    assert "lo" not in devices


def test_custom_exclude_pattern_applies() -> None:
    c = _collector("host:\n  filesystems:\n    mount_points_exclude: '^/$'\n")
    reading = c.sample(_target(c))
    assert not any(s.labels.get("mountpoint") == "/" for s in reading.samples)


def test_node_compat_adds_node_exporter_names() -> None:
    off = _collector().sample(_target(_collector()))
    assert not any(s.metric.startswith("node_") for s in off.samples)
    c = _collector("host:\n  node_compat: true\n")
    on = c.sample(_target(c))
    names = {s.metric for s in on.samples}
    assert {"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_load1",
            "node_filesystem_avail_bytes", "node_network_receive_bytes_total"} <= names
    by_name = {s.metric: s.value for s in on.samples if not s.labels}
    assert by_name["node_memory_MemTotal_bytes"] == by_name["upkeep_host_memory_MemTotal_bytes"]


def test_missing_linux_sources_are_simply_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a platform without /proc (Windows, BSD), the Linux-only series are absent."""
    monkeypatch.setattr(host, "_read_text", lambda path: None)
    monkeypatch.delattr(host.os, "getloadavg")
    c = _collector()
    reading = c.sample(_target(c))
    names = {s.metric for s in reading.samples}
    assert "upkeep_host_load1" not in names
    assert "upkeep_host_filefd_maximum" not in names
    assert "upkeep_host_memory_MemTotal_bytes" in names  # psutil's portable view
    assert reading.ok


def test_filesystems_and_uname_without_statvfs_or_uname(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Windows has neither os.statvfs nor os.uname: sizes come from psutil.disk_usage, the
    uname series from the platform module, and no mount is reported as failing. (Only the
    collector's view of ``os`` loses them: psutil's Linux disk_usage needs the real one,
    where its Windows build has its own.)"""
    with_statvfs = _collector().sample(_target(_collector()))
    windows_os = types.ModuleType("os")
    windows_os.__dict__.update({k: v for k, v in vars(os).items()
                                if k not in ("statvfs", "uname", "statvfs_result")})
    monkeypatch.setattr(host, "os", windows_os)
    c = _collector()
    reading = c.sample(_target(c))
    assert reading.ok, reading.message
    size = {tuple(sorted(s.labels.items())): s.value for s in reading.samples
            if s.metric == "upkeep_host_filesystem_size_bytes"}
    before = {tuple(sorted(s.labels.items())): s.value for s in with_statvfs.samples
              if s.metric == "upkeep_host_filesystem_size_bytes"}
    assert size and size.keys() == before.keys()
    root = next(k for k in size if ("mountpoint", "/") in k)
    assert size[root] == host.psutil.disk_usage("/").total == before[root]
    assert not [s for s in reading.samples
                if s.metric == "upkeep_host_filesystem_device_error" and s.value]
    uname = [s for s in reading.samples if s.metric == "upkeep_host_uname_info"]
    assert len(uname) == 1 and uname[0].labels["sysname"] == "Linux"


def test_temperatures_are_opt_in() -> None:
    c = _collector()
    assert not any(s.metric == "upkeep_host_hwmon_temp_celsius"
                   for s in c.sample(_target(c)).samples)
