"""One folder per lab: lab.toml (steps, points, hints), provision.py, collect.py."""
