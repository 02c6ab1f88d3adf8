"""The service's library: what the todo handler answers."""

from .todo import todo

__all__ = ["todo"]
