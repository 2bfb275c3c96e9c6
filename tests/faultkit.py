"""Fault injection on loopback: a TCP proxy in front of a real server that can refuse connections
(the server is down) or cut a connection after N bytes (a crash mid-transfer), and the server
processes the fault suite runs (moto S3 over HTTP, the MLflow server on Postgres)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """127.0.0.1:<port> -> 127.0.0.1:<target>. `down()` refuses new connections and drops open ones;
    `cut_after(n)` lets n client bytes through, then drops the connection (once)."""

    def __init__(self, target: int):
        self.target, self.port = target, free_port()
        self.mode, self.cut_bytes, self.cuts_left = "up", 0, 0
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.injected: list[str] = []
        self.server = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.server.settimeout(0.2)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def down(self) -> None:
        self.mode = "down"
        self.injected.append("down")
        with self.lock:
            for c in self.conns:
                self._close(c)
            self.conns.clear()

    def up(self) -> None:
        self.mode = "up"

    def cut_after(self, n: int, times: int = 1) -> None:
        """The next `times` connections die after n client bytes; open (pooled) connections are dropped
        first, so the very next request opens a connection that gets cut."""
        self.mode, self.cut_bytes, self.cuts_left = "cut", n, times
        self.injected.append(f"cut after {n} bytes x{times}")
        with self.lock:
            for c in self.conns:
                self._close(c)
            self.conns.clear()

    def close(self) -> None:
        self.running = False
        self.server.close()

    @staticmethod
    def _close(c: socket.socket) -> None:
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        c.close()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            if self.mode == "down":
                self._close(client)  # as good as connection refused: nothing is served
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                self._close(client)
                continue
            with self.lock:
                self.conns += [client, upstream]
            budget = [self.cut_bytes] if self.mode == "cut" else None
            threading.Thread(target=self._pump, args=(client, upstream, budget), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, budget: list[int] | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if budget is not None:
                    if len(data) >= budget[0]:
                        dst.sendall(data[: budget[0]])
                        self.cuts_left -= 1
                        if self.cuts_left <= 0:
                            self.mode = "up"  # then the network heals
                        break
                    budget[0] -= len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src)
            self._close(dst)


def wait_http(url: str, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited during start-up")
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


class MlflowServer:
    """`mlflow server` on Postgres with artifacts in S3: stop() and start() like an operator would."""

    def __init__(self, backend: str, s3_url: str, bucket: str, log: Path):
        self.backend, self.s3_url, self.bucket, self.log = backend, s3_url, bucket, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": self.s3_url, "AWS_ACCESS_KEY_ID": "fault", "AWS_SECRET_ACCESS_KEY": "fault-secret",
               "AWS_DEFAULT_REGION": "us-east-1", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        self.proc = subprocess.Popen([str(BIN / "mlflow"), "server", "--backend-store-uri", self.backend, "--artifacts-destination",
                                      f"s3://{self.bucket}/artifacts", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                                     env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"http://127.0.0.1:{self.port}/health", 180, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)
