"""The Lambda package: deterministic, reused when unchanged, dependencies for Lambda's platform, Lambda's
size limits, and a zip whose entry really runs the handler on native sample events (real runtime)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from aws_functional_support import FULL, write

from multicloud.errors import SpecError
from multicloud.project import Project
from multicloud.provider import InvokeRequest
from multicloud.providers.aws import AwsProvider
from multicloud.providers.aws.events import sample_event


def _build(root: Path):  # type: ignore[no-untyped-def]
    p = AwsProvider(Project.load(root))
    return p.build(root / ".multicloud" / "build" / "aws")


def test_same_inputs_give_the_same_bytes_and_unchanged_code_is_not_rebuilt(tmp_path: Path) -> None:
    a = _build(write(tmp_path / "a"))
    time.sleep(0.01)
    b = _build(write(tmp_path / "b"))  # other folder, other mtimes
    assert a.digest == b.digest and a.artifacts[0].sha256 == b.artifacts[0].sha256
    package = a.artifacts[0].path
    before = package.stat().st_mtime_ns
    started = time.perf_counter()
    again = _build(tmp_path / "a")
    took = time.perf_counter() - started
    assert again.digest == a.digest and package.stat().st_mtime_ns == before  # not rewritten
    assert took < 0.3
    (tmp_path / "a" / "app.py").write_text((tmp_path / "a" / "app.py").read_text() + "\n# changed\n")
    assert _build(tmp_path / "a").digest != a.digest


def test_package_layout(tmp_path: Path) -> None:
    root = write(tmp_path / "svc")
    (root / ".env").write_text("SECRET=1")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("")
    result = _build(root)
    (art,) = result.artifacts
    assert art.entry_point == "_multicloud_entry.hello"
    manifest = json.loads((result.out_dir / "build.json").read_text())
    assert manifest["functions"]["hello"]["sha256"] == art.sha256
    with zipfile.ZipFile(art.path) as zf:
        names = zf.namelist()
        entry = zf.read("_multicloud_entry.py").decode()
        infos = zf.infolist()
    assert names == sorted(names)
    assert {"app.py", "_multicloud_entry.py", "multicloud/__init__.py", "multicloud/runtime/aws.py"} <= set(names)
    assert not any(n.startswith((".env", "tests/", ".multicloud/")) or n == "multicloud.yaml" for n in names)
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    assert "hello = entry('app.hello', 'hello')" in entry
    assert "ssm:" not in entry  # secrets never in artifacts, not even references


def _installers() -> list[str]:
    import shutil

    try:
        import uv  # noqa: F401

        has_uv = True
    except ImportError:
        has_uv = shutil.which("uv") is not None
    return ["pip", "uv"] if has_uv else ["pip"]  # pip always: it is the fallback every machine has


@pytest.mark.slow
@pytest.mark.parametrize("installer", _installers())
def test_dependencies_are_installed_for_lambdas_platform(tmp_path: Path, installer: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from multicloud.providers.aws.deps import installer as chosen

    monkeypatch.setenv("MULTICLOUD_INSTALLER", installer)
    assert chosen() == installer
    root = write(tmp_path / "svc", requirements="markupsafe==3.0.3\nsix\n")
    with zipfile.ZipFile(_build(root).artifacts[0].path) as zf:
        names = zf.namelist()
    assert "six.py" in names
    assert any(n.startswith("markupsafe/_speedups.cpython-311-x86_64-linux-gnu") for n in names), names
    # arm64 takes the aarch64 wheel, never this machine's x86_64 one
    spec = FULL.replace("aws: {stage: prod", "aws: {architecture: arm64, stage: prod")
    arm = write(tmp_path / "arm", spec, requirements="markupsafe==3.0.3\n")
    with zipfile.ZipFile(_build(arm).artifacts[0].path) as zf:
        arm_names = zf.namelist()
    assert any(n.startswith("markupsafe/_speedups.cpython-311-aarch64-linux-gnu") for n in arm_names)
    assert not any("x86_64" in n for n in arm_names)


def test_over_250_mb_unzipped_is_refused(tmp_path: Path) -> None:
    root = write(tmp_path / "svc")
    with (root / "data.bin").open("wb") as fh:  # sparse: no disk used, 260 MB reported
        fh.truncate(260 * 1024 * 1024)
    with pytest.raises(SpecError) as err:
        _build(root)
    assert "250 MB" in err.value.what and err.value.exit_code == 2


@pytest.mark.slow
def test_over_50_mb_zipped_needs_an_artifact_bucket(tmp_path: Path) -> None:
    root = write(tmp_path / "svc")
    (root / "blob.bin").write_bytes(os.urandom(51 * 1024 * 1024))  # random: does not compress
    with pytest.raises(SpecError) as err:
        _build(root)
    assert "50 MB" in err.value.what and "artifact_bucket" in (err.value.fix or "")
    spec = FULL.replace("aws: {stage: prod", "aws: {artifact_bucket: my-artifacts, stage: prod")
    (root / "multicloud.yaml").write_text(spec.replace("HTTP_MODE", "function_url"))
    assert _build(root).artifacts[0].size > 50 * 1024 * 1024  # goes through S3 at deploy


RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
import _multicloud_entry
class Ctx:
    function_name = "shop-prod-hello"; memory_limit_in_mb = 512; aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:shop-prod-hello:live"
    def get_remaining_time_in_millis(self): return 10000
for event in json.load(sys.stdin):
    print("RESULT", json.dumps(_multicloud_entry.hello(event, Ctx())))
"""


def test_built_entry_runs_the_handler_on_every_sample_event(tmp_path: Path) -> None:
    root = write(tmp_path / "svc")
    art = _build(root).artifacts[0]
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(art.path) as zf:
        zf.extractall(unpacked)
    fn = Project.load(root).function("aws", "hello")
    kinds = ["http", "queue", "stream", "storage", "schedule"]
    events = [sample_event(fn, InvokeRequest("hello", trigger=k, path="/hello", body=b'{"n": 1}'),  # type: ignore[arg-type]
                           "us-east-1", "123456789012", "shop-prod-hello") for k in kinds]
    proc = subprocess.run([sys.executable, "-I", "-c", RUN, str(unpacked)], input=json.dumps(events),
                          capture_output=True, text=True, cwd=unpacked, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    results = [json.loads(line[7:]) for line in lines if line.startswith("RESULT ")]
    seen = [json.loads(line[6:]) for line in lines if line.startswith("EVENT ")]
    http, queue, stream, storage, schedule = results
    assert http["statusCode"] == 200 and http["body"] == "hi /hello"
    assert queue == {"batchItemFailures": []} and stream == {"batchItemFailures": []}
    assert storage is None and schedule is None
    by_kind = {e["kind"]: e for e in seen}
    assert by_kind["queue"]["messages"] == ['{"n": 1}'] and by_kind["stream"]["messages"] == ['{"n": 1}']
    assert by_kind["queue"]["type"] == "io.multicloud.queue.messages"
    assert by_kind["storage"]["key"] == "in/sample.json"
    assert by_kind["storage"]["type"] == "io.multicloud.storage.object.created"
    assert by_kind["schedule"]["type"] == "io.multicloud.schedule.fired"
