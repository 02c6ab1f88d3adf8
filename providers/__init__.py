"""Built-in targets, installed as `multicloud.providers`; found through entry points."""
