"""Shared fixtures: one small generated world, initialised once per test session."""

from __future__ import annotations

import shutil

import pytest

ADMIN_KEY = "test-admin-key-0123456789abcdef"


@pytest.fixture(scope="session")
def svc_world():
    from trackrec.data.generate import generate_world
    return generate_world(n_users=60, n_tracks=300, n_plays=6000, random_state=7)


@pytest.fixture(scope="session")
def base_workdir(tmp_path_factory, svc_world):
    """A workdir made by ``init_workdir`` (store + first model); copy it before changing models."""
    from trackrec.service.bootstrap import init_workdir
    catalog, sessions = svc_world
    wd = tmp_path_factory.mktemp("svc") / "work"
    res = init_workdir(wd, sessions=sessions, catalog=catalog, admin_key=ADMIN_KEY, demo_users=4,
                       train_params={"refit": False})  # half the training time; serving is the same
    return wd, res


@pytest.fixture()
def fresh_workdir(base_workdir, tmp_path):
    """A private copy of the initialised workdir (for tests that change models or delete data)."""
    src, _ = base_workdir
    dst = tmp_path / "work"
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def svc(base_workdir):
    """(TestClient, app, InitResult) on the shared workdir; tests use their own users where they write."""
    from fastapi.testclient import TestClient

    from trackrec.service.app import create_app
    wd, res = base_workdir
    app = create_app(wd)
    with TestClient(app) as client:
        yield client, app, res


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``uvicorn`` running the service in a child process on a loopback port."""

    def __init__(self, workdir, port: int | None = None, workers: int = 1):
        self.workdir, self.port, self.workers = workdir, port or free_port(), workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, timeout: float = 90.0) -> ServerProcess:
        import os
        import subprocess
        import sys
        import time

        import httpx
        env = dict(os.environ, TRACKREC_WORKDIR=str(self.workdir), TRACKREC_LOG_LEVEL="WARNING")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "trackrec.service.app:create_app_from_env", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers), "--no-access-log",
             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.proc.stderr.read().decode()[-2000:])
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not become ready within {timeout}s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing."""
        import signal
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except Exception:  # noqa: BLE001
                self.kill()


@pytest.fixture()
def server_factory():
    started = []

    def make(workdir, **kw) -> ServerProcess:
        s = ServerProcess(workdir, **kw)
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()
