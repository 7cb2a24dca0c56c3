"""A JSON response serialised with orjson (fast, and handles datetimes and numpy scalars).

It subclasses Starlette's JSONResponse so that FastAPI documents JSON bodies as JSON (a plain
``Response`` subclass is documented as a string).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z)
