"""The outbox (issue 16): everything that must reach someone outside the platform.

- ``events``: :func:`emit` writes an event in the caller's transaction (``outbox_emit`` in SQL;
  the triggers of ``tracker/sql/0015_outbox.sql`` emit incidents, permits, listings, points and
  yard alerts from every path that changes them). Types: ``tracker.wire.OUTBOX_EVENT_TYPES``.
- ``repo``: fan-out to subscriptions, claiming a subscription, delivery state, dead letters.
- ``deliverer``: ``tracker deliver``: fans out and delivers at least once, in order per
  subscription, with back-off for ``retry_period_s`` and then a dead letter.
- ``channels``: webhook (HMAC-SHA256), WeCom and DingTalk group robots, SMS gateway, SMTP.
- ``templates``: the message texts (zh-CN by default), editable per city in ``outbox_templates``.
- ``notices``: periodic producers (permit.expiring, company.credit_changed).
- ``api``: subscriptions, delivery status, dead letters and replay, templates.
"""

from tracker.outbox.events import OutboxEvent, emit

__all__ = ["OutboxEvent", "emit"]
