"""The provider loads without its SDK: boto3 is imported only inside hooks (fast `multicloud --help`)."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_provider_and_building_do_not_import_boto3(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from aws_functional_support import write

    root = write(tmp_path / "svc")
    code = (
        "import sys\n"
        "from multicloud.registry import provider_class\n"
        "from multicloud.project import Project\n"
        f"p = provider_class('aws')(Project.load({str(root)!r}))\n"
        f"p.build(__import__('pathlib').Path({str(tmp_path / 'out')!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
