"""The local deploy lock: a file beside the spec, `.multicloud/locks/local.lock`, created atomically
(multicloud/file_lock.py). Every deployer of a local target runs on this machine, so a file is exactly as
wide as the target: unlike the clouds and docker, there is no shared place that CI runners on other
machines would need to see. A killed holder's lock expires after the TTL; `multicloud unlock` breaks it."""

from __future__ import annotations

from multicloud.file_lock import FileLock, lock_file
from multicloud.project import Project


def deploy_lock(project: Project) -> FileLock:
    return lock_file(project.root, "local")
