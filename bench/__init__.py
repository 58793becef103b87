"""Load generator and scenarios measuring the chatserver against a bare python-socketio relay.

See bench/README.md. Entry point: `python -m bench`.
"""
