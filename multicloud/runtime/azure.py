"""Azure Functions entry shim (being written)."""
