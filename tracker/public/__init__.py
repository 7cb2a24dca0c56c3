"""The public vehicle code ("one vehicle, one code"): a page per vehicle behind an unguessable
token, reached by a QR code painted on the truck, showing whether it may haul today."""
