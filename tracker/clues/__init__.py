"""Clues from people (issue 15): reports from the public vehicle page, grid staff and officers;
verification, conversion to a case or closure; the reporter's receipt code."""
