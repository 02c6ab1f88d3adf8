"""Jinja2 blueprints per target, installed as `multicloud.blueprints`."""
