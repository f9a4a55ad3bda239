"""Fast tests: library calls only, no process, no CLI, no training (tests/unit/test_test_layout.py keeps it so)."""
