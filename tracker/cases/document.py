"""The penalty decision document (处罚决定书, Art. 59): its content as data, and as HTML/text.

The content names the party, the facts and evidence, the penalty and its legal basis, how and by
when to pay, and how to appeal. It is stored with the case at the decision (so later changes to
the taxonomy do not change a decision already made). The PDF belongs to the evidence packs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any

APPEAL_ZH = (
    "如不服本决定，可在收到本决定书之日起六十日内向本级人民政府申请行政复议，"
    "或者在六个月内依法向人民法院提起行政诉讼。"
)
APPEAL_EN = (
    "If you do not accept this decision you may apply for administrative reconsideration within "
    "60 days of receiving it, or bring an administrative lawsuit within 6 months."
)


def content(
    case: dict[str, Any],
    subtype: dict[str, Any],
    party: dict[str, Any] | None,
    evidence: list[str],
    penalty_cny: float,
    decided_at: datetime,
    execution_days: float,
    unit_name: str | None,
) -> dict[str, Any]:
    pay_days = int(execution_days)
    return {
        "number": f"案{decided_at.year}-{case['id']:06d}",
        "party": party["name"] if party else None,
        "party_id": party["id"] if party else None,
        "facts": case["facts"],
        "evidence": evidence,
        "violation_zh": subtype["name_zh"],
        "violation_en": subtype["name_en"],
        "legal_basis": subtype["legal_basis"],
        "penalty_cny": penalty_cny,
        "payment_zh": f"自收到本决定书之日起{pay_days}日内缴纳至指定银行或通过电子支付缴纳。",
        "payment_en": f"Pay within {pay_days} days of receiving this decision, at the designated "
        "bank or electronically.",
        "pay_within_days": pay_days,
        "appeal_zh": APPEAL_ZH,
        "appeal_en": APPEAL_EN,
        "unit": unit_name,
        "decided_at": decided_at.isoformat(),
        "latest_pay_if_delivered_now": (decided_at + timedelta(days=pay_days)).date().isoformat(),
    }


def render_text(doc: dict[str, Any]) -> str:
    lines = [
        "行政处罚决定书",
        f"编号：{doc['number']}",
        f"当事人：{doc['party'] or '（未登记）'}",
        f"违法事实：{doc['facts']}",
        "证据：" + ("；".join(doc["evidence"]) or "（见案卷）"),
        f"违法行为：{doc['violation_zh']}",
        f"法律依据：{doc['legal_basis']}",
        f"处罚：罚款人民币{doc['penalty_cny']:,.2f}元",
        f"履行方式和期限：{doc['payment_zh']}",
        f"救济途径：{doc['appeal_zh']}",
        f"作出机关：{doc['unit'] or '（执法机关）'}",
        f"日期：{doc['decided_at'][:10]}",
    ]
    return "\n".join(lines) + "\n"


def render_html(doc: dict[str, Any]) -> str:
    rows = render_text(doc).splitlines()
    body = "".join(f"<p>{escape(line)}</p>" for line in rows[1:])
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(rows[0])} {escape(doc['number'])}</title></head>"
        f"<body><h1>{escape(rows[0])}</h1>{body}</body></html>"
    )
