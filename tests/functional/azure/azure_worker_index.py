"""The Python worker's indexing of a v2 app, reduced to the checks it makes (no host, no gRPC).

Mirrors azure-functions-python-worker: find exactly one `FunctionRegister` among the script module's
attributes, `get_functions()`, read each function's JSON, then check that every binding names a
parameter and that each parameter's annotation is one the binding's converter accepts
(`azure.functions.meta` registry, the same converters the worker uses).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import azure.functions as func
from azure.functions import meta


@dataclass
class Indexed:
    name: str
    json: dict[str, Any]
    function: Any  # the user function

    @property
    def trigger(self) -> dict[str, Any]:
        return next(b for b in self.json["bindings"] if b["type"].lower().endswith("trigger"))


def index(module: ModuleType) -> dict[str, Indexed]:
    registers = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(registers) != 1:
        raise RuntimeError(f"expected exactly one FunctionRegister in {module.__name__}, found {len(registers)}")
    out: dict[str, Indexed] = {}
    registry = meta.get_binding_registry()
    for fn in registers[0].get_functions():
        data = json.loads(fn.get_function_json())
        user = fn.get_user_function()
        sig = inspect.signature(user)
        for binding in data["bindings"]:
            name, btype = binding["name"], binding["type"]
            converter = registry.get(btype)
            if converter is None:
                raise RuntimeError(f"{fn.get_function_name()}: no converter for binding type {btype}")
            if name == "$return":
                assert converter.check_output_type_annotation(sig.return_annotation), (fn, btype)
                continue
            if name not in sig.parameters:
                raise RuntimeError(f"{fn.get_function_name()}: binding {name} is not a parameter")
            annotation = sig.parameters[name].annotation
            if binding["direction"].lower() == "in" and not converter.check_input_type_annotation(annotation):
                raise RuntimeError(f"{fn.get_function_name()}: {annotation} does not fit {btype}")
        out[fn.get_function_name()] = Indexed(fn.get_function_name(), data, user)
    return out
