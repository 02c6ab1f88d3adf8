"""The spec: model, loader with located errors, cross-field checks and the resolved project."""

from multicloud.spec.loader import load_spec, parse_spec
from multicloud.spec.models import Function, Spec, Trigger

__all__ = ["Function", "Spec", "Trigger", "load_spec", "parse_spec"]
