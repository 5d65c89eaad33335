"""Shared infrastructure below the rooms: database, CLI conventions, HTTP auth, Thai dates, messages (DESIGN.md)."""
