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
    res = init_workdir(wd, sessions=sessions, catalog=catalog, admin_key=ADMIN_KEY, demo_users=4)
    return wd, res


@pytest.fixture()
def fresh_workdir(base_workdir, tmp_path):
    """A private copy of the initialised workdir (for tests that change models or delete data)."""
    src, _ = base_workdir
    dst = tmp_path / "work"
    shutil.copytree(src, dst)
    return dst


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def svc(base_workdir):
    """(TestClient, app, InitResult) on the shared workdir; tests use their own users where they write."""
    from fastapi.testclient import TestClient

    from trackrec.service.app import create_app
    wd, res = base_workdir
    app = create_app(wd)
    with TestClient(app) as client:
        yield client, app, res
