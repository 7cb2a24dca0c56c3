"""Fleet simulator: muck trucks driving real OpenStreetMap roads, posting fixes to the API.

``data`` fetches the Monaco extract, ``roads``/``landuse`` read it, ``places`` picks sites and the
disposal yard, ``motion`` plans where trucks truly are, ``terminal`` adds terminal-like noise,
``fleet`` ties them together (pure), ``cli``/``sender`` post to the HTTP API.

Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL 1.0).
"""
