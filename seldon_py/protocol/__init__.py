"""Protocol handlers on top of the runtime (the Seldon protocol today)."""
