"""Side-by-side load benchmark: the provider against a hand-written loader and a floor."""

from __future__ import annotations
