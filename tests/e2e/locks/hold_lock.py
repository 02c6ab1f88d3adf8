"""Process A of the contention tests: take a target's deploy lock the way every command does
(multicloud.locking.target_lock, heartbeat included), print the holder as one JSON line, then hold it
until stdin says "release" (or until the process is killed, when the heartbeat stops with it)."""

from __future__ import annotations

import sys
from pathlib import Path

from multicloud.errors import LockedError
from multicloud.locking import target_lock
from multicloud.orchestrate import provider_for
from multicloud.project import Project


def main() -> int:
    spec, target = Path(sys.argv[1]), sys.argv[2]
    provider = provider_for(Project.load(spec), target)
    try:
        with target_lock(provider, "deploy", lambda msg: print(msg, file=sys.stderr, flush=True)) as info:
            print(info.to_json(), flush=True)
            sys.stdin.readline()  # the test writes a line (or closes the pipe) to release
    except LockedError as exc:
        print(f"held by {exc.what}", flush=True)
        return 1
    print("released", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
