"""Fleet simulator: muck trucks driving real OpenStreetMap roads, posting fixes to the API.

A tool, never imported by the product. ``data`` fetches the Monaco extract (the product's
``tracker.roads`` reads it), ``places`` picks sites and the disposal yard, ``motion`` plans where
trucks truly are, ``terminal`` adds terminal-like noise, ``fleet`` ties them together (pure),
``drive`` advances a fleet in live or replay time, ``cli``/``sender`` post to the HTTP API and
``jt808_terminal`` speaks JT/T 808 to the gateway. ``scenario`` builds labelled haul days for
``tracker bench detect``; ``seed`` and ``demo_city`` register the demo fleet, places and permit.

Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL 1.0).
"""
