"""Photos made by Pillow for the clue tests: a JPEG with EXIF (a camera make and a GPS
latitude) and a comment, a PNG with a text chunk; base64 as the API takes them."""

from __future__ import annotations

import base64
import io

from PIL import Image, PngImagePlugin


def jpeg_with_exif(size: tuple[int, int] = (64, 48)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x8825] = {2: (22.0, 32.0, 10.0), 1: "N"}  # GPS IFD: a latitude
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, "JPEG", exif=exif, comment=b"hello")
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "SecretAuthor")
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 40)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
