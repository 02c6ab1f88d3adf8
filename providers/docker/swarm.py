"""Swarm mode (placeholder until implemented below)."""
