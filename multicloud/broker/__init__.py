"""NATS JetStream as the private targets' broker (`local` and `docker`).

topology.py   what a service needs on its broker, derived from the spec: streams, consumers, users (pure)
config.py     the nats-server configuration text that grants those users exactly their subjects (pure)
admin.py      the deploying host's side: create streams and consumers, send, pending, dead letters (nats-py)

The runtime's side (a pull consumer inside the runtime process) is `multicloud.runtime.consumer`.
docs/events.md explains the design.
"""
