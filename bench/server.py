"""Runs the real app in a child process (uvicorn, as `chatcommerce serve` does) for benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def running_app(
    env: dict[str, str], workers: int = 1
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    full_env = {**os.environ, "CHATCOMMERCE_LOG_LEVEL": "WARNING", **env}
    subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "upgrade"],
        env=full_env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log_path = Path(full_env.get("CHATCOMMERCE_DATA_DIR", ".")) / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=full_env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the app did not become ready in 60 s")
        yield url, proc
    except Exception:
        sys.stderr.write(log_path.read_text()[-4000:])
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
