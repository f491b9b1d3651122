"""The Makefile's Java check: one clear line and exit 2 when Java 17+ is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def make_java(
    root: Path, bin_dir: Path, java_home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    tools = {Path(shutil.which(t) or "").parent for t in ("make", "awk", "cut", "sh")}
    env["PATH"] = os.pathsep.join([str(bin_dir), *map(str, tools)])
    if java_home is not None:
        env["JAVA_HOME"] = str(java_home)
    return subprocess.run(
        ["make", "-s", "java"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )


def fake_java(bin_dir: Path, version: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "java"
    script.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2021-01-19' >&2\n")
    script.chmod(0o755)


def test_old_java_is_refused_with_the_install_command(root: Path, tmp_path: Path) -> None:
    fake_java(tmp_path / "bin", "11.0.2")
    out = make_java(root, tmp_path / "bin")
    assert out.returncode == 2
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "found: 11.0.2" in lines[0] and "apt-get install -y openjdk-17-jre-headless" in lines[0]


def test_missing_java_is_refused(root: Path, tmp_path: Path) -> None:
    fake_java(tmp_path / "bin", "17.0.15")  # on PATH, but JAVA_HOME (which wins) has no java
    out = make_java(root, tmp_path / "bin", java_home=tmp_path / "no-jdk")
    assert out.returncode == 2
    assert "found: none" in out.stdout


def test_java_17_passes(root: Path, tmp_path: Path) -> None:
    fake_java(tmp_path / "bin", "17.0.15")
    assert make_java(root, tmp_path / "bin").returncode == 0
