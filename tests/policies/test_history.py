"""The agent's own history: sampling, batched writes, downsampling, retention, reads.

Real SQLite files in tmp_path, real readings; only the clock is moved (readings carry their
time, ``maintain`` takes ``now``).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from upkeep.collectors.ups_model import UpsSnapshot, info_from_snapshot
from upkeep.kit.db import Database
from upkeep.metrics import Sample
from upkeep.policies import history
from upkeep.policies.history import (
    COARSE,
    FINE,
    FINE_KEEP,
    HistoryStore,
    Sampler,
    Writer,
)
from upkeep.reading import Reading

T0 = 1_780_000_020.0  # 20 s into a minute


def ups(at: float, status: tuple[str, ...] = ("OL",), charge: float = 1.0,
        volts: float = 229.0) -> Reading:
    info = info_from_snapshot(UpsSnapshot(name="u1", source="nut", status=status,
                                          battery_charge=charge, battery_runtime=1800,
                                          load=0.25))
    return Reading("nut", "u1", at, True,
                   samples=[Sample("upkeep_ups_input_voltage_volts", volts, {"ups": "u1"})],
                   info=info)


def test_one_point_per_minute_but_on_battery_keeps_the_worst() -> None:
    sampler = Sampler()
    first = sampler.offer(ups(T0))
    assert sorted(k[2] for k, _, _ in first) == ["charge", "input_voltage", "load",
                                                   "on_battery", "runtime"]
    assert {t for _, t, _ in first} == {int(T0 // 60 * 60)}
    # same minute, a new charge: not sampled again
    assert sampler.offer(ups(T0 + 10, charge=0.9)) == []
    # same minute, on battery: the minute's on_battery becomes 1, nothing else
    again = sampler.offer(ups(T0 + 20, status=("OB", "DISCHRG"), charge=0.8))
    assert [(k[2], v) for k, _, v in again] == [("on_battery", 1.0)]
    assert sampler.offer(ups(T0 + 30, status=("OL",))) == []  # 1 stays for that minute
    nxt = sampler.offer(ups(T0 + 60, charge=0.7, volts=201.5))
    assert dict((k[2], v) for k, _, v in nxt)["input_voltage"] == 201.5
    failed = Reading("nut", "u1", T0 + 120, False, reason="timeout")
    assert sampler.offer(failed) == []  # a failed poll leaves a gap, not zeros


def test_web_and_host_series() -> None:
    sampler = Sampler()
    web = Reading("web", "site", T0, True, info={
        "families": {"ipv4": {"up": True, "status": 200}, "ipv6": {"up": False, "status": 0}},
        "addresses": [{"up": False, "phases": {"total": 9.0}},
                      {"up": True, "phases": {"total": 0.25}}],
        "tls": {"not_after": T0 + 10 * 86400, "chain_earliest_expiry": T0 + 5 * 86400}})
    values = {k[2]: v for k, _, v in sampler.offer(web)}
    assert values == {"up_ipv4": 1.0, "up_ipv6": 0.0, "response_seconds": 0.25,
                      "cert_days": 5.0}

    def host(at: float, busy: float, idle: float) -> Reading:
        cpu = [Sample("upkeep_host_cpu_seconds_total", busy, {"cpu": "0", "mode": "user"}),
               Sample("upkeep_host_cpu_seconds_total", idle, {"cpu": "0", "mode": "idle"})]
        return Reading("host", "h", at, True, samples=cpu, info={
            "memory_total_bytes": 1000, "memory_available_bytes": 250,
            "filesystem_list": [{"mountpoint": "/", "size_bytes": 100, "avail_bytes": 40}]})

    first = {k[2]: v for k, _, v in sampler.offer(host(T0, 10, 90))}
    assert first == {"memory": 0.75, "fs:/": 0.6}  # no CPU yet: it needs two polls
    second = {k[2]: v for k, _, v in sampler.offer(host(T0 + 60, 40, 160))}
    assert abs(second["cpu"] - 0.3) < 1e-9


def test_writer_batches_and_points_read_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "upkeep.db")
    store = HistoryStore(db)
    writer = Writer(store, flush_every=0.2, maintain_every=3600)
    writer.start()
    sampler = Sampler()
    now = time.time()
    for i in range(30):
        writer.put(sampler.offer(ups(now - 1800 + i * 60, charge=1 - i / 100)))
    writer.stop()
    points = store.points("nut", "u1", "charge", now - 86400, now)
    assert len(points) == 30
    assert points[0][1] == 1.0 and abs(points[-1][1] - 0.71) < 1e-9
    assert all(b[0] - a[0] == FINE for a, b in zip(points, points[1:], strict=False))
    assert writer.written == 150  # 30 minutes x 5 series, committed in a few batches
    db.close()


def test_downsampling_and_retention(tmp_path: Path) -> None:
    db = Database(tmp_path / "upkeep.db")
    store = HistoryStore(db)
    now = 1_780_002_000.0  # a multiple of 15 minutes
    sampler = Sampler()
    rows = []
    # three days of one point a minute, charge falling by 0.001 a minute
    for i in range(3 * 1440):
        rows += [r for r in sampler.offer(ups(now - 3 * 86400 + i * 60, charge=1 - i / 5000))
                 if r[0][2] == "charge"]
    store.write(rows)
    # and a coarse point from 100 days ago, kept past its 90 days by a stopped agent
    with db.transaction() as conn:
        conn.execute("INSERT INTO history_points VALUES (1, ?, ?, 0.5)",
                     (COARSE, int(now - 100 * 86400)))
    store.maintain(now, since=now - 3 * 86400)
    fine = store.points("nut", "u1", "charge", 0, now)
    assert fine[0][0] >= now - FINE_KEEP  # minutes older than 48 h are gone
    coarse = store.points("nut", "u1", "charge", 0, now, step=COARSE)
    assert coarse[0][0] >= now - 3 * 86400 - COARSE  # the 100-day-old point is gone
    assert len(coarse) >= 4 * 24 * 3 - 2  # 15-minute means kept for the whole three days
    # a coarse point is the mean of its 15 minutes
    t, value = coarse[10]
    minutes = [1 - ((t + 60 * k) - (now - 3 * 86400)) / 60 / 5000 for k in range(15)]
    assert abs(value - sum(minutes) / 15) < 1e-9
    # averaged into 3-hour buckets for the 90-day chart
    wide = store.points("nut", "u1", "charge", 0, now, step=COARSE, bucket=3 * 3600)
    assert all(b[0] - a[0] == 3 * 3600 for a, b in zip(wide, wide[1:], strict=False))
    db.close()


def test_service_points_window_and_ranges(tmp_path: Path) -> None:
    db = Database(tmp_path / "upkeep.db")
    service = history.HistoryService(db)
    now = time.time()
    service.store.write([r for i in range(5) for r in
                         service.sampler.offer(ups(now - 300 + i * 60))])
    window = service.points("nut", "u1", "input_voltage", "24h", now=now)
    assert window.step == FINE and len(window.points) == 5
    assert window.end - window.start == 86400
    assert service.points("nut", "u1", "input_voltage", "7d", now=now).step == COARSE
    assert sorted(service.store.series("nut", "u1"))[0] == "charge"
    db.close()
    with sqlite3.connect(tmp_path / "upkeep.db") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
