"""Process A of the contention tests: take a target's deploy lock through the provider API, print the
holder as one JSON line, then hold it until stdin says "release" (or until the process is killed)."""

from __future__ import annotations

import sys
from pathlib import Path

from multicloud.locking import new_owner
from multicloud.orchestrate import provider_for
from multicloud.project import Project


def main() -> int:
    spec, target = Path(sys.argv[1]), sys.argv[2]
    provider = provider_for(Project.load(spec), target)
    info = new_owner("deploy")
    holder = provider.acquire_lock(info)
    if holder is not None:
        print(f"held by {holder.owner}", flush=True)
        return 1
    print(info.to_json(), flush=True)
    sys.stdin.readline()  # the test writes a line (or closes the pipe) to release
    provider.release_lock(info)
    print("released", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
