"""Numbers in the spec are numbers: YAML's `true`/`false` is refused where a count or size is expected
(pydantic's lax mode would read `timeout: true` as one second)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field


def no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a number Fix: write a number here (true/false are yes/no)")
    return value


Int = Annotated[int, BeforeValidator(no_bool)]
Float = Annotated[float, BeforeValidator(no_bool)]
# constraints before the validator, so JSON Schema shows them as minimum/maximum
Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(no_bool)]
MemoryMb = Annotated[int, Field(ge=64, le=32768), BeforeValidator(no_bool)]
TimeoutS = Annotated[int, Field(ge=1, le=86400), BeforeValidator(no_bool)]
