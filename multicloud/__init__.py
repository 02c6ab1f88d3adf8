"""multicloud: one stateless function, described once, deployed to any cloud."""
