"""Google Cloud Functions entry shim (being written)."""
