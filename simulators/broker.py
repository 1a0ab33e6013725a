"""A throwaway MQTT broker on a loopback port of its own: mosquitto, or amqtt without it.

The port is held (``simulators.ports.HeldPort``) from the broker's making until ``close()``:
mosquitto needs the number in its config, and a restarted broker comes back on it, without
a window in which anything else could take it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from collector.fleet.brokerconf import acl_file, password_file, site_username, write_private
from simulators.accounts import Accounts, accepts, toml_login
from simulators.ports import HeldPort

START_S = 10.0  # how long a broker may take to listen, retries on a busy port included


def _answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while not _answers(port, host):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")
        time.sleep(0.05)


class _Locked:
    """The accounts side of a locked-down broker: the collector's account, one per site
    (``add_site``) and extras, written as mosquitto's password file and ACL in
    ``workdir`` (``collector.fleet.brokerconf``)."""

    port: int
    workdir: Path

    def _init_accounts(self) -> None:
        self.accounts = Accounts()
        self.passwd = self.workdir / "passwd"
        self.acl = self.workdir / "acl"
        self._write_accounts()

    def add_site(self, project: str, site: str) -> str:
        """The site's account (made once, then the same), live before this returns."""
        if (project, site) in self.accounts.sites:
            return self.accounts.sites[(project, site)]
        password = self.accounts.add_site(project, site)
        self._reload(site_username(project, site), password)
        return password

    def add_account(self, username: str, read=(), write=()) -> str:
        """An account outside the fleet's naming (a test on its own topics, a load
        generator): it may read and write only what ``read``/``write`` grant."""
        password = self.accounts.add_account(username, read, write)
        self._reload(username, password)
        return password

    def grant(self, username: str, read=(), write=()) -> None:
        """Change what an extra account may read and write, live before this returns."""
        self._reload(username, self.accounts.grant(username, read, write))

    @property
    def collector_username(self) -> str:
        return self.accounts.collector_username

    @property
    def collector_password(self) -> str:
        return self.accounts.collector_password

    def site_password(self, project: str, site: str) -> str:
        return self.accounts.sites[(project, site)]

    def collector_mqtt(self):
        """``MqttOptions`` with the collector's account."""
        return self.accounts.mqtt(self.collector_username, self.collector_password)

    def site_mqtt(self, project: str, site: str, **options):
        """``MqttOptions`` with the site's account (made if missing) and ``options``."""
        return self.accounts.mqtt(site_username(project, site), self.add_site(project, site),
                                  **options)

    def mqtt_toml(self, project: str | None = None, site: str | None = None) -> str:
        """``username``/``password`` lines for an ``[mqtt]`` table: the site's account, or
        the collector's when no site is named."""
        if site is None:
            return toml_login(self.collector_username, self.collector_password)
        return toml_login(site_username(project, site), self.add_site(project, site))

    def login(self, client, project: str | None = None, site: str | None = None):
        """Give a paho client the site's account, or the collector's; returns the client."""
        if site is None:
            client.username_pw_set(self.collector_username, self.collector_password)
        else:
            client.username_pw_set(site_username(project, site), self.add_site(project, site))
        return client

    def _write_accounts(self) -> None:
        accounts = self.accounts.all()
        write_private(self.passwd, password_file(accounts))
        write_private(self.acl, acl_file(accounts))

    def _running(self) -> bool:
        raise NotImplementedError

    def _signal_reload(self) -> None:
        """Tell the running broker to read its files again."""

    def _reload(self, username: str, password: str, timeout: float = 10.0) -> None:
        self._write_accounts()
        if not self._running():
            return  # read at the next start
        self._signal_reload()
        deadline = time.monotonic() + timeout
        while not accepts(self.port, username, password):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker did not take account {username!r} after "
                                   f"{timeout}s (see {self.workdir})")
            time.sleep(0.05)


class Mosquitto(_Locked):
    """mosquitto as a child process, locked down: no anonymous access, one account per site
    and the collector's, each confined by its ACL. ``restart()`` (or ``stop()`` then
    ``start()``) keeps the port and the accounts (for broker-loss tests); ``close()`` stops
    it and lets the port go. ``hold_port()`` gives another port for an extra listener that a
    test writes into ``conf``.

    Started as root, mosquitto would drop to its own user before reading the password file
    and ACL, and that user cannot reach a test's private folder: so a root run keeps root.
    """

    name = "mosquitto"

    def __init__(self, port: int | None = None, workdir: Path | None = None):
        """``port``: a port the caller keeps free itself; by default one held here."""
        self._held = [] if port else [HeldPort()]
        self.port = port or self._held[0].port
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="pw-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self._init_accounts()
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text(
            ("user root\n" if os.geteuid() == 0 else "")
            + f"listener {self.port} 127.0.0.1\nallow_anonymous false\n"
            f"password_file {self.passwd}\nacl_file {self.acl}\npersistence false\n"
            # as `parkwatch broker config` writes: bound by size, 512 MiB a client
            "max_queued_messages 10000000\nmax_queued_bytes 536870912\n"
            "log_dest stderr\nlog_type error\n")

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()

    def _running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal_reload(self) -> None:
        self.proc.send_signal(signal.SIGHUP)  # mosquitto reads its password file and ACL

    # --- process -------------------------------------------------------------------------

    def hold_port(self) -> int:
        """One more port of this broker's, held as long as its own."""
        self._held.append(HeldPort())
        return self._held[-1].port

    def start(self, timeout: float = START_S) -> Mosquitto:
        """Start and return once it listens. A port still busy (a socket of the previous
        run not yet gone) is tried again until ``timeout``."""
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        log = self.workdir / "mosquitto.log"
        deadline = time.monotonic() + timeout
        while True:
            offset = log.stat().st_size if log.exists() else 0
            with open(log, "ab") as err:
                self.proc = subprocess.Popen([exe, "-c", str(self.conf)],
                                             stdout=subprocess.DEVNULL, stderr=err)
            if self._listening(deadline):
                return self
            said = log.read_bytes()[offset:].decode(errors="replace")
            if "Address already in use" not in said or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not start on port {self.port} "
                                   f"(exit {self.proc.returncode}): {said.strip()[-500:]}")
            time.sleep(0.1)

    def _listening(self, deadline: float) -> bool:
        """True once it listens on every port of its config; False if it exited first."""
        ports = [int(p) for p in
                 re.findall(r"^listener\s+(\d+)", self.conf.read_text(), re.M)] or [self.port]
        while self.proc.poll() is None:
            if all(_answers(p) for p in ports):
                return self.proc.poll() is None
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"mosquitto did not listen on {ports} after the deadline "
                                   f"(see {self.workdir})")
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and let the ports go."""
        self.stop()
        for held in self._held:
            held.close()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


class EmbeddedBroker(_Locked):
    """amqtt in a background thread, for machines without mosquitto (the demo), held to the
    same accounts and topic rules by ``simulators.amqtt_acl``."""

    name = "amqtt (embedded)"

    def __init__(self, port: int | None = None, workdir: Path | None = None):
        self._held = None if port else HeldPort()  # asyncio binds it with SO_REUSEADDR
        self.port = port or self._held.port
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="pw-amqtt-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._init_accounts()
        self._loop = asyncio.new_event_loop()
        self._broker = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt",
                                        daemon=True)

    def _running(self) -> bool:
        return self._broker is not None  # it reads the files again when they change

    def start(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        from simulators.amqtt_acl import plugins

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": plugins(self.passwd, self.acl),
        }
        self._thread.start()

        async def boot():
            self._broker = Broker(config)
            await self._broker.start()

        import logging

        # amqtt logs every probe connection as an error; the demo only needs it to work.
        logging.getLogger("amqtt").setLevel(logging.CRITICAL)
        asyncio.run_coroutine_threadsafe(boot(), self._loop).result(15)
        return self

    def stop(self) -> None:
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if self._held is not None:
            self._held.close()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


def start_broker(prefer_embedded: bool = False, workdir: Path | None = None):
    """A locked-down broker: mosquitto when installed, else the embedded one. Give it its
    sites (``add_site``) before or after it starts."""
    if not prefer_embedded and Mosquitto.available():
        return Mosquitto(workdir=workdir).start()
    return EmbeddedBroker(workdir=workdir).start()
