"""Nothing is lost: the agent (`upkeep run`, a real process) polls a real upsd + dummy-ups while
its webhook receiver and its SMTP server are down; the power fails, the agent is killed with
SIGKILL, the power comes back while it is dead, the agent starts again, and only then do the
receivers come up. Both events arrive, in order, each exactly once, on both channels."""

from __future__ import annotations

import time
from pathlib import Path

from tests.alerts.stack import SmtpSink, WebhookReceiver
from tests.nut_rig import NutRig
from tests.support import AgentProcess, free_port, parse_metrics, wait_for


def notify_series(agent: AgentProcess, name: str) -> dict[str, float]:
    """channel kind (webhook / email) -> value of ``name``."""
    out = {}
    for (metric, labels), value in parse_metrics(agent.metrics()).items():
        if metric == name:
            out[dict(labels)["channel"].split(":")[0]] = value
    return out


def test_receivers_down_agent_killed_and_restarted_nothing_lost(tmp_path: Path) -> None:
    hook_port, smtp_port = free_port(), free_port()
    rig = NutRig(tmp_path / "nut")
    rig.add_ups("ups1", {"ups.status": "OL CHRG", "battery.charge": "100",
                         "battery.runtime": "1800"})
    config = {
        "site": "branch-a",
        "host": {"interval": "30s", "timeout": "10s"},
        "ups": [{"name": "rack", "nut": {"host": "127.0.0.1", "port": rig.port, "ups": "ups1",
                                         "interval": "500ms", "timeout": "400ms"}}],
        "notify": {"language": "both",
                   "webhooks": [{"url": f"http://127.0.0.1:{hook_port}/hook", "timeout": "1s"}],
                   "email": {"host": "127.0.0.1", "port": smtp_port, "starttls": False,
                             "from": "upkeep@branch-a.example", "to": ["it@example.invalid"],
                             "timeout": "2s"},
                   "retry": {"initial": "300ms", "max": "1s"}},
    }
    with rig:
        (tmp_path / "agent-run").mkdir()
        agent = AgentProcess(tmp_path / "agent-run", config).start()
        try:
            wait_for(lambda: notify_series(agent, "upkeep_notify_pending")
                     == {"webhook": 0, "email": 0}, 15, message="notifier running")
            rig.set_many("ups1", {"ups.status": "OB DISCHRG", "battery.charge": "95"})
            # both receivers are down: the event waits, retried with backoff
            wait_for(lambda: (f := notify_series(agent, "upkeep_notify_failures_total"))
                     and min(f.values()) >= 2, 15, message="failed delivery attempts")
            assert notify_series(agent, "upkeep_notify_pending") == {"webhook": 1, "email": 1}

            agent.kill9()
            rig.set_many("ups1", {"ups.status": "OL CHRG", "battery.charge": "96"})
            agent.start()
            # the restarted agent sees "back on line" against its stored state and queues it
            # behind the on-battery event it still owes
            wait_for(lambda: notify_series(agent, "upkeep_notify_pending")
                     == {"webhook": 2, "email": 2}, 15, message="two events owed")

            with WebhookReceiver(hook_port) as hook, SmtpSink(smtp_port) as smtp:
                wait_for(lambda: len(hook.payloads) == 2 and len(smtp.messages) == 2, 15,
                         message="delivery once the receivers are back")
                # the receivers hold a message before the agent has their answer: wait for
                # the agent to count both as sent
                wait_for(lambda: notify_series(agent, "upkeep_notify_sent_total")
                         == {"webhook": 2, "email": 2}, 15, message="both marked sent")
                time.sleep(1.5)  # several retry periods: nothing is sent twice
                assert [p["event"] for p in hook.payloads] == ["on_battery", "on_line"]
                assert [p["ups"] for p in hook.payloads] == ["rack", "rack"]
                assert len({p["id"] for p in hook.payloads}) == 2
                assert len(smtp.messages) == 2
                subjects = [str(m["Subject"]) for m in smtp.messages]
                assert "กำลังใช้ไฟจากแบตเตอรี่" in subjects[0] and "on battery" in subjects[0]
                assert "กลับมาใช้ไฟฟ้าหลักแล้ว" in subjects[1] and "back on mains" in subjects[1]
                assert notify_series(agent, "upkeep_notify_sent_total") == \
                    {"webhook": 2, "email": 2}
                assert notify_series(agent, "upkeep_notify_pending") == {"webhook": 0, "email": 0}
        finally:
            agent.stop()
