"""A real NUT server for tests: Debian's ``upsd`` plus one ``dummy-ups`` driver per UPS.

Everything lives in a temp dir on a free loopback port (checked on Debian 12, nut-server 2.8.0)::

    rig = NutRig(tmp_path)
    rig.add_ups("ups1", {"ups.status": "OL", "battery.charge": "100"})   # or a .dev/.seq path
    rig.start()
    rig.set("ups1", "ups.status", "OB DISCHRG")    # rewrites the .dev file (dummy-once)
    rig.upsrw("ups1", "battery.charge", "40")      # or through upsd, as user admin
    rig.pause_driver("ups1")                       # SIGSTOP -> ERR DATA-STALE after maxage
    rig.kill_driver("ups1")                        # -> ERR DRIVER-NOT-CONNECTED
    rig.add_ups("ups2", {...}); rig.remove_ups("ups2")  # at run time too (upsd reloads)
    config = {"ups": [{"name": "rack", "nut": rig.nut_config("ups1", interval="1s",
                                                               timeout="900ms")}]}
    rig.stop()                                     # or: with NutRig(...) as rig: ...

Users (``upsd.users``): ``admin``/``adminpass`` (SET, FSD, all instcmds) and
``monitor``/``monpass`` (upsmon primary) and ``reader``/``readpass`` (no role at all: NUT 2.8
refuses its LOGIN), see ``USERS``. ``NutRig(tmp, tls=True)`` creates an
NSS certificate database with certutil and serves STARTTLS (reference §5.3); ``rig.cert_pem``
is the self-signed certificate (a CA file for clients) and ``rig.cert_sha256`` its
fingerprint. As root the daemons run with ``-u root`` (otherwise they would switch to user
``nut``, which cannot read a root-owned temp dir).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from tests.support import free_port, need_binary, wait_for

USERS = {"admin": "adminpass", "monitor": "monpass", "reader": "readpass"}
#: ready-made data: ``smart-ups-1500.dev`` (healthy, on line), ``power-failure.seq``
#: (OL -> OB -> OB LB every 3 s, looping)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nut"


def read_dev(path: str | Path) -> dict[str, str]:
    """A ``upsc``-style dump (``var: value`` lines, ``#`` comments) as a dict."""
    out: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        out[name.strip()] = value[1:] if value.startswith(" ") else value
    return out


def nut_binary(name: str) -> str:
    """The daemon itself: Debian's /usr/sbin/upsd is a wrapper script that reads
    /etc/nut/nut.conf and refuses to start when MODE=none, ignoring NUT_CONFPATH."""
    for base in ("/usr/lib/nut", "/lib/nut"):
        if os.access(f"{base}/{name}", os.X_OK):
            return f"{base}/{name}"
    return need_binary(name)


class NutRig:
    def __init__(self, tmp: Path, *, tls: bool = False, maxage: int = 15,
                 pollinterval: int = 1) -> None:
        self.dir = Path(tmp)
        self.etc = self.dir / "etc"
        self.run = self.dir / "run"
        self.etc.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls = tls
        self.maxage = maxage
        self.pollinterval = pollinterval
        self.users = dict(USERS)
        self.ups: dict[str, Path] = {}
        self.drivers: dict[str, subprocess.Popen[bytes]] = {}
        self.upsd: subprocess.Popen[bytes] | None = None
        self.cert_pem: Path | None = None
        self.cert_sha256: str | None = None
        self._root = os.geteuid() == 0
        self._stamp = 0.0
        self.upsd_bin = nut_binary("upsd")
        self.driver_bin = nut_binary("dummy-ups")

    # --- configuration ------------------------------------------------------------------
    def add_ups(self, name: str, data: str | Path | Mapping[str, str]) -> Path:
        """Add a UPS replayed by dummy-ups from a .dev/.seq file or a dict of variables."""
        if isinstance(data, Mapping):
            path = self.etc / f"{name}.dev"
            self._write_dev(path, data)
        else:
            source = Path(data)
            path = self.etc / f"{name}{source.suffix or '.dev'}"
            path.write_bytes(source.read_bytes())
        self.ups[name] = path
        self._write_config()
        if self.upsd is not None:  # added at run time: start its driver, tell upsd
            self._start_driver(name)
            self.upsd.send_signal(signal.SIGHUP)
            self.wait_ready([name])
        return path

    def remove_ups(self, name: str) -> None:
        """Take a UPS out of ups.conf at run time: stop its driver, tell upsd (SIGHUP)."""
        self.ups.pop(name)
        self._write_config()
        if name in self.drivers:
            self.kill_driver(name)
        if self.upsd is not None:
            self.upsd.send_signal(signal.SIGHUP)
            wait_for(lambda: not any(line.startswith(f"UPS {name} ")
                                     for line in self.command("LIST UPS")),
                     10, interval=0.2, message=f"upsd dropping {name}")

    def _write_dev(self, path: Path, data: Mapping[str, str], *, touch: bool = False) -> None:
        """Write the file whole (a temp file renamed over it), with ``touch`` a strictly
        newer mtime already on it. Rewriting in place could let dummy-ups read it truncated
        or half-written and take that second's mtime as seen: the full file, stamped within
        the same second, would then never be read."""
        body = "".join(f"{k}: {v}\n" for k, v in data.items())
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(body.encode("utf-8", "surrogateescape"))
        if touch:
            self._touch(tmp)
        os.replace(tmp, path)

    def _write_config(self) -> None:
        (self.etc / "nut.conf").write_text("MODE=standalone\n")
        ups_conf = ["maxretry = 3"]
        for name, path in self.ups.items():
            ups_conf += [f"[{name}]", "    driver = dummy-ups", f"    port = {path.name}",
                         f"    pollinterval = {self.pollinterval}",
                         f'    desc = "test UPS {name}"']
        (self.etc / "ups.conf").write_text("\n".join(ups_conf) + "\n")
        upsd_conf = [f"LISTEN {self.host} {self.port}", f"MAXAGE {self.maxage}"]
        if self.tls:
            upsd_conf += [f"CERTPATH {self.etc / 'certdb'}", 'CERTIDENT "upsd" ""',
                          "DISABLE_WEAK_SSL true"]
        (self.etc / "upsd.conf").write_text("\n".join(upsd_conf) + "\n")
        users = ["[admin]", f"    password = {self.users['admin']}", "    actions = SET",
                 "    actions = FSD", "    instcmds = ALL",
                 "[monitor]", f"    password = {self.users['monitor']}", "    upsmon primary",
                 "[reader]", f"    password = {self.users['reader']}"]
        (self.etc / "upsd.users").write_text("\n".join(users) + "\n")
        for path in self.etc.iterdir():
            if path.is_file():
                path.chmod(0o640)

    def _make_certdb(self) -> None:
        certutil = need_binary("certutil")
        db = self.etc / "certdb"
        db.mkdir(exist_ok=True)
        noise = self.etc / "noise"
        noise.write_bytes(os.urandom(64))
        subprocess.run([certutil, "-N", "-d", str(db), "--empty-password"], check=True,
                       capture_output=True)
        subprocess.run([certutil, "-S", "-s", "CN=localhost", "-n", "upsd", "-x", "-t", "CT,,",
                        "-d", str(db), "-z", str(noise), "-v", "12",
                        "--extSAN", "dns:localhost,ip:127.0.0.1"],
                       check=True, capture_output=True)
        pem = subprocess.run([certutil, "-L", "-d", str(db), "-n", "upsd", "-a"], check=True,
                             capture_output=True, text=True).stdout
        self.cert_pem = self.etc / "upsd-cert.pem"
        self.cert_pem.write_text(pem)
        der = ssl.PEM_cert_to_DER_cert(pem)
        self.cert_sha256 = hashlib.sha256(der).hexdigest()
        db.chmod(0o750)

    def nut_config(self, ups: str, *, auth: bool = False, **extra: object) -> dict[str, object]:
        """The ``nut:`` block of an upkeep config entry for ``ups`` on this upsd, e.g.
        ``{"name": "rack", "nut": rig.nut_config("ups1", interval="1s", timeout="900ms")}``.
        ``auth`` adds the monitor user; with ``tls=True`` on the rig, STARTTLS verified by the
        rig's certificate is configured (override with ``tls=...``)."""
        block: dict[str, object] = {"host": self.host, "port": self.port, "ups": ups}
        if auth:
            block.update(username="monitor", password=self.users["monitor"])
        if self.tls and self.cert_pem is not None:
            block["tls"] = {"ca_file": str(self.cert_pem), "required": True}
        block.update(extra)
        return block

    # --- processes -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {**os.environ, "NUT_CONFPATH": str(self.etc), "NUT_STATEPATH": str(self.run),
                "NUT_ALTPIDPATH": str(self.run)}

    def _user_args(self) -> list[str]:
        return ["-u", "root"] if self._root else []

    def _start_driver(self, name: str) -> None:
        log = (self.dir / f"driver-{name}.log").open("ab")
        self.drivers[name] = subprocess.Popen(
            [self.driver_bin, "-a", name, *self._user_args(), "-F"], env=self._env(),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def start(self, timeout: float = 20.0) -> NutRig:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> NutRig:
        self._write_config()
        if self.tls and self.cert_pem is None:
            self._make_certdb()
        for name in self.ups:
            self._start_driver(name)
        sockets = [self.run / f"dummy-ups-{name}" for name in self.ups]
        wait_for(lambda: all(s.exists() for s in sockets), timeout,
                 message=f"dummy-ups sockets in {self.run}")
        self._start_upsd()
        self.wait_ready(timeout=timeout)
        return self

    def _start_upsd(self) -> None:
        log = (self.dir / "upsd.log").open("ab")
        self.upsd = subprocess.Popen([self.upsd_bin, *self._user_args(), "-F"], env=self._env(),
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()

    def restart_upsd(self, timeout: float = 20.0) -> None:
        """Stop upsd (if running) and start it again on the same port; drivers keep running."""
        if self.upsd is not None and self.upsd.poll() is None:
            self.upsd.terminate()
            self.upsd.wait(5)
        self._start_upsd()
        self.wait_ready(timeout=timeout)

    def command(self, *lines: str, timeout: float = 3.0) -> list[str]:
        """Send raw protocol lines; one answer line each (for LIST, up to ``END LIST``)."""
        out: list[str] = []
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            reader = sock.makefile("rb")
            for line in lines:
                sock.sendall(line.encode() + b"\n")
                first = reader.readline().decode("utf-8", "replace").rstrip("\n")
                out.append(first)
                if first.startswith("BEGIN LIST"):
                    while True:
                        more = reader.readline().decode("utf-8", "replace").rstrip("\n")
                        out.append(more)
                        if more.startswith("END LIST") or not more:
                            break
            reader.close()
        return out

    def wait_ready(self, names: list[str] | None = None, timeout: float = 20.0) -> None:
        """Until upsd answers ``ups.status`` (not stale, driver connected) for every UPS."""
        names = list(self.ups) if names is None else names

        def ready() -> bool:
            answers = self.command(*(f"GET VAR {n} ups.status" for n in names))
            # dummy-ups answers "WAIT" until it has parsed its file once
            return all(a.startswith("VAR ") and not a.endswith('"WAIT"') for a in answers)

        wait_for(ready, timeout, interval=0.2,
                 message=f"upsd on {self.port} serving {names} (log: {self.log()[-1500:]})")

    def log(self) -> str:
        path = self.dir / "upsd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- changing state -------------------------------------------------------------------
    def set(self, ups: str, var: str, value: str | None, *, wait: bool = True,
            timeout: float = 10.0) -> None:
        """Rewrite the UPS's .dev file (dummy-once re-reads it when its mtime changes).

        ``value=None`` or ``""`` removes the variable. With ``wait`` returns once upsd
        serves the new value.
        """
        path = self.ups[ups]
        data = read_dev(path)
        if value in (None, ""):
            data.pop(var, None)
        else:
            data[var] = value
        self._write_dev(path, data, touch=True)
        if wait and value not in (None, ""):
            self.wait_value(ups, var, value, timeout)

    def set_many(self, ups: str, values: Mapping[str, str], timeout: float = 10.0) -> None:
        path = self.ups[ups]
        data = read_dev(path)
        data.update(values)
        self._write_dev(path, data, touch=True)
        for var, value in values.items():
            self.wait_value(ups, var, value, timeout)

    def _touch(self, path: Path) -> None:
        """A strictly newer mtime, whole seconds apart: dummy-ups compares seconds."""
        self._stamp = max(time.time(), self._stamp + 1.0)
        os.utime(path, (self._stamp, self._stamp))

    def wait_value(self, ups: str, var: str, value: str, timeout: float = 10.0) -> None:
        expected = f'VAR {ups} {var} "{value}"'
        wait_for(lambda: self.command(f"GET VAR {ups} {var}")[0] == expected, timeout,
                 interval=0.1, message=f"{ups} {var}={value!r}")

    def upsrw(self, ups: str, var: str, value: str) -> None:
        """Set a variable through upsd as user admin (``upsrw -s``)."""
        subprocess.run([need_binary("upsrw"), "-s", f"{var}={value}", "-u", "admin",
                        "-p", self.users["admin"], f"{ups}@{self.host}:{self.port}"],
                       check=True, capture_output=True, timeout=10, env=self._env())
        self.wait_value(ups, var, value)

    def pause_driver(self, ups: str) -> None:
        os.kill(self.drivers[ups].pid, signal.SIGSTOP)

    def resume_driver(self, ups: str) -> None:
        os.kill(self.drivers[ups].pid, signal.SIGCONT)

    def kill_driver(self, ups: str) -> None:
        proc = self.drivers.pop(ups)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(5)

    def start_driver(self, ups: str) -> None:
        self._start_driver(ups)
        self.wait_ready([ups])

    def stop(self) -> None:
        procs = [*self.drivers.values(), *([self.upsd] if self.upsd else [])]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.drivers.clear()
        self.upsd = None

    def __enter__(self) -> NutRig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ScriptedUpsd:
    """A loopback server that speaks just enough of upsd's protocol to misbehave in ways a
    real upsd 2.8 cannot be configured to (it refuses to start without a UPS, and its
    ups.conf parser cannot hold a name with a space): ``answers`` maps a command line to
    its reply lines, anything else gets ``ERR UNKNOWN-COMMAND``. ``answers`` may be changed
    while it runs::

        with ScriptedUpsd({"LIST UPS": ["BEGIN LIST UPS", "END LIST UPS"]}) as fake:
            entry = {"name": "empty", "nut": {"host": "127.0.0.1", "port": fake.port}}
    """

    def __init__(self, answers: Mapping[str, list[str]]) -> None:
        self.answers: dict[str, list[str]] = dict(answers)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @staticmethod
    def ups_list(*lines: str) -> list[str]:
        return ["BEGIN LIST UPS", *lines, "END LIST UPS"]

    @staticmethod
    def var_list(ups: str, variables: Mapping[str, str]) -> list[str]:
        body = [f'VAR {ups} {k} "{v}"' for k, v in variables.items()]
        return [f"BEGIN LIST VAR {ups}", *body, f"END LIST VAR {ups}"]

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            conn.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    command = line.decode("utf-8", "replace").strip()
                    reply = self.answers.get(command, ["ERR UNKNOWN-COMMAND"])
                    try:
                        conn.sendall("".join(f"{r}\n" for r in reply).encode())
                    except OSError:
                        return

    def _accept(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def __enter__(self) -> ScriptedUpsd:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self.server.close()
