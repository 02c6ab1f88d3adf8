"""The azure target through the real CLI (a subprocess): build output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from azure_testkit import SAMPLE, copy_sample

CLI = [sys.executable, "-c", "from multicloud.cli import main; main()"]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_build_writes_the_zip_and_reports_it(tmp_path: Path) -> None:
    spec = copy_sample(tmp_path / "svc")
    proc = run(spec.parent, "-o", "json", "build", "--target", "azure")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((spec.parent / ".multicloud/build/azure/build.json").read_text())
    assert manifest["target"] == "azure" and set(manifest["functions"]) == {"api", "worker", "nightly"}
    assert manifest["digest"] in proc.stdout  # the CLI reports the digest of the zip it built
    assert (spec.parent / ".multicloud/build/azure/app.zip").is_file()


def test_cli_build_of_a_blob_delete_trigger_exits_3(tmp_path: Path) -> None:
    text = (SAMPLE / "multicloud.yaml").read_text().replace(
        "- storage: {bucket: uploads, prefix: incoming/, suffix: .csv}",
        "- storage: {bucket: uploads, events: [deleted]}")
    spec = copy_sample(tmp_path / "svc", text)
    proc = run(spec.parent, "build", "--target", "azure")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "created or updated" in proc.stdout + proc.stderr
