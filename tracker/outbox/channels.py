"""Channels: how a delivery leaves the platform, each in its receiver's published format.

Every sender answers an :class:`Outcome`: delivered, a transient failure (retried with back-off:
a refused connection, a timeout, HTTP 5xx / 408 / 425 / 429, a robot's rate limit, an SMTP 4xx)
or a permanent one (dead-lettered at once with its reason: a bad URL, another HTTP 4xx, a
robot's error code, an SMTP 5xx).

- webhook: POST JSON; ``X-Muck-Timestamp`` (unix seconds), ``X-Muck-Signature: v1=`` + hex
  HMAC-SHA256 over ``"{timestamp}." + body`` with the subscription's secret, ``Idempotency-Key``
  and ``X-Muck-Event``. A subscription with ``batch_max`` above 1 gets ``{"events": [...]}``,
  each with its own ``idempotency_key``.
- wecom: the group robot's webhook URL, ``{"msgtype": "markdown", "markdown": {"content"}}``.
- dingtalk: the group robot's URL plus ``timestamp`` (ms) and ``sign`` = URL-encoded base64 of
  HMAC-SHA256 of ``"{timestamp}\\n{secret}"`` keyed by the secret; ``{"msgtype": "markdown",
  "markdown": {"title", "text"}}``.
- sms: the configured HTTP gateway, ``PhoneNumbers``, ``SignName``, ``TemplateCode``,
  ``TemplateParam`` (a JSON string), ``OutId`` (the idempotency key); ``{"Code": "OK"}``.
- email: SMTP, a plain-text UTF-8 message, its Message-ID from the idempotency key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import smtplib
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import httpx
import orjson

from tracker.settings import OutboxSettings
from tracker.wire import rfc3339

SIGNATURE_HEADER = "X-Muck-Signature"
TIMESTAMP_HEADER = "X-Muck-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Muck-Event"
_TRANSIENT_HTTP = frozenset({408, 425, 429})
_ROBOT_TRANSIENT = frozenset({-1, 45009, 130101})  # busy; WeCom / DingTalk rate limits


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery's content, rendered for its subscription."""

    delivery_id: int
    event_id: int
    idempotency_key: str
    type: str
    occurred_at: datetime
    emitted_at: datetime
    subject: dict[str, Any]
    payload: dict[str, Any]
    title: str
    text: str

    def as_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "event_id": self.event_id,
            "type": self.type,
            "occurred_at": rfc3339(self.occurred_at),
            "emitted_at": rfc3339(self.emitted_at),
            "subject": self.subject,
            "data": self.payload,
            "title": self.title,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Destination:
    channel: str
    target: str
    secret: str | None = None
    batch_max: int = 1


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    permanent: bool = False
    status: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


OK = Outcome(True)


def idempotency_key(subscription_id: int, event_id: int) -> str:
    return f"muck-{event_id}-{subscription_id}"


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return urllib.parse.quote_plus(base64.b64encode(mac.digest()).decode())


def bad_url(url: str) -> str | None:
    """Why ``url`` cannot be delivered to (None: it can)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        return f"bad URL: {exc}"
    if parts.scheme not in {"http", "https"}:
        return f"bad URL: scheme {parts.scheme or '(none)'!r} is not http or https"
    if not parts.hostname:
        return "bad URL: no host"
    return None


def _http_outcome(resp: httpx.Response) -> Outcome:
    if 200 <= resp.status_code < 300:
        return Outcome(True, status=resp.status_code)
    reason = f"HTTP {resp.status_code}: {resp.text[:200]}"
    transient = resp.status_code >= 500 or resp.status_code in _TRANSIENT_HTTP
    return Outcome(False, permanent=not transient, status=resp.status_code, error=reason)


def _robot_outcome(resp: httpx.Response) -> Outcome:
    first = _http_outcome(resp)
    if not first.ok:
        return first
    try:
        answer = resp.json()
        code = int(answer.get("errcode", -1))
    except (ValueError, AttributeError, TypeError):
        return Outcome(False, permanent=True, status=resp.status_code, error="not a robot answer")
    if code == 0:
        return first
    reason = f"errcode {code}: {str(answer.get('errmsg', ''))[:200]}"
    return Outcome(False, code not in _ROBOT_TRANSIENT, resp.status_code, reason)


class Senders:
    """The channels, sharing one HTTP client. ``send`` never raises for a receiver's fault."""

    def __init__(self, settings: OutboxSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        # TCP_NODELAY: httpx writes a request's head and body apart; with Nagle's algorithm
        # and the receiver's delayed ACK every small POST would wait ~20 ms for nothing
        transport = httpx.AsyncHTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        self.client = client or httpx.AsyncClient(
            timeout=settings.http_timeout_s, follow_redirects=False, transport=transport
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, dest: Destination, messages: list[Message], now: datetime) -> Outcome:
        """Deliver ``messages`` (several only for a batching webhook) to ``dest``."""
        try:
            if dest.channel == "webhook":
                return await self._webhook(dest, messages, now)
            if dest.channel == "email":
                return await asyncio.to_thread(self._email, dest, messages[0])
            if dest.channel == "sms":
                return await self._sms(dest, messages[0])
            if dest.channel in {"wecom", "dingtalk"}:
                return await self._robot(dest, messages[0], now)
        except httpx.InvalidURL as exc:
            return Outcome(False, permanent=True, error=f"bad URL: {exc}")
        except httpx.UnsupportedProtocol as exc:
            return Outcome(False, permanent=True, error=f"bad URL: {exc}")
        except (httpx.HTTPError, OSError) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:300])
        return Outcome(False, permanent=True, error=f"unknown channel {dest.channel}")

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        return await self.client.post(url, content=body, headers=headers)

    async def _webhook(self, dest: Destination, messages: list[Message], now: datetime) -> Outcome:
        if (why := bad_url(dest.target)) is not None:
            return Outcome(False, permanent=True, error=why)
        if dest.batch_max > 1:
            body = orjson.dumps({"events": [m.as_json() for m in messages]})
            key = f"{messages[0].idempotency_key}..{messages[-1].idempotency_key}"
        else:
            body = orjson.dumps(messages[0].as_json())
            key = messages[0].idempotency_key
        ts = int(now.timestamp())
        headers = {
            TIMESTAMP_HEADER: str(ts),
            IDEMPOTENCY_HEADER: key,
            EVENT_HEADER: messages[0].type,
        }
        if dest.secret:
            headers[SIGNATURE_HEADER] = sign_webhook(dest.secret, ts, body)
        return _http_outcome(await self._post(dest.target, body, headers))

    async def _robot(self, dest: Destination, msg: Message, now: datetime) -> Outcome:
        if (why := bad_url(dest.target)) is not None:
            return Outcome(False, permanent=True, error=why)
        url = dest.target
        if dest.channel == "wecom":
            body: dict[str, Any] = {
                "msgtype": "markdown",
                "markdown": {"content": f"**{msg.title}**\n{msg.text}"},
            }
        else:
            body = {
                "msgtype": "markdown",
                "markdown": {"title": msg.title, "text": f"#### {msg.title}\n\n{msg.text}"},
            }
            if dest.secret:
                ts_ms = int(now.timestamp() * 1000)
                sep = "&" if urllib.parse.urlsplit(url).query else "?"
                url = f"{url}{sep}timestamp={ts_ms}&sign={dingtalk_sign(dest.secret, ts_ms)}"
        return _robot_outcome(await self._post(url, orjson.dumps(body), {}))

    async def _sms(self, dest: Destination, msg: Message) -> Outcome:
        gateway = self.settings.sms_gateway_url
        if not gateway:
            return Outcome(False, permanent=True, error="no SMS gateway configured")
        templates = self.settings.sms_templates
        code = templates.get(msg.type) or templates.get("*")
        if not code:
            return Outcome(False, permanent=True, error=f"no SMS template for {msg.type}")
        params = {k: str(v) for k, v in msg.payload.items() if isinstance(v, str | int | float)}
        params["title"] = msg.title
        body = {
            "PhoneNumbers": dest.target,
            "SignName": self.settings.sms_sign_name,
            "TemplateCode": code,
            "TemplateParam": orjson.dumps(params).decode(),
            "OutId": msg.idempotency_key,
        }
        headers = {}
        if self.settings.sms_gateway_token:
            headers["Authorization"] = f"Bearer {self.settings.sms_gateway_token}"
        resp = await self._post(gateway, orjson.dumps(body), headers)
        first = _http_outcome(resp)
        if not first.ok:
            return first
        try:
            code_answer = str(resp.json().get("Code"))
        except (ValueError, AttributeError):
            return Outcome(
                False, permanent=True, status=resp.status_code, error="not a gateway answer"
            )
        if code_answer == "OK":
            return first
        transient = "Throttling" in code_answer or "Busy" in code_answer
        return Outcome(False, not transient, resp.status_code, f"gateway: {code_answer}")

    def _email(self, dest: Destination, msg: Message) -> Outcome:
        s = self.settings
        mail = EmailMessage()
        mail["From"] = s.smtp_from
        mail["To"] = dest.target
        mail["Subject"] = msg.title
        mail["Message-ID"] = f"<{msg.idempotency_key}@muck-tracker>"
        mail["X-Idempotency-Key"] = msg.idempotency_key
        mail.set_content(msg.text, charset="utf-8")
        started = time.monotonic()
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.http_timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_user and s.smtp_password:
                    smtp.login(s.smtp_user, s.smtp_password)
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            return Outcome(
                False, permanent, exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            )
        except smtplib.SMTPRecipientsRefused as exc:
            return Outcome(
                False, permanent=True, error=f"SMTP refused recipients: {exc.recipients}"
            )
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(False, error=f"SMTP: {type(exc).__name__}: {exc}"[:300])
        return Outcome(True, extra={"smtp_s": round(time.monotonic() - started, 3)})
