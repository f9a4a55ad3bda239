"""Helpers and fixtures that both halves of tests/test_stream_flip_budget.py need:
tests/unit/test_stream_flip_budget.py and tests/e2e/test_stream_flip_budget_cli.py."""

from __future__ import annotations

# F >= 3: a budget doubled from (F-1)/N then covers F/N even with the limit itself excluded
F, N, CHUNK, THRESHOLD = 3, 40, 512, 0.5
