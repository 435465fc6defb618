"""The revisions of the serving database, oldest first (``0001_initial``: every table of schema.py)."""
