"""The pack's case file: a PDF in Chinese, drawn with reportlab's built-in CID font
(STSong-Light, Adobe's Asian font pack: no font file needed, text stays searchable).

Pages: the cover (party, facts, decision or its absence, the event chain's head), the map and
the sensor timeline, the events with their hashes, the photos, then the table of every fix.
Times are shown in the dossier's zone (北京时间 by default)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from tracker.evidence import drawing
from tracker.evidence.chain import GENESIS
from tracker.evidence.dossier import STATUS_NAMES, Dossier

FONT = "STSong-Light"
WIDTH, HEIGHT = float(A4[0]), float(A4[1])
MARGIN = 42.0
TITLE = "渣土车运输违规证据卷"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def _wrap(text: str, width_chars: int) -> list[str]:
    """Lines of at most ``width_chars`` characters (Chinese text has no spaces to break on)."""
    out: list[str] = []
    for para in text.splitlines() or [""]:
        while len(para) > width_chars:
            out.append(para[:width_chars])
            para = para[width_chars:]
        out.append(para)
    return out


class CaseFile:
    def __init__(self, d: Dossier, with_map: bool) -> None:
        self.d = d
        self.with_map = with_map
        self.zone = ZoneInfo(d.time_zone)
        self.out = io.BytesIO()
        self.c = Canvas(self.out, pagesize=A4, invariant=True, pageCompression=1)
        self.font = _font()
        self.page = 0
        self.c.setTitle(f"{TITLE} {d.party.plate}")
        self.c.setAuthor("muck-tracker")

    def when(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def head(self, heading: str) -> float:
        """Start a page with its heading; the y below it."""
        if self.page:
            self.c.showPage()
        self.page += 1
        self.c.setFont(self.font, 8)
        self.c.drawString(MARGIN, 20, f"{TITLE} · {self.d.ref} · 第 {self.page} 页")
        self.c.setFont(self.font, 15)
        self.c.drawString(MARGIN, HEIGHT - MARGIN, heading)
        return HEIGHT - MARGIN - 26

    def cover(self) -> None:
        d = self.d
        y = self.head(f"{TITLE}（{d.title}）")
        head_hash = d.events[-1].hash if d.events else GENESIS
        created = d.created_at or datetime.now(UTC)
        rows = [
            ("编号", d.ref),
            ("车牌号", d.party.plate),
            ("所属企业", d.party.company),
            ("统一社会信用代码", d.party.credit_code or "—"),
            ("违规类型", f"{d.title}（{d.kind}）"),
            ("发生时间", f"{self.when(d.opened_at)}（{d.time_zone}）"),
            (
                "地点（经度, 纬度）",
                "—" if d.place is None else f"{d.place[0]:.6f}, {d.place[1]:.6f}",
            ),
            ("状态", STATUS_NAMES.get(d.status, d.status) or "—"),
            ("轨迹点数", str(len(d.fixes))),
            ("事件链末端哈希", head_hash),
            ("制卷时间", self.when(created)),
        ]
        for label, value in rows:
            self.c.setFont(self.font, 10)
            self.c.drawString(MARGIN, y, label)
            self.c.setFont(self.font, 9 if len(value) > 40 else 10)
            self.c.drawString(MARGIN + 110, y, value)
            y -= 17
        y = self.paragraph("违法事实", d.facts or "—", y - 8)
        self.paragraph("处罚决定", d.decision or "尚无处罚决定。", y - 8)

    def paragraph(self, label: str, text: str, y: float) -> float:
        self.c.setFont(self.font, 12)
        self.c.drawString(MARGIN, y, label)
        y -= 16
        self.c.setFont(self.font, 10)
        for line in _wrap(text, 46):
            if y < MARGIN + 20:
                y = self.head(f"{label}（续）")
                self.c.setFont(self.font, 10)
            self.c.drawString(MARGIN, y, line)
            y -= 14
        return y

    def figures(self) -> None:
        y = self.head("轨迹与电子围栏示意图")
        width = WIDTH - 2 * MARGIN
        if self.with_map:
            drawing.draw_map(self.c, self.d, (MARGIN, y - 420, width, 420), self.font)
            self.c.setFont(self.font, 8)
            self.c.drawString(
                MARGIN,
                y - 434,
                "绿点：起点；蓝点：终点；红点：违规地点；色块：工地、消纳场、禁区围栏",
            )
        drawing.draw_timeline(
            self.c, self.d.fixes, (MARGIN + 30, MARGIN + 20, width - 30, 200), self.font, self.when
        )
        self.c.setFont(self.font, 12)
        self.c.drawString(MARGIN, MARGIN + 232, "传感器时间线")

    def events(self) -> None:
        y = self.head("事件记录与哈希链")
        for n, ev in enumerate(self.d.events):
            if y < MARGIN + 40:
                y = self.head("事件记录与哈希链（续）")
            e = ev.event
            self.c.setFont(self.font, 9)
            line = f"{n + 1}. {e.get('at', '')}  {e.get('type', '')}  {e.get('actor', '')}"
            self.c.drawString(MARGIN, y, line)
            note = str(e.get("note") or "")
            if note:
                self.c.drawString(MARGIN + 250, y, note[:40])
            self.c.setFont("Courier", 7)
            self.c.drawString(MARGIN + 12, y - 10, f"sha256 {ev.hash}")
            y -= 26

    def photos(self) -> None:
        for n, photo in enumerate(self.d.photos):
            if n % 2 == 0:
                y = self.head("现场照片")
            top = y if n % 2 == 0 else y - 360
            shown = self.photo(photo.data, top)
            self.c.setFont(self.font, 9)
            note = "" if shown else "（无法显示，原件见包内文件）"
            self.c.drawString(MARGIN, top - 345, f"{photo.name} {photo.caption}{note}")

    def photo(self, data: bytes, top: float) -> bool:
        """Draw one photo; False when its pixels cannot be decoded (the file stays in the
        pack as received)."""
        try:
            image = ImageReader(io.BytesIO(data))
            image.getSize()
            self.c.drawImage(image, MARGIN, top - 330, WIDTH - 2 * MARGIN, 320,
                             preserveAspectRatio=True, anchor="nw")  # fmt: skip
        except Exception:  # a photo that passed the byte checks but does not decode
            return False
        return True

    def fixes(self) -> None:
        columns = [
            ("时间", 0),
            ("经度", 110),
            ("纬度", 180),
            ("速度km/h", 245),
            ("重载", 305),
            ("举升", 345),
            ("密闭", 385),
        ]
        y = 0.0
        for n, f in enumerate(self.d.fixes):
            if n % 70 == 0:
                y = self.head("定位数据表")
                self.c.setFont(self.font, 8)
                self.c.drawString(
                    MARGIN, y + 12, f"时间：{self.d.time_zone}；Y 是，N 否，- 无此传感器"
                )
                for title, x in columns:
                    self.c.drawString(MARGIN + x, y, title)
                y -= 12
                self.c.setFont("Helvetica", 7)
            values = (
                self.when(f.at),
                f"{f.lon:.6f}",
                f"{f.lat:.6f}",
                "—" if f.speed_kmh is None else f"{f.speed_kmh:.1f}",
            )
            for (_, x), value in zip(columns, values, strict=False):
                self.c.drawString(MARGIN + x, y, value.replace("—", "-"))
            for (_, x), flag in zip(
                columns[4:], (f.loaded, f.body_lifted, f.cover_closed), strict=True
            ):
                self.c.drawString(MARGIN + x, y, {None: "-", True: "Y", False: "N"}[flag])
            y -= 10

    def render(self) -> bytes:
        self.cover()
        self.figures()
        self.events()
        self.photos()
        self.fixes()
        self.c.showPage()
        self.c.save()
        return self.out.getvalue()


def render(d: Dossier, *, with_map: bool = True) -> bytes:
    """The case file's PDF bytes (the same dossier gives the same bytes: invariant mode)."""
    return CaseFile(d, with_map).render()
