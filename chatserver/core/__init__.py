"""The pure core: decisions about queueing, assignment, admission and counting.

Nothing here does I/O or reads the clock; the time is always an argument, so every rule
can be tested without an event loop.
"""
