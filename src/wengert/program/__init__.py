"""Programs: a function traced to the Wengert list of primitives from the one table, and the
interpreters and passes over it."""
