"""What a UPS or host reading says about the equipment behind it. Pure, except ``read_dmi``.

A UPS reading (kinds ``nut``/``snmp``; ``info`` from ``collectors.ups_model.info_from_snapshot``)
gives the UPS unit (make, model, serial, manufacture date) and its battery (install date,
replace flag, self-test result); a host reading (kind ``host``) gives the hostname and OS, and
DMI adds vendor, product and serial where the OS lets us read them (``product_serial`` is
root-only on most Linux systems: then the host is keyed by its hostname).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from upkeep.policies.assets import iso_from_timestamp
from upkeep.policies.assets_import import normalize_serial
from upkeep.reading import Reading
from upkeep.readings import ups_info

#: DMI values firmware ships when nobody filled them in
_DMI_JUNK = {"", "none", "default string", "to be filled by o.e.m.", "system serial number",
             "not specified", "0", "0123456789", "o.e.m.", "n/a"}


_SERIAL_JUNK = ("UNKNOWN", "REDACTED", "XXXX", "N/A", "NONE", "DEFAULT", "TOBEFILLED", "[", "<")


def usable_serial(value: object) -> str | None:
    """A serial that identifies one unit, or None for the placeholders UPS firmware reports
    ("000000000", "********", "[unknown]", "<redacted>"): two such units must not merge."""
    serial = normalize_serial(str(value or ""))
    if serial is None or len(serial) < 4 or len(set(serial)) == 1:
        return None
    if any(junk in serial for junk in _SERIAL_JUNK):
        return None
    return serial


@dataclass(frozen=True)
class Discovered:
    serial: str | None
    ref: str
    values: dict[str, str]


def ups_assets(reading: Reading, site: str) -> list[Discovered]:
    info = ups_info(reading)
    if info is None or not reading.ok:
        return []
    name = str(info["ups"] or reading.target)
    serial = usable_serial(info["serial"])
    ref = f"ups:{site}/{name}"
    unit = {"class": "ups", "site": site, "manufacturer": str(info["mfr"] or ""),
            "model": str(info["model"] or ""), "monitor_ref": f"{reading.kind}:{name}",
            "manufactured": iso_from_timestamp(info["ups_manufactured"])}
    # the battery is its own asset: it has its own life and its own budget line
    model = str(info["model"] or name)
    failed = info["selftest_result"] == "failed"
    battery = {"class": "ups_battery", "site": site, "parent": serial or ref,
               "model": f"battery of {model}", "monitor_ref": f"{reading.kind}:{name}",
               "in_service": iso_from_timestamp(info["battery_installed"]),
               "selftest_result": str(info["selftest_result"] or "unknown"),
               "replace_needed": "1" if info["replace_needed"] else "0",
               "flagged": "1" if (info["replace_needed"] or failed) else "0"}
    return [Discovered(serial, ref, unit),
            Discovered(None, f"battery:{serial or ref}", battery)]


def read_dmi(dmi_dir: str | Path) -> dict[str, str]:
    """vendor / product / serial from /sys/class/dmi/id, where readable and not junk."""
    out: dict[str, str] = {}
    for key, filename in (("manufacturer", "sys_vendor"), ("model", "product_name"),
                          ("serial", "product_serial")):
        try:
            value = (Path(dmi_dir) / filename).read_text(encoding="utf-8",
                                                         errors="replace").strip()
        except OSError:
            continue
        if value.lower() not in _DMI_JUNK:
            out[key] = value
    return out


def host_asset(reading: Reading, site: str, dmi: dict[str, str],
               host_class: str = "server") -> Discovered | None:
    if reading.kind != "host" or not reading.info:
        return None
    hostname = str(reading.info.get("hostname") or reading.target)
    values = {"class": host_class, "site": site, "hostname": hostname,
              "os": str(reading.info.get("os") or ""),
              "manufacturer": dmi.get("manufacturer", ""), "model": dmi.get("model", ""),
              "monitor_ref": f"host:{hostname}"}
    return Discovered(usable_serial(dmi.get("serial")), f"host:{site}/{hostname}", values)
