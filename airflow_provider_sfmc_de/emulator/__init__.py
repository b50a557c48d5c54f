"""A local Salesforce Marketing Cloud that speaks the same REST API, for demos and tests."""

from __future__ import annotations
