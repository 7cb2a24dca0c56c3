"""Each channel's wire format, checked where it arrives: real local receivers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import orjson
import psycopg
import pytest
from aiosmtpd.controller import Controller
from outbox_receivers import Receiver

from tracker.outbox import OutboxEvent, emit
from tracker.outbox.deliverer import Deliverer

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def _yard_event(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        event_id = await emit(
            conn,
            OutboxEvent("yard.fill", T0, {"yard": "东郊消纳场", "level": 95, "fill_pct": 95.4},
                        yard_id=7),
        )  # fmt: skip
    assert event_id is not None
    return event_id


async def test_wecom_group_robot_gets_markdown(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    receiver: Receiver,
    subscribe_fn: Any,
    database_url: str,
) -> None:
    receiver.answer = b'{"errcode": 0, "errmsg": "ok"}'
    subscribe_fn(db, channel="wecom", target=receiver.url + "/cgi-bin/webhook/send?key=K1")
    await _yard_event(database_url)
    await deliverer.round(T0)
    (got,) = receiver.got
    assert got.path == "/hook/cgi-bin/webhook/send?key=K1"
    body = got.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith("**消纳场容量预警：东郊消纳场**\n")
    assert "已达 95%" in body["markdown"]["content"]
    assert "16:00" in body["markdown"]["content"]  # 08:00 UTC in Asia/Shanghai


async def test_wecom_error_code_is_dead_lettered(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    receiver: Receiver,
    subscribe_fn: Any,
    database_url: str,
) -> None:
    receiver.answer = b'{"errcode": 93000, "errmsg": "invalid webhook url"}'
    subscribe_fn(db, channel="wecom", target=receiver.url)
    await _yard_event(database_url)
    await deliverer.round(T0)
    state, reason = db.execute("SELECT state, last_error FROM outbox_deliveries").fetchone()  # type: ignore[misc]
    assert state == "dead" and "93000" in reason


async def test_dingtalk_robot_signed_url_and_markdown(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    receiver: Receiver,
    subscribe_fn: Any,
    database_url: str,
) -> None:
    receiver.answer = b'{"errcode": 0, "errmsg": "ok"}'
    secret = "SEC0123456789abcdef"
    subscribe_fn(db, channel="dingtalk", target=receiver.url + "?access_token=TOK", secret=secret)
    await _yard_event(database_url)
    await deliverer.round(T0)
    (got,) = receiver.got
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(got.path).query)
    assert query["access_token"] == ["TOK"]
    ts = query["timestamp"][0]
    assert ts == str(int(T0.timestamp() * 1000))  # milliseconds
    mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(mac).decode()]  # parse_qs undid the URL encoding
    raw_sign = urllib.parse.urlsplit(got.path).query.split("sign=")[1]
    assert raw_sign == urllib.parse.quote_plus(base64.b64encode(mac).decode())
    body = got.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "消纳场容量预警：东郊消纳场"
    assert "已达 95%" in body["markdown"]["text"]


async def test_sms_gateway_gets_template_id_and_params(
    outbox_settings: Any,
    db: psycopg.Connection[Any],
    receiver: Receiver,
    subscribe_fn: Any,
    database_url: str,
) -> None:
    from tracker.db import make_pool

    receiver.answer = b'{"Code": "OK", "Message": "OK"}'
    settings = outbox_settings.model_copy(
        update={
            "outbox": outbox_settings.outbox.model_copy(
                update={
                    "sms_gateway_url": receiver.url,
                    "sms_gateway_token": "gw-token",
                    "sms_templates": {"yard.fill": "SMS_270001"},
                }
            )
        }
    )
    subscribe_fn(db, channel="sms", target="13800138000")
    event_id = await _yard_event(database_url)
    pool = make_pool(settings)
    await pool.open(wait=True)
    d = Deliverer(settings, pool)
    try:
        await d.round(T0)
    finally:
        await d.senders.aclose()
        await pool.close()
    (got,) = receiver.got
    assert got.headers["Authorization"] == "Bearer gw-token"
    body = got.json()
    assert body["PhoneNumbers"] == "13800138000"
    assert body["TemplateCode"] == "SMS_270001"
    assert body["SignName"] == "渣土监管"
    params = orjson.loads(body["TemplateParam"])  # a JSON string, as the gateways take it
    assert params["yard"] == "东郊消纳场" and params["level"] == "95"
    assert body["OutId"].startswith(f"muck-{event_id}-")


class _Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[_Sink, int]]:
    sink = _Sink()
    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


async def test_email_over_smtp(
    outbox_settings: Any,
    db: psycopg.Connection[Any],
    subscribe_fn: Any,
    database_url: str,
    smtp_server: tuple[_Sink, int],
) -> None:
    from tracker.db import make_pool

    sink, port = smtp_server
    settings = outbox_settings.model_copy(
        update={
            "outbox": outbox_settings.outbox.model_copy(
                update={"smtp_port": port, "smtp_from": "noreply@city.example"}
            )
        }
    )
    subscribe_fn(db, channel="email", target="duty@city.example")
    await _yard_event(database_url)
    pool = make_pool(settings)
    await pool.open(wait=True)
    d = Deliverer(settings, pool)
    try:
        await d.round(T0)
    finally:
        await d.senders.aclose()
        await pool.close()
    # the server answered 250 to DATA only after the handler stored the message
    ((mail_from, rcpt, content),) = sink.messages
    assert mail_from == "noreply@city.example" and rcpt == ["duty@city.example"]
    mail = message_from_bytes(content, policy=policy.default)
    assert mail["Subject"] == "消纳场容量预警：东郊消纳场"
    assert mail["X-Idempotency-Key"].startswith("muck-")
    assert "已达 95%" in mail.get_content()  # type: ignore[attr-defined]
