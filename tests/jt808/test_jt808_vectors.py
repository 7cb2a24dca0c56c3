"""Real frames from public test suites decode to the values those suites assert.

Frames are quoted as facts (hex); the assertions restate what each suite checks, plus a few
values read off the bytes by hand. Tags follow docs/JT808.md §12 (``traccar-*``, ``smallchi-*``,
``gojt808-*``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracker.ingest.jt808 import (
    LENIENT,
    STRICT,
    Authentication,
    ChecksumError,
    DecodeOptions,
    Frame,
    FrameSplitter,
    Heartbeat,
    LocationBatch,
    LocationReport,
    Message,
    PlatformResponse,
    Registration,
    RegistrationReply,
    TerminalResponse,
    Version,
    decode,
)


def decode_hex(text: str, options: DecodeOptions = STRICT) -> tuple[Frame, Message]:
    (content,) = FrameSplitter().feed(bytes.fromhex(text.replace(" ", "")))
    return decode(content, options)


def location(text: str, options: DecodeOptions = STRICT) -> LocationReport:
    _, msg = decode_hex(text, options)
    assert isinstance(msg, LocationReport)
    return msg


# --- go-jt808 protocol/model/parse_test.go ------------------------------------------------


def test_gojt808_0001() -> None:
    frame, msg = decode_hex("7e000100050123456789017fff007b01c803bd7e")
    assert msg == TerminalResponse(reply_serial=123, reply_id=456, result=3)
    assert frame.header.serial == 0x7FFF


def test_gojt808_8001() -> None:
    _, msg = decode_hex("7e8001000501234567890100007fff0002008e7e")
    assert msg == PlatformResponse(reply_serial=32767, reply_id=2, result=0)


def test_gojt808_8100() -> None:
    _, msg = decode_hex("7e8100000e01234567890100000000003132333435363738393031377e")
    assert msg == RegistrationReply(reply_serial=0, result=0, auth_code="12345678901")


def test_gojt808_0002() -> None:
    frame, msg = decode_hex("7e0002000001234567890100008a7e")
    assert msg == Heartbeat()
    assert frame.header.phone == "12345678901"


def test_gojt808_0102_2013() -> None:
    _, msg = decode_hex("7e0102000b01234567890100003137323939383431373338b57e")
    assert msg == Authentication("17299841738")


def test_gojt808_0102_2019() -> None:
    frame, msg = decode_hex(
        "7e0102402f010000000001729984173800000b3137323939383431373338313233343536373839303132"
        "333435332e372e31350000000000000000000000000000227e"
    )
    assert frame.header.version is Version.V2019
    assert msg == Authentication("17299841738", "123456789012345", "3.7.15")


GOJT808_0100 = {
    Version.V2011: (
        "7e010000200123456789010000001f007363640000007777772e3830382e3736353433323101b2e241313233"
        "34a17e",
        "www.808.",
    ),
    Version.V2013: (
        "7e0100002c0123456789010000001f007363640000007777772e3830382e636f6d0000000000000000003736"
        "353433323101b2e24131323334cc7e",
        "www.808.com",
    ),
    Version.V2019: (
        "7e0100405301000000000172998417380000001f007363640000000000000000007777772e3830382e636f6d"
        "0000000000000000000000000000000000000037363534333231000000000000000000000000000000000000"
        "000000000001b2e241313233343b7e",
        "www.808.com",
    ),
}


@pytest.mark.parametrize("version", list(GOJT808_0100))
def test_gojt808_0100_each_revision(version: Version) -> None:
    text, model = GOJT808_0100[version]
    _, msg = decode_hex(text)
    assert msg == Registration(31, 115, "cd", model, "7654321", 1, "测A1234", version)


def test_gojt808_0200() -> None:
    msg = location(
        "7e0200001c0123456789010000000004000000080007203b7d0202633df70138000300632410012359591c7e"
    )
    assert (msg.alarm_bits, msg.status_bits) == (1024, 2048)
    assert (msg.lat, msg.lon) == (119.552894, 40.058359)  # their vector's raw values
    assert (msg.altitude_m, msg.speed_kmh, msg.heading_deg) == (312, 0.3, 99)
    # 2024-10-01 23:59:59 Beijing time
    assert msg.fix_time == datetime(2024, 10, 1, 15, 59, 59, tzinfo=UTC)


def test_gojt808_0704() -> None:
    _, msg = decode_hex(
        "7e0704003f0123456789010000000200001c000004000000080007203b7d0202633df701380003006324100123"
        "5959001c000004000000080007203b7d0202633df7013800030063241001235959b67e"
    )
    assert isinstance(msg, LocationBatch)
    assert msg.kind == 0 and len(msg.reports) == 2
    assert {r.speed_kmh for r in msg.reports} == {0.3}


# --- SmallChi/JT808 tests -------------------------------------------------------------------


def test_smallchi_0002_test2() -> None:
    frame, msg = decode_hex("7E 00 02 00 00 01 23 45 67 89 00 00 0A 81 7E")
    assert msg == Heartbeat()
    assert (frame.header.serial, frame.header.phone) == (10, "12345678900")


def test_smallchi_0102_test4() -> None:
    frame, msg = decode_hex(
        "7E 01 02 00 09 01 23 45 67 89 00 30 39 34 35 36 31 32 31 31 31 31 BE 7E"
    )
    assert msg == Authentication("456121111")
    assert frame.header.serial == 12345


def test_smallchi_0100_2013_right_padded_with_ascii_zero() -> None:
    _, msg = decode_hex(
        "7E0100002D000123456789000A002800323132333430736D616C6C6368693132333030303030303030304348"
        "493132333001D4C1413132333435BA7E"
    )
    assert isinstance(msg, Registration)
    assert (msg.province_id, msg.city_id, msg.plate_color) == (40, 50, 1)
    assert (msg.manufacturer_id, msg.model) == ("12340", "smallchi123000000000")
    assert (msg.terminal_id, msg.plate) == ("CHI1230", "粤A12345")


def test_smallchi_0100_2019_left_padded_with_ascii_zero() -> None:
    frame, msg = decode_hex(
        "7E010040540100000000000123456789000A0028003230303030303030313233343030303030303030303030"
        "3030303030303030736D616C6C63686931323330303030303030303030303030303030303030303030303043"
        "484931323301D4C1413132333435B27E"
    )
    assert frame.header.version is Version.V2019 and frame.header.protocol_version == 1
    assert frame.header.phone == "123456789" and frame.header.serial == 10
    assert isinstance(msg, Registration)
    # Left padding with '0' is kept (cannot be told from a real leading zero).
    assert msg.manufacturer_id == "1234".rjust(11, "0")
    assert msg.model == "smallchi123".rjust(30, "0")
    assert msg.terminal_id == "CHI123".rjust(30, "0")
    assert msg.plate == "粤A12345"


SMALLCHI_DEMO2 = (
    "7E 02 00 00 26 12 34 56 78 90 12 00 7D 02 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00"
    " 28 00 3C 00 00 18 10 15 10 10 10 01 04 00 00 00 64 02 02 00 7D 01 13 7E"
)


def test_smallchi_0200_demo2_escaped_wire_frame() -> None:
    frame, msg = decode_hex(SMALLCHI_DEMO2)
    assert frame.header.serial == 126 and frame.header.phone == "123456789012"
    assert isinstance(msg, LocationReport)
    assert (msg.alarm_bits, msg.status_bits, msg.altitude_m) == (1, 2, 40)
    assert (msg.lat, msg.lon, msg.speed_kmh, msg.heading_deg) == (12.222222, 132.444444, 6.0, 0)
    assert msg.fix_time == datetime(2018, 10, 15, 2, 10, 10, tzinfo=UTC)
    assert (msg.decoded.mileage_km, msg.decoded.fuel_l) == (10.0, 12.5)
    assert msg.valid


def test_smallchi_0200_all_standard_items() -> None:
    msg = location(
        "7E0200005C11223344556622B8000000010000000200BA7F0E07E4F11C0028003C0000180715101010010400"
        "0000640202003703020038040200011105010000000112060100000001011307000000020022012504000000"
        "172A0200F42B04000000F2300102310105167E"
    )
    d = msg.decoded
    assert (d.mileage_km, d.fuel_l, d.recorder_speed_kmh, d.alarm_event_id) == (10.0, 5.5, 5.6, 1)
    assert d.overspeed is not None and (d.overspeed.location_type, d.overspeed.area_id) == (1, 1)
    assert d.area_alarm is not None and d.area_alarm.direction == 1  # out
    assert d.route_time is not None
    assert (d.route_time.segment_id, d.route_time.driving_time_s, d.route_time.result) == (2, 34, 1)
    assert (d.vehicle_signals, d.io_status, d.analog) == (23, 244, (242, 0))
    assert (d.rssi, d.satellites) == (2, 5)


def test_smallchi_0200_test8_truncated_item_and_bad_checksum() -> None:
    text = (
        "7E020000850111111111110AA200000000000C000001F62E8307147C92001E0000001E11011103115201040013"
        "1A3403020000050100060302059007030381202504000000002B04000000F0300117310105E0013DE1080000"
        "00000004BCFDE20400000000E304000007ACE40400000000E50C001300270013002700130027EA0400000000"
        "EB0400000000EE0100F6041450E97E"
    )
    with pytest.raises(ChecksumError):
        decode_hex(text, STRICT)  # an anonymised capture: the checksum no longer matches
    msg = location(text, LENIENT)
    ids = [i for i, _ in msg.extras]
    standard = [i for i in ids if i in (0x01, 0x03, 0x25, 0x2B, 0x30, 0x31)]
    assert len(standard) == 6  # SmallChi: 6 basic items
    assert len(ids) - len(standard) == 12  # ...and 12 unknown ones
    assert msg.trailing == bytes.fromhex("F6041450")  # ...and one truncated (0xF6 says 4, has 2)
    assert msg.decoded.satellites == 5


def test_smallchi_version_flag_with_2013_header() -> None:
    # Test5_3 / Test5_4: bit 14 set, yet a 6-byte phone and no version byte.
    frame, msg = decode_hex("7E0102400C01003000068109024A3130303330303030363831857E")
    assert frame.header.flag_with_short_header and frame.header.version is Version.V2013
    assert msg == Authentication("J10030000681")
    report = location(
        "7e0200406c010030000681090e00000000000c0003026c936f074c794c0004036300d72106251557390104"
        "00000000052801cc00210625155739054145bbc91e4145a2fa1141450000004145bbc8194145a1370a4145"
        "000000240200002a0200002b04000000003001153101125f0a89860418231870850620757e"
    )
    assert (report.lat, report.lon) == (40.670063, 122.4523)  # Liaoning: the layout is right
    assert report.fix_time == datetime(2021, 6, 25, 7, 57, 39, tzinfo=UTC)
    assert report.decoded.satellites == 18


# --- Traccar Jt808ProtocolDecoderTest (mostly unescaped source frames) ----------------------


def test_traccar_0704_2013_satellites() -> None:
    _, msg = decode_hex(
        "7e070400510144503762020002000101004c00040100000800030202301006f893e8001d0000009526081722"
        "1812140400000000170200000104000036c9030200002504000000002a02000030011f31010eea04020c8300"
        "ef0400000000037e"
    )
    assert isinstance(msg, LocationBatch)
    assert msg.kind == 1  # blind-area re-upload
    (report,) = msg.reports
    assert report.decoded.satellites == 14
    assert (report.lat, report.lon, report.heading_deg) == (33.697808, 116.954088, 149)


def test_traccar_0704_2019_south() -> None:
    frame, msg = decode_hex(
        "7e0704402d0100000866496077582164881d0001000028000000000000000701a00192091f2a470016000000"
        "0226050916422701040000258230010031010e507e"
    )
    assert frame.header.version is Version.V2019 and frame.header.phone == "866496077582164"
    assert isinstance(msg, LocationBatch)
    (report,) = msg.reports
    assert report.decoded.satellites == 14
    assert (report.lat, report.lon) == (-27.263378, 153.037383)  # status bit 2: south


def test_traccar_0100_2019() -> None:
    frame, msg = decode_hex(
        "7e0100405c010000086649607758216452180000000000000000000000000000004d44333030000000000000"
        "0000000000000000000000000000000000000038363634393630373735383231363400000000000000000000"
        "000000000004000000000000000000000000000000007a7e"
    )
    assert frame.header.version is Version.V2019
    assert isinstance(msg, Registration) and msg.body_version is Version.V2019
    assert (msg.model, msg.terminal_id) == ("MD300", "866496077582164")


def test_traccar_63_registration_2013() -> None:
    _, msg = decode_hex(
        "7e0100002d0141305678720024002c012f373031313142534a2d41362d424400000000000000000000003035"
        "363738373201d4c14238383838386d7e"
    )
    assert msg == Registration(44, 303, "70111", "BSJ-A6-BD", "0567872", 1, "粤B88888")


def test_traccar_registration_2011() -> None:
    _, msg = decode_hex(
        "7E01000021013345678906000F002C012F373031313142534A2D4D3742203030303030303001D4C14238383838"
        "38B47E"
    )
    assert msg == Registration(44, 303, "70111", "BSJ-M7B", "0000000", 1, "粤B88888", Version.V2011)


def test_traccar_69_binary_terminal_id() -> None:
    _, msg = decode_hex(
        "7e010000190940278494700012000000000000000000000000000000000000094027849470000a7e"
    )
    assert isinstance(msg, Registration) and msg.body_version is Version.V2011
    assert msg.terminal_id == "094027849470"  # BCD where ASCII was due: kept as hex


def test_traccar_binary_imei_phone() -> None:
    frame, msg = decode_hex(
        "7e010200204f07788ef67601824f4459344f544d314d4459774d4441314d444977626d563355323553645778"
        "6cba7e"
    )
    assert frame.header.phone == "868935060005020"
    assert isinstance(msg, Authentication)


def test_traccar_authentication_2013() -> None:
    _, msg = decode_hex("7E0102000E013511221122000661757468656E7469636174696F6E3F7E")
    assert msg == Authentication("authentication")


def test_traccar_heartbeat() -> None:
    frame, msg = decode_hex("7e0002000004304832546500b7ca7e")
    assert msg == Heartbeat() and frame.header.serial == 0xB7


def test_traccar_west_longitude() -> None:
    msg = location(
        "7e0200002e094027587492000a000000010000000a03083db7001329f3000000140000130412164952010400"
        "000012360a0002341502cb0c20085c107e"
    )
    assert (msg.lat, msg.lon) == (50.871735, -1.255923)
    assert msg.alarm_bits == 1 and msg.speed_kmh == 2.0


def test_traccar_south_west() -> None:
    msg = location(
        "7e020000220014012499170007000000000000400e012af16f02cbd2ba000000000000150101194257010400"
        "000077a97e"
    )
    assert (msg.lat, msg.lon) == (-19.591535, -46.912186)
    assert msg.fix_time == datetime(2015, 1, 1, 11, 42, 57, tzinfo=UTC)


def test_traccar_bad_checksum_and_short_body_lenient() -> None:
    text = (
        "7E02000032013511221122000700000000000C000301578CC006CA3A5C00470000000014072317201501040000"
        "000030011631010BD07E"
    )
    with pytest.raises(ChecksumError):
        decode_hex(text, STRICT)
    msg = location(text, LENIENT)  # declares 50 body bytes, carries 40
    assert (msg.lat, msg.lon, msg.altitude_m) == (22.51488, 113.916508, 71)
    assert msg.decoded.satellites == 11
    assert msg.fix_time == datetime(2014, 7, 23, 9, 20, 15, tzinfo=UTC)
