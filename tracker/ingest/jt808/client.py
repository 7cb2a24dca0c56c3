"""A JT/T 808 terminal speaking to the gateway over TCP: the simulator, the bench and the tests.

Everything it sends is built with the codec's encoders, so the gateway sees real frames.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from tracker.ingest.jt808.codec import Message, decode, encode_message
from tracker.ingest.jt808.frame import Frame
from tracker.ingest.jt808.framing import FrameSplitter
from tracker.ingest.jt808.header import Dialect
from tracker.ingest.jt808.messages import (
    Authentication,
    PlatformResponse,
    Registration,
    RegistrationReply,
)


class TerminalClient:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        phone: str,
        dialect: Dialect,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.phone, self.dialect = phone, dialect
        self.serial = 0
        self._splitter = FrameSplitter()
        self._frames: deque[bytes] = deque()

    @classmethod
    async def connect(
        cls, host: str, port: int, phone: str, dialect: Dialect | None = None
    ) -> TerminalClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, phone, dialect or Dialect())

    def frame(self, message: Message) -> tuple[int, bytes]:
        """(serial, wire frame) of ``message`` with the next serial number."""
        serial = self.serial
        self.serial = (self.serial + 1) & 0xFFFF
        return serial, encode_message(
            message, phone=self.phone, serial=serial, dialect=self.dialect
        )

    async def send(self, message: Message) -> int:
        serial, data = self.frame(message)
        await self.send_raw(data)
        return serial

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self) -> tuple[Frame, Message]:
        """The next frame from the gateway (``ConnectionError`` when it closed)."""
        while not self._frames:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("the gateway closed the connection")
            self._frames.extend(self._splitter.feed(data))
        return decode(self._frames.popleft())

    async def reply_to(self, serial: int) -> PlatformResponse | RegistrationReply:
        """Skip frames until the reply to our ``serial`` arrives."""
        while True:
            _, message = await self.receive()
            if (
                isinstance(message, PlatformResponse | RegistrationReply)
                and message.reply_serial == serial
            ):
                return message

    async def request(self, message: Message) -> PlatformResponse | RegistrationReply:
        return await self.reply_to(await self.send(message))

    async def register(
        self, plate: str, model: str = "SIM-ZT", terminal_id: str | None = None
    ) -> RegistrationReply:
        device = self.phone[-7:] if terminal_id is None else terminal_id
        body = Registration(0, 0, "MUCK", model, device, 1, plate, self.dialect.version)
        reply = await self.request(body)
        assert isinstance(reply, RegistrationReply)
        return reply

    async def authenticate(self, auth_code: str) -> int:
        """Send 0x0102; return the 0x8001 result (0 = authenticated)."""
        reply = await self.request(Authentication(auth_code, "860000000000001", "sim-1.0"))
        assert isinstance(reply, PlatformResponse)
        return reply.result

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
