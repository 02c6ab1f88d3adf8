"""`multicloud import serverless.yml`: bring a Serverless Framework (AWS) service over to multicloud.

The pipeline, one module per step:

    source.py     read serverless.yml (CloudFormation tags, bounded size/aliases/depth) -> plain data
    variables.py  resolve ${self:}, ${sls:stage}, ${opt:}, ${env:}, ${param:}, ${file(...)}; keep the rest
    service.py    functions, handlers, events, environment, constructs -> spec; validate; list what is not
    handlers.py   handler paths and styles (aws, wsgi, asgi)          events.py  events -> triggers
    cfn.py        which queue/stream an ARN, Fn::GetAtt or Ref names  deps.py    requirements
    advice.py     what to do, per target, about each setting that does not carry over
    report.py     the result: spec, generated files, notes

Nothing is dropped silently: every setting that does not carry over becomes a `Note`. Bad input raises
`SpecError` (exit 2) with the file and key path; no input makes the importer crash.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .report import Conversion, Note
from .service import ServiceConverter
from .source import read_service

__all__ = ["Conversion", "Note", "convert_file"]


def convert_file(path: Path, *, stage: str | None = None, region: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Conversion:
    """Convert the service at `path` (serverless.yml or its folder). `environ` defaults to os.environ."""
    doc = read_service(path)
    source = path if path.is_file() else next(
        (path / n for n in ("serverless.yml", "serverless.yaml", "serverless.json") if (path / n).is_file()), path)
    converter = ServiceConverter(doc, filename=source.name, base_dir=source.resolve().parent, stage=stage,
                                 region=region, environ=dict(os.environ if environ is None else environ))
    return converter.convert()
