"""A JSON response serialised with orjson (fast, and handles datetimes and numpy scalars)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z)
