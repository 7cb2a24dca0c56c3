"""Exports on demand (streamed), export jobs, department feeds and their daily files."""
