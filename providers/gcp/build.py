"""Build: render `main.py` and `requirements.txt`, then one deterministic source zip for the service.

Every Cloud Function of a service receives the same zip (user code + vendored runtime + the generated
entry points) and differs only in its entry point, so a rebuild of unchanged code has the same hash and
the deploy skips the upload. Dependencies are not vendored: Cloud Build installs `requirements.txt`.
`functions.json` beside the zip records what each function gets (env, secret *references*, triggers).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from multicloud.errors import SpecError
from multicloud.package import write_zip
from multicloud.project import Project
from multicloud.provider import Artifact, BuildResult, Progress
from multicloud.render import render
from multicloud.requirements import local_path_lines, package_name, read_requirements
from multicloud.vendor import artifact_files

from .model import SCHEDULE_HEADER, CloudFunction, cloud_functions

FRAMEWORK = "functions-framework>=3.8,<4"
GENERATED = ("main.py", "requirements.txt")
ZIP_NAME = "source.zip"
_HOW = {"http": "HTTPS URL", "cloud_event": "CloudEvents"}


def build(project: Project, out_dir: Path, progress: Progress) -> BuildResult:
    functions = cloud_functions(project)
    files: dict[str, Path | bytes] = dict(artifact_files(project))
    for name in GENERATED:
        if name in files and not (name == "requirements.txt" and _is_spec_requirements(project, files[name])):
            raise SpecError(
                f"the service has its own {name}, which the gcp target generates",
                fix=f"rename {name} (Cloud Functions loads main.py; list dependencies in `requirements:`)",
                where=str(project.root / name),
            )
    files["main.py"] = render_main(project, functions).encode()
    files["requirements.txt"] = render_requirements(project).encode()
    progress(f"gcp: packaging {len(files)} files")
    zip_path = out_dir / ZIP_NAME
    sha = write_zip(zip_path, files)
    size = zip_path.stat().st_size
    (out_dir / "functions.json").write_text(render_config(functions))
    artifacts = tuple(Artifact(cf.function, zip_path, cf.entry_point, size, sha) for cf in functions)
    return BuildResult("gcp", out_dir, artifacts, sha)


def render_main(project: Project, functions: list[CloudFunction]) -> str:
    ctx = [dict(function=cf.function, function_id=cf.function_id, entry_point=cf.entry_point, handler=cf.handler,
                signature=cf.signature, object_filter=cf.object_filter, route=cf.route,
                scheduled=bool(cf.schedules),
                how=_describe(cf)) for cf in functions]
    return render("gcp", "main.py.j2", service=project.name, functions=ctx, schedule_header=SCHEDULE_HEADER)


def render_requirements(project: Project) -> str:
    path = project.requirements_file
    check_requirements(project)
    lines = read_requirements(path) if path is not None else []
    framework = "" if "functions-framework" in {package_name(line) for line in lines} else FRAMEWORK
    return render("gcp", "requirements.txt.j2", framework=framework, user_requirements=lines)


def check_requirements(project: Project) -> None:
    """Cloud Build installs the lines on Google's side: a line naming a path on this machine cannot work."""
    path = project.requirements_file
    local = local_path_lines(path) if path is not None and path.is_file() else []
    if local:
        line, where = local[0]
        raise SpecError(
            f"{line!r}: Cloud Build installs requirements from an index, not from local paths",
            fix="copy the package into the service folder (it ships in the zip) or publish it",
            where=where,
        )


def render_config(functions: list[CloudFunction]) -> str:
    """What each function is given, with secrets as Secret Manager references only."""
    data = {}
    for cf in functions:
        item = asdict(cf)
        item["secrets"] = {s.env: s.reference for s in cf.secrets}
        if item["event_trigger"] and item["event_trigger"]["max_attempts"] is None:  # only queues have it
            del item["event_trigger"]["max_attempts"]
        data[cf.function_id] = item
    return render("gcp", "functions.json.j2", functions=data)


def _is_spec_requirements(project: Project, src: Path | bytes) -> bool:
    return isinstance(src, Path) and src.resolve() == project.requirements_file


def _describe(cf: CloudFunction) -> str:
    # Only what the code depends on: trigger settings (schedules, topics) must not change the zip's hash.
    return _HOW[cf.signature]
