"""``host:``: the local machine, sampled with psutil."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from upkeep.config.base import Duration, Polled, StrictModel

# node_exporter's defaults (collector/filesystem_linux.go), plus network filesystems: a hung
# NFS/CIFS mount is the classic way to stall a poll, and a branch server should not alert
# on the file server's capacity.
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
    r"iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"
    r"erofs|sysfs|tracefs|nfs4?|cifs|smb3?|fuse\.sshfs|ceph|glusterfs|9p|ramfs|efivarfs)$"
)
DEFAULT_MOUNT_POINTS_EXCLUDE = r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
DEFAULT_NET_DEVICES_EXCLUDE = r"^(lo|veth.*|docker.*|br-.*)$"
DEFAULT_DISK_DEVICES_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as err:
        raise ValueError(f"not a valid regular expression: {err}") from None
    return value


class FilesystemConfig(StrictModel):
    fs_types_exclude: str = DEFAULT_FS_TYPES_EXCLUDE
    mount_points_exclude: str = DEFAULT_MOUNT_POINTS_EXCLUDE
    #: a mount whose statvfs takes longer than this is reported with device_error 1
    stat_timeout: Duration = 1.0

    _regex = field_validator("fs_types_exclude", "mount_points_exclude")(_check_regex)


class ProcessCheck(StrictModel):
    """A named process must be running (matched on the process name or its command line)."""

    name: Annotated[str, Field(min_length=1)]
    process: Annotated[str, Field(min_length=1)]


class PortCheck(StrictModel):
    """A TCP port on this host must accept a connection."""

    name: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]
    host: str = "127.0.0.1"


class ServicesConfig(StrictModel):
    processes: list[ProcessCheck] = []
    ports: list[PortCheck] = []

    @model_validator(mode="after")
    def _unique_names(self) -> ServicesConfig:
        seen: set[str] = set()
        checks: list[ProcessCheck | PortCheck] = [*self.processes, *self.ports]
        for check in checks:
            if check.name in seen:
                raise ValueError(f"duplicate service check name {check.name!r}")
            seen.add(check.name)
        return self


class HostConfig(Polled):
    enabled: bool = True
    interval: Duration = 15.0
    timeout: Duration = 10.0
    filesystems: FilesystemConfig = FilesystemConfig()
    net_devices_exclude: str = DEFAULT_NET_DEVICES_EXCLUDE
    disk_devices_exclude: str = DEFAULT_DISK_DEVICES_EXCLUDE
    temperatures: bool = False
    #: also expose node_exporter's own names (node_*) for the core series
    node_compat: bool = False
    services: ServicesConfig = ServicesConfig()

    _regex = field_validator("net_devices_exclude", "disk_devices_exclude")(_check_regex)
