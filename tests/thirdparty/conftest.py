"""SCIM servers written by others, unmodified, started on loopback once per module, with a view of what each
one stores (its own storage: SCIMMY's in-memory store through a read-only route, Django's sqlite tables).

- SCIMMY with scimmy-routers (npm), on Node.js: tests/thirdparty/scimmy/ (`make install` runs `npm ci`
  there; the tests install nothing and ask no registry).
- django-scim2 (PyPI): tests/thirdparty/django_scim/ (a minimal Django project, sqlite in a temp dir).
- django-scim2-server (PyPI): tests/thirdparty/django_scim2_server/ (the same, for that package).

Each test uses its own `prefix` for userNames and group names, so tests sharing a server never see each
other's accounts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx2
import pytest
from scim2_models import Context, Email, Name, PatchOp, PatchOperation, User

from lifecycle import conftest as lifecycle

# The lifecycle tests' real parts: the embedded API, a namespace of one's own, the operator in its thread.
embedded = lifecycle.embedded
cluster = lifecycle.cluster
operator = lifecycle.operator

HERE = Path(__file__).parent
STARTUP_TIMEOUT = 60.0

# One stored account, the same shape for every server: userName, externalId, displayName, givenName,
# familyName, email, title and active, as the app holds them (None where it does not store the attribute).
Stored = dict[str, Any]


class ThirdPartyApp(Protocol):
    name: str
    base_url: str
    token: str

    def users(self, prefix: str) -> dict[str, Stored]:
        """userName -> the account as the app stores it, for the userNames starting with `prefix`."""

    def groups(self, prefix: str) -> dict[str, list[str]]:
        """Group displayName -> its members' userNames as stored (a duplicate stays visible), for the groups
        whose name starts with `prefix`."""


class ScimAdmin:
    """Out-of-band changes, as an admin of the app would make them through its own SCIM API."""

    name: str
    base_url: str
    token: str

    def client(self) -> httpx2.Client:
        return httpx2.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"},
            timeout=30,
        )

    def create_by_hand(self, user_name: str) -> None:
        """An account made in the app by someone else (no externalId): what a userName collision meets."""
        user = User(
            user_name=user_name,
            display_name="Made By Hand",
            name=Name(given_name="Made", family_name="ByHand"),
            emails=[Email(value=user_name, primary=True, type="work")],
        )
        with self.client() as c:
            answer = c.post("/Users", json=user.model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST))
        assert answer.status_code == 201, answer.text

    def user_id(self, user_name: str) -> str:
        with self.client() as c:
            answer = c.get("/Users", params={"filter": f'userName eq "{user_name}"'})
            assert answer.status_code == 200, answer.text
            found = [r for r in answer.json()["Resources"] if r["userName"] == user_name]
            if not found:  # an app that filters on nothing (django-scim2's attribute map is short)
                answer = c.get("/Users", params={"count": 1000})
                found = [r for r in answer.json()["Resources"] if r["userName"] == user_name]
        [user] = found
        return str(user["id"])

    def tamper(self, user_name: str, **changes: Any) -> None:
        """Replace attributes of one account in the app (SCIM path -> value) with a PATCH."""
        patch = PatchOp[User](
            operations=[
                PatchOperation[User](op=PatchOperation.Op.replace_, path=path, value=value)
                for path, value in changes.items()
            ]
        )
        user_id = self.user_id(user_name)
        with self.client() as c:
            answer = c.patch(
                f"/Users/{user_id}", json=patch.model_dump(scim_ctx=Context.RESOURCE_PATCH_REQUEST)
            )
        assert answer.status_code in (200, 204), answer.text


@dataclass
class Server(ScimAdmin):
    """A started server process and how to reach it."""

    name: str
    base_url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(server: Server, path: str) -> None:
    """Poll an authenticated GET until the server answers 200 (or its process ends: fail with its log)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with server.client() as c:
        while True:
            if server.process.poll() is not None:
                pytest.fail(
                    f"{server.name} exited with {server.process.returncode}:\n{server.log.read_text()}"
                )
            with contextlib.suppress(httpx2.TransportError):
                if c.get(path).status_code == 200:
                    return
            if time.monotonic() > deadline:
                pytest.fail(f"{server.name} not ready after {STARTUP_TIMEOUT}s:\n{server.log.read_text()}")
            time.sleep(0.05)  # polling the readiness condition


@contextlib.contextmanager
def started(
    name: str, command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- SCIMMY -----------------------------------------------------------------------------------------------

SCIMMY_DIR = HERE / "scimmy"


@pytest.fixture(scope="session")
def scimmy_installed() -> Path:
    """tests/thirdparty/scimmy/node_modules, as `make install` put it there (`npm ci`): the tests install
    nothing themselves, and ask no registry."""
    if not shutil.which("node"):
        pytest.fail("SCIMMY's tests need Node.js (>= 20) on PATH")
    modules = SCIMMY_DIR / "node_modules"
    marker = modules / ".package-lock.json"  # npm writes it on every install
    if not marker.is_file() or marker.stat().st_mtime < (SCIMMY_DIR / "package-lock.json").stat().st_mtime:
        pytest.fail(f"{modules} is missing or older than package-lock.json: run `make install` (npm ci)")
    return modules


@dataclass
class ScimmyApp(Server):
    def store(self) -> dict[str, list[dict[str, Any]]]:
        answer = httpx2.get(self.base_url.removesuffix("/scim/v2") + "/debug/store", timeout=30)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def users(self, prefix: str) -> dict[str, Stored]:
        found: dict[str, Stored] = {}
        for u in self.store()["Users"]:
            if not u["userName"].startswith(prefix):
                continue
            emails = u.get("emails") or []
            primary = [e for e in emails if e.get("primary")] or emails
            found[u["userName"]] = {
                "userName": u["userName"],
                "externalId": u.get("externalId"),
                "displayName": u.get("displayName"),
                "givenName": (u.get("name") or {}).get("givenName"),
                "familyName": (u.get("name") or {}).get("familyName"),
                "email": primary[0]["value"] if primary else None,
                "title": u.get("title"),
                "active": u.get("active", True),
            }
        return found

    def groups(self, prefix: str) -> dict[str, list[str]]:
        store = self.store()
        names = {u["id"]: u["userName"] for u in store["Users"]}
        return {
            g["displayName"]: sorted(names.get(m["value"], m["value"]) for m in g.get("members") or [])
            for g in store["Groups"]
            if g["displayName"].startswith(prefix)
        }


@contextlib.contextmanager
def scimmy_server(tmp: Path, *flavour: str) -> Iterator[ScimmyApp]:
    port, token = free_port(), secrets.token_urlsafe(24)
    node = shutil.which("node")
    assert node
    command = [node, "server.js", str(port), token, *flavour]
    with started("scimmy", command, SCIMMY_DIR, {}, tmp / "server.log") as process:
        name = " ".join(["SCIMMY", *flavour])
        app = ScimmyApp(name, f"http://127.0.0.1:{port}/scim/v2", token, process, tmp / "server.log")
        wait_ready(app, "/ServiceProviderConfig")
        yield app


@pytest.fixture(scope="module")
def scimmy(scimmy_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimmyApp]:
    """SCIMMY and scimmy-routers in an Express 4 app: RFC 7644 paging."""
    with scimmy_server(tmp_path_factory.mktemp("scimmy")) as app:
        yield app


@pytest.fixture(scope="module")
def scimmy_express5(scimmy_installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimmyApp]:
    """The same in an Express 5 app (npm's `express` today): every listing answers its first 20 resources,
    whatever startIndex and count ask (scimmy-routers' cast of them is lost on Express 5's req.query)."""
    with scimmy_server(tmp_path_factory.mktemp("scimmy_express5"), "express5") as app:
        yield app


# --- Django: django-scim2 and django-scim2-server ---------------------------------------------------------


@dataclass
class DjangoApp(Server):
    db: Path

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the app's own tables (read-only connection, beside the running server)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)) as db:
            return db.execute(sql, params).fetchall()

    def sql(self, sql: str, *params: Any) -> None:
        """Change the app's own tables, as an admin working on its database would."""
        with contextlib.closing(sqlite3.connect(self.db, timeout=30)) as db, db:
            db.execute(sql, params)


@contextlib.contextmanager
def django_server(name: str, project: Path, settings: str, tmp: Path) -> Iterator[dict[str, Any]]:
    """A Django project's runserver on a free loopback port, its sqlite database in `tmp` (migrated first)."""
    port, token, db = free_port(), secrets.token_urlsafe(24), tmp / "db.sqlite3"
    env = {
        "SCIM_DB": str(db),
        "SCIM_PORT": str(port),
        "SCIM_TOKEN": token,
        "PYTHONPATH": str(project),
        "DJANGO_SETTINGS_MODULE": settings,
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "-v0"],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if migrate.returncode != 0:
        pytest.fail(f"{name}: migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
    # migrate has just run the system checks: the server need not run them again.
    command = [
        sys.executable,
        "-m",
        "django",
        "runserver",
        f"127.0.0.1:{port}",
        "--noreload",
        "--skip-checks",
    ]
    log = tmp / "server.log"
    with started(name, command, project, env, log) as process:
        yield {"port": port, "token": token, "db": db, "log": log, "process": process}


@dataclass
class DjangoScim2(DjangoApp):
    """django-scim2 0.23: users in scim_site_user (its mixin on AbstractUser), groups in scim_site_group."""

    def users(self, prefix: str) -> dict[str, Stored]:
        rows = self.query(
            "SELECT username, scim_external_id, first_name, last_name, email, is_active FROM scim_site_user"
            " WHERE username LIKE ? || '%'",
            prefix,
        )
        return {
            r[0]: {
                "userName": r[0],
                "externalId": r[1] or None,
                "displayName": None,  # not stored: django-scim2 answers "givenName familyName"
                "givenName": r[2] or None,
                "familyName": r[3] or None,
                "email": r[4] or None,
                "title": None,  # not stored
                "active": bool(r[5]),
            }
            for r in rows
        }

    def groups(self, prefix: str) -> dict[str, list[str]]:
        names = [
            r[0] for r in self.query("SELECT name FROM scim_site_group WHERE name LIKE ? || '%'", prefix)
        ]
        rows = self.query(
            "SELECT g.name, u.username FROM scim_site_user_scim_groups m"
            " JOIN scim_site_group g ON g.id = m.group_id JOIN scim_site_user u ON u.id = m.user_id"
            " WHERE g.name LIKE ? || '%'",
            prefix,
        )
        return {n: sorted(u for g, u in rows if g == n) for n in names}


@pytest.fixture(scope="module")
def django_scim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DjangoScim2]:
    tmp = tmp_path_factory.mktemp("django_scim")
    with django_server("django-scim2", HERE / "django_scim", "scim_site.settings", tmp) as info:
        app = DjangoScim2(
            "django-scim2",
            f"http://127.0.0.1:{info['port']}/scim/v2",
            info["token"],
            info["process"],
            info["log"],
            info["db"],
        )
        wait_ready(app, "/ServiceProviderConfig")
        yield app


@dataclass
class DjangoScim2Server(DjangoApp):
    """django-scim2-server 1.1: Django's auth_user and auth_group, with its SCIM rows beside them."""

    def users(self, prefix: str) -> dict[str, Stored]:
        rows = self.query(
            "SELECT s.scim_username, s.external_id, u.first_name, u.last_name, u.email, s.active"
            " FROM django_scim2_server_scimuser s JOIN auth_user u ON u.id = s.user_id"
            " WHERE s.scim_username LIKE ? || '%'",
            prefix,
        )
        return {
            r[0]: {
                "userName": r[0],
                "externalId": r[1] or None,
                "displayName": None,  # not stored
                "givenName": r[2] or None,
                "familyName": r[3] or None,
                "email": r[4] or None,
                "title": None,  # not stored
                "active": bool(r[5]),
            }
            for r in rows
        }

    def groups(self, prefix: str) -> dict[str, list[str]]:
        names = [
            r[0]
            for r in self.query(
                "SELECT display_name FROM django_scim2_server_scimgroup WHERE display_name LIKE ? || '%'",
                prefix,
            )
        ]
        rows = self.query(
            "SELECT g.display_name, s.scim_username FROM django_scim2_server_scimgroup g"
            " JOIN auth_user_groups m ON m.group_id = g.group_id"
            " JOIN django_scim2_server_scimuser s ON s.user_id = m.user_id"
            " WHERE g.display_name LIKE ? || '%'",
            prefix,
        )
        return {n: sorted(u for g, u in rows if g == n) for n in names}


@pytest.fixture(scope="module")
def django_scim2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DjangoScim2Server]:
    tmp = tmp_path_factory.mktemp("django_scim2_server")
    project = HERE / "django_scim2_server"
    with django_server("django-scim2-server", project, "server_site.settings", tmp) as info:
        app = DjangoScim2Server(
            "django-scim2-server",
            f"http://127.0.0.1:{info['port']}/scim/v2",
            info["token"],
            info["process"],
            info["log"],
            info["db"],
        )
        wait_ready(app, "/ServiceProviderConfig")
        yield app


@pytest.fixture
def prefix() -> str:
    """This test's userName and group-name prefix (tests share a server per module)."""
    return f"t{uuid.uuid4().hex[:6]}"
