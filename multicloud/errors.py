"""One neutral error family for the whole tool.

Every error carries *where* (file, line, column, field path or resource), *what* went wrong and *how to
fix it*. Library code raises these; only the CLI prints them and turns their ``exit_code`` into the
process exit status (0 success, 1 an operation failed, 2 bad input or spec, 3 unsupported).
Providers translate their SDK's exceptions into this family with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where in an input file a problem sits."""

    file: str
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        if self.field:
            place += f": {self.field}"
        return place


class MulticloudError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1
    kind = "error"

    def __init__(self, what: str, *, fix: str | None = None, where: Location | str | None = None) -> None:
        self.what = what
        self.fix = fix
        self.where = where
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            text += f" Fix: {self.fix}"
        return text

    def to_dict(self) -> dict[str, object]:
        where = self.where
        data: dict[str, object] = {"kind": self.kind, "message": self.what, "fix": self.fix}
        if isinstance(where, Location):
            data.update(file=where.file, line=where.line, column=where.column, field=where.field)
        elif where:
            data["where"] = where
        return data


class SpecError(MulticloudError):
    """The spec (or another input) is wrong: exit 2."""

    exit_code = 2
    kind = "spec"


class SpecErrors(SpecError):
    """Several located spec problems, reported together (the first MAX_SHOWN, then how many more)."""

    MAX_SHOWN = 50

    def __init__(self, errors: list[SpecError]) -> None:
        if len(errors) > self.MAX_SHOWN:
            more = SpecError(f"... and {len(errors) - self.MAX_SHOWN} more problems", fix="fix the ones above first")
            errors = [*errors[:self.MAX_SHOWN], more]
        self.errors = errors
        first = errors[0]
        super().__init__(first.what, fix=first.fix, where=first.where)

    @property
    def message(self) -> str:
        return "\n".join(e.message for e in self.errors)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "errors": [e.to_dict() for e in self.errors]}


class UsageError(MulticloudError):
    """Bad command-line input (unknown target, missing function...): exit 2."""

    exit_code = 2
    kind = "usage"


class UnsupportedError(MulticloudError):
    """The target cannot do what was asked, or the command is not built yet: exit 3."""

    exit_code = 3
    kind = "unsupported"


class OperationError(MulticloudError):
    """Talking to a cloud or engine failed: exit 1. The previous deployment keeps serving."""

    exit_code = 1
    kind = "operation"


class LockedError(OperationError):
    """Another deploy holds the target's lock."""

    kind = "locked"


def from_os_error(exc: OSError) -> OperationError:
    """A failed read or write of this machine's files (disk full, file too large, read-only, permission) as
    an exit-1 message naming the file, never a traceback. The target's previous version keeps serving:
    local writes happen before anything is switched."""
    import errno

    fixes = {
        errno.ENOSPC: "free disk space (builds and releases are written under .multicloud/ beside the spec)",
        errno.EDQUOT: "free space within your disk quota (builds are written under .multicloud/ beside the spec)",
        errno.EFBIG: "a file grew past the size this process may write: raise the limit (`ulimit -f`)",
        errno.EROFS: "the file system is read-only: run from a writable copy of the project",
        errno.EACCES: "permission denied: run as a user who may write there, or fix the permissions",
        errno.EMFILE: "too many open files: raise the limit (`ulimit -n`)",
    }
    writing = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
    if exc.filename:
        what = f"{'cannot write ' if writing else ''}{exc.filename}: {exc.strerror or exc}"
    else:
        what = f"{'a write failed' if writing else type(exc).__name__}: {exc.strerror or exc}"
    return OperationError(what, fix=fixes.get(exc.errno or 0, "check the path, its permissions and the free space"
                                              if exc.filename else "check the connection and try again"))
