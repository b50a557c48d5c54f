"""pytest fixtures that run the SFMC emulator as a real server."""

from __future__ import annotations
