"""End-to-end tests: the CLI, subprocesses, training, whole pipelines and heavy sweeps; the long ones are marked slow."""
