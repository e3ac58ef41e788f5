"""pushwire protocol layer: pure-Python, sans-I/O wire model (channels, streams, frames, ops, sessions)."""
