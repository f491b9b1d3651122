"""A Spark standalone cluster on 127.0.0.1 for tests: one master and N workers.

pyspark's pip package has no ``sbin/start-*.sh`` scripts, so the daemons are started with its
``bin/spark-class`` and stopped by signalling their process groups.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
STARTUP_SECONDS = 90


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"'{text}' not seen in {log}:\n{tail}")


def _daemon(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of ``process`` (SIGKILL after 20 s) and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def cluster_env() -> dict[str, str]:
    """The environment the daemons (and a driver talking to them) need on 127.0.0.1."""
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }


def worker_dir(workdir: Path, index: int) -> Path:
    """The work directory of worker ``index`` (executor logs land in ``<app id>/<executor>/``)."""
    return workdir / f"worker-{index}"


@contextmanager
def standalone_cluster(
    workdir: Path, workers: int = 1, cores: int = 2, memory: str = "1g"
) -> Iterator[str]:
    """Start a master and ``workers`` workers on 127.0.0.1; yield the master URL; stop them all.

    Logs go to ``workdir/master.log`` and ``workdir/worker-{i}.log``; worker ``i`` keeps its
    applications under :func:`worker_dir`.
    """
    env = cluster_env()
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        master = _daemon(
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(free_port()),
            ],
            workdir / "master.log",
            env,
        )
        processes.append(master)
        _wait_for_line(workdir / "master.log", "I have been elected leader", master)
        url = f"spark://127.0.0.1:{port}"
        for index in range(workers):
            log = workdir / f"worker-{index}.log"
            worker = _daemon(
                [
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--webui-port",
                    str(free_port()),
                    "--cores",
                    str(cores),
                    "--memory",
                    memory,
                    "--work-dir",
                    str(worker_dir(workdir, index)),
                    url,
                ],
                log,
                env,
            )
            processes.append(worker)
            _wait_for_line(log, "Successfully registered with master", worker)
        yield url
    finally:
        for process in reversed(processes):
            stop_process_group(process)
