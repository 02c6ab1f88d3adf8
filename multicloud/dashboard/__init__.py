"""`multicloud dashboard`: every service on every target at a glance, with invocations, failed work and
actions, in a browser.

board    - what a page shows, as data (cells, health, readings)
cache    - background status reads (one at a time per target) and plans (concurrent), kept with their time
metrics  - calls, errors, latency percentiles and the inline SVG sparkline
actions  - invoke, rollback, dead letters: the library calls the CLI makes
security - loopback by default, a token elsewhere, CSRF on every action
app      - the Starlette routes and Jinja2 templates (htmx, vendored, refreshes them in place)
server   - binds the socket and runs uvicorn

Needs the `dashboard` extra (Starlette, uvicorn, python-multipart); the CLI imports this package only when
the command runs, so `multicloud --help` stays fast without it.
"""
