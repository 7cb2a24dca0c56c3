"""Checks an evidence pack offline: the ZIP's own checksums, the manifest (canonical, its
self-hash), every file's SHA-256 and size, no file beyond the manifest's, and the event chain
(each hash from its event and the one before; the head the manifest names; optionally the head
the platform holds). The first mismatch is named. Pure apart from reading the bytes given."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Any

import orjson

from tracker.evidence.chain import GENESIS, canonical, verify
from tracker.evidence.pack import EVENTS, FORMAT, MANIFEST, manifest_digest


@dataclass(frozen=True, slots=True)
class PackCheck:
    ok: bool
    problem: str = ""  # the first mismatch, in words
    files: int = 0  # files checked
    events: int = 0  # events checked
    head: str = ""


class _Bad(Exception):
    pass


def _manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        raw = zf.read(MANIFEST)
    except KeyError:
        raise _Bad(f"{MANIFEST}: missing") from None
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Bad(f"{MANIFEST}: not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _Bad(f"{MANIFEST}: not a {FORMAT} manifest")
    if canonical(manifest) != raw:
        raise _Bad(f"{MANIFEST}: changed (not the canonical JSON it was written as)")
    if manifest.get("manifest_sha256") != manifest_digest(manifest):
        raise _Bad(f"{MANIFEST}: its own hash does not match its content")
    return manifest


def _files(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> int:
    listed = manifest.get("files")
    if not isinstance(listed, list):
        raise _Bad(f"{MANIFEST}: no file list")
    names = {MANIFEST}
    for entry in listed:
        name = str(entry.get("name"))
        names.add(name)
        try:
            data = zf.read(name)
        except KeyError:
            raise _Bad(f"{name}: missing from the pack") from None
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise _Bad(f"{name}: SHA-256 does not match the manifest")
        if len(data) != entry.get("bytes"):
            raise _Bad(f"{name}: size does not match the manifest")
    extra = sorted(set(zf.namelist()) - names)
    if extra:
        raise _Bad(f"{extra[0]}: not in the manifest")
    return len(listed)


def _chain(zf: zipfile.ZipFile, manifest: dict[str, Any], head: str | None) -> tuple[int, str]:
    try:
        events = orjson.loads(zf.read(EVENTS))
        pairs = [(e["event"], str(e["hash"])) for e in events]
    except (KeyError, TypeError, orjson.JSONDecodeError):
        raise _Bad(f"{EVENTS}: missing or not a list of {{event, hash}}") from None
    check = verify(pairs)
    if not check.ok:
        raise _Bad(f"{EVENTS}: {check.reason}")
    last = pairs[-1][1] if pairs else GENESIS
    chain = manifest.get("chain") or {}
    if chain.get("head") != last or chain.get("events") != len(pairs):
        raise _Bad(f"{EVENTS}: the chain's head or length differs from the manifest's")
    if head is not None and head != last:
        raise _Bad(f"{EVENTS}: the chain's head is not the one given ({head[:16]}...)")
    return len(pairs), last


def verify_pack(data: bytes, *, head: str | None = None) -> PackCheck:
    """Check a pack's bytes; ``head``: the chain head the platform holds for it, if known."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            broken = zf.testzip()
            if broken is not None:
                raise _Bad(f"{broken}: damaged inside the ZIP (CRC)")
            manifest = _manifest(zf)
            files = _files(zf, manifest)
            events, last = _chain(zf, manifest, head)
    except _Bad as exc:
        return PackCheck(False, str(exc))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        return PackCheck(False, f"not a readable ZIP: {exc}")
    return PackCheck(True, "", files, events, last)
