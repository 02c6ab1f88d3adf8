"""CLI start-up: `multicloud --help` against `sam --help`, measured in the same run.

Also checks that `--help` and `validate` import no cloud SDK. Usage:
    python bench/cli_startup.py [--runs 20] [--install-peers]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import sam_executable, summary, time_command  # noqa: E402

SDKS = ("boto3", "botocore", "azure", "google", "docker", "functions_framework", "flask")


def imported_sdks(args: list[str], cwd: str) -> list[str]:
    # modules some site-packages .pth files import at interpreter start (google namespace packages)
    # are not ours: count only what the command adds on top of a bare interpreter
    code = ("import sys; before = set(sys.modules)\n"
            "from multicloud.cli.app import app, hoist_global_options\n"
            "try:\n    app(args=hoist_global_options(sys.argv[1:]), prog_name='multicloud')\n"
            "except SystemExit:\n    pass\n"
            f"new = {{m.split('.')[0] for m in set(sys.modules) - before}}\n"
            f"print('MODULES', ' '.join(sorted(new & set({SDKS!r}))))")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("MODULES")]
    return line[-1].split()[1:] if line else ["?"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--install-peers", action="store_true", help="install aws-sam-cli in a cache venv")
    args = parser.parse_args()

    mc = shutil.which("multicloud") or str(Path(sys.executable).parent / "multicloud")
    ours = time_command([mc, "--help"], args.runs)
    print(f"multicloud --help : {summary(ours)}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([mc, "init", "demo", "--dir", f"{tmp}/demo"], check=True, capture_output=True)
        val = time_command([mc, "validate", f"{tmp}/demo"], args.runs)
        print(f"multicloud validate: {summary(val)}")
        for cmd in (["--help"], ["validate", f"{tmp}/demo"]):
            sdks = imported_sdks(cmd, tmp)
            print(f"cloud SDKs imported by `multicloud {' '.join(cmd[:1])}`: {', '.join(sdks) or 'none'}")
    sam = sam_executable(args.install_peers)
    if not sam:
        print("sam: not installed, skipped (the figures above are measured). Install it with --install-peers "
              "(aws-sam-cli in a cache venv) or `pip install aws-sam-cli` in its own venv")
        return 0
    peer = time_command([sam, "--help"], args.runs, env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    print(f"sam --help        : {summary(peer)}")
    ratio = statistics.median(peer) / statistics.median(ours)
    print(f"ratio sam/multicloud (median --help): {ratio:.2f}x  ({'faster' if ratio >= 1 else 'slower'} than sam)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
