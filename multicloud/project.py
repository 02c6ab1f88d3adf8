"""A validated spec plus its folder, resolved per target.

`Project.functions_for(target)` applies each function's per-target override (memory, timeout, env,
secrets, enabled) so providers see one flat `ResolvedFunction` and never merge settings themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from multicloud.errors import Location, SpecError, SpecErrors, UsageError
from multicloud.spec.checks import check_project, check_target
from multicloud.spec.loader import Marks, load_spec_located
from multicloud.spec.models import PUBLIC_TARGETS, Spec, Trigger
from multicloud.spec.secrets import ref_for


@dataclass(frozen=True)
class ResolvedFunction:
    name: str
    handler: str
    memory: int
    timeout: int
    env: dict[str, str]
    secrets: dict[str, str]  # env name -> reference for this target (never a value)
    triggers: tuple[Trigger, ...]
    description: str = ""

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    def triggers_of(self, kind: str) -> list[Trigger]:
        return [t for t in self.triggers if t.kind == kind]


@dataclass(frozen=True)
class Project:
    spec: Spec
    spec_path: Path
    marks: Marks = field(default_factory=Marks, compare=False, repr=False)
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", self.spec_path.resolve().parent)

    @classmethod
    def load(cls, path: Path | str, *, check: bool = True) -> Project:
        """Load, validate and (by default) check handlers and routes; raise located SpecErrors."""
        spec, spec_path, marks = load_spec_located(path)
        project = cls(spec, spec_path, marks)
        if check:
            project.raise_if(check_project(spec, project.root, project.locate))
        return project

    def locate(self, path: tuple[str | int, ...]) -> Location:
        return self.marks.locate(str(self.spec_path), path)

    def check_target(self, target: str) -> None:
        """Fail (exit 2) when the spec asks for something `target` cannot do."""
        self.raise_if(check_target(self.spec, target, self.locate))

    @staticmethod
    def raise_if(errors: list[SpecError]) -> None:
        if errors:
            raise SpecErrors(errors)

    def default_targets(self) -> list[str]:
        """The spec's targets that some function may run on (placement decides); `local` if none."""
        configured = self.spec.targets.configured() or ["local"]
        return [t for t in configured if self.functions_for(t)] or configured

    @property
    def name(self) -> str:
        return self.spec.service

    @property
    def requirements_file(self) -> Path | None:
        """The service's dependencies, by the one rule every target follows (multicloud.requirements)."""
        from multicloud.requirements import requirements_file

        return requirements_file(self.root, self.spec.requirements)

    def settings(self, target: str) -> BaseModel:
        return self.spec.targets.for_target(target)

    def functions_for(self, target: str) -> list[ResolvedFunction]:
        out = []
        for name, fn in self.spec.functions.items():
            over = fn.targets.get(target)  # type: ignore[call-overload]
            if over is not None and not over.enabled:
                continue
            if not self.spec.placement_of(name).allows(target):
                continue  # hybrid services: this function runs elsewhere
            secrets_src = {**fn.secrets, **(over.secrets if over else {})}
            secrets = {k: r for k, v in secrets_src.items() if (r := ref_for(v, target)) is not None}
            out.append(
                ResolvedFunction(
                    name=name,
                    handler=fn.handler,
                    memory=over.memory if over and over.memory else fn.memory,
                    timeout=over.timeout if over and over.timeout else fn.timeout,
                    env={**fn.env, **(over.env if over else {})},
                    secrets=secrets,
                    triggers=fn.triggers,
                    description=fn.description or self.spec.description,
                )
            )
        return out

    def channels_for(self, target: str, kind: str) -> dict[str, list[ResolvedFunction]]:
        """Queue (or stream) names some function enabled on `target` reads, with those functions."""
        out: dict[str, list[ResolvedFunction]] = {}
        for fn in self.functions_for(target):
            for trig in fn.triggers_of(kind):
                out.setdefault(trig.config.name, []).append(fn)  # type: ignore[union-attr]
        return out

    def function(self, target: str, name: str) -> ResolvedFunction:
        for fn in self.functions_for(target):
            if fn.name == name:
                return fn
        if name in self.spec.functions:
            raise self._not_on(target, name)
        names = ", ".join(f.name for f in self.functions_for(target)) or "none"
        raise UsageError(f"no function {name!r} on target {target}", fix=f"use one of: {names}")

    def _not_on(self, target: str, name: str) -> UsageError:
        """Why a function of the spec does not run on `target`: disabled there, or its placement."""
        over = self.spec.functions[name].targets.get(target)  # type: ignore[call-overload]
        if over is not None and not over.enabled:
            return UsageError(f"function {name!r} is disabled on {target}",
                              fix="call it on another target, or enable it there",
                              where=self.locate(("functions", name, "targets", target, "enabled")))
        placement = self.spec.placement_of(name)
        own = self.spec.functions[name].placement is not None
        if placement.data_class == "confidential" and target in PUBLIC_TARGETS:
            why = "its data_class is confidential: private targets (docker, local) only"
        else:
            why = f"its placement allows only {', '.join(placement.allowed_targets or ())}"
        allowed = [t for t in self.spec.targets.configured() if placement.allows(t)]
        return UsageError(f"function {name!r} may not run on {target}: {why}",
                          fix=f"use a target it may run on: {', '.join(allowed)}" if allowed
                          else "add a target its placement allows to the spec's targets",
                          where=self.locate(("functions", name, "placement") if own else ("placement",)))
