"""Shared handler for the broken-spec corpus: every spec here fails before this is used."""


def main(event, context):
    return {"ok": True}


hello = main  # the names the style specs point at (48-52)
app = main
