"""Real servers for the test suite, each on 127.0.0.1 and stopped by its own process id."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

# The longest a test waits for something bound to happen: a process to finish, a server to
# answer, a message to arrive. Every wait ends as soon as its condition holds, so the limit costs
# a passing test nothing; it is generous because the machine may be shared and busy.
PATIENCE = 600.0


def wait_until(condition, what: str, timeout: float = PATIENCE, interval: float = 0.05):
    """Call ``condition`` until it returns something true, and return that; fail naming
    ``what`` was awaited once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s in vain until {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, timeout: float = PATIENCE, process: subprocess.Popen | None = None
) -> None:
    """Wait until something listens on 127.0.0.1:``port``; with ``process``, fail at once if
    that process (the one meant to listen) exits first."""

    def listening() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited ({process.returncode}) before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_until(listening, f"something listens on 127.0.0.1:{port}", timeout, interval=0.1)


def start_gunicorn(env: dict, port: int, timeout: int = 60) -> subprocess.Popen:
    """The app under gunicorn with two workers on 127.0.0.1:``port`` (the production shape);
    the caller stops it by its process id."""
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            str(timeout),
            "app:create_app()",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (make test installs it)")
    return path


class Postgres:
    """A throw-away PostgreSQL cluster (initdb) listening on 127.0.0.1 only."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="msp-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.pid: int | None = None
        self._as_postgres = os.geteuid() == 0

    def _run(self, args: list[str]) -> None:
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> Postgres:
        os.chmod(self.base, 0o755)
        if self._as_postgres:
            shutil.chown(self.base, "postgres")
        self._run(
            [
                _pg_bin("initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        return self.start_server()

    def start_server(self) -> Postgres:
        """Start the server on the existing cluster (after ``start`` or ``stop_immediately``)."""
        self._run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-w",
                "-t",
                str(int(PATIENCE)),
                "-l",
                str(self.base / "server.log"),
                "-o",
                f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                "start",
            ]
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        wait_for_port(self.port)
        return self

    def stop_immediately(self) -> None:
        """``pg_ctl stop -m immediate``: no checkpoint, open transactions are lost (a crash);
        the cluster stays, and ``start_server`` recovers it."""
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "immediate", "stop"])
        self.pid = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            else:
                wait_until(lambda: _gone(self.pid), f"PostgreSQL {self.pid} has stopped")
            self.pid = None
        shutil.rmtree(self.base, ignore_errors=True)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Redis:
    """A redis-server on 127.0.0.1, without persistence unless ``appendonly`` (as production
    runs it: the queues survive a restart)."""

    def __init__(self, appendonly: bool = False) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="msp-redis-")
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process)
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def restart(self) -> None:
        """Stop the server (SIGTERM: it writes its data, if it keeps any) and start it again
        on the same port."""
        self.shutdown()
        self.start()

    def shutdown(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=PATIENCE)
            self.process = None

    def stop(self) -> None:
        self.shutdown()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class SmtpSink:
    """An aiosmtpd SMTP server that keeps every message it receives."""

    port: int = field(default_factory=free_port)
    messages: list = field(default_factory=list)

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                sink.messages.append(
                    (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
                )
                return "250 OK"

        self._lock = threading.Lock()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class LocalStripe:
    """localstripe (GPL, a separate test process) on 127.0.0.1, its objects in memory only, run
    from its own working directory (``scripts/localstripe_loopback.py``, which `make run` uses
    too)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="msp-localstripe-")
        self.process: subprocess.Popen | None = None

    def start(self) -> LocalStripe:
        script = Path(__file__).resolve().parents[2] / "scripts" / "localstripe_loopback.py"
        for _try in range(5):
            self.process = subprocess.Popen(
                [sys.executable, str(script), str(self.port)],
                cwd=self.dir,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_until(self._answers, f"localstripe answers at {self.url}", interval=0.1)
            except RuntimeError:
                # the port was taken by another server in between: ours exited, take another
                self.port = free_port()
                continue
            return self
        raise RuntimeError("localstripe did not start")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"localstripe exited ({self.process.returncode})")
        try:
            urllib.request.urlopen(f"{self.url}/v1/customers", timeout=5).close()
        except urllib.error.HTTPError:
            return True  # an answer, if not a welcome one
        except OSError:
            return False
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
