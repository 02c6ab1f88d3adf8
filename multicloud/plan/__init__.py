"""Plans: what a deploy will do, as inert data that can be printed, saved, reviewed and applied.

`model` holds the step and plan types (every target builds the same shape), `saved` writes a plan to a
file and, at apply time, compares it with a fresh plan and names what changed. See docs/architecture.md,
"Plans", for how a provider builds steps and executes them.
"""

from multicloud.plan.model import Action, FieldChange, Plan, Step, fingerprint, secret_fingerprint

__all__ = ["Action", "FieldChange", "Plan", "Step", "fingerprint", "secret_fingerprint"]
