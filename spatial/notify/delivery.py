"""The outbox delivery worker: signed webhooks and e-mail, with retries and exponential backoff.

:func:`deliver_due` is the server's ``notify`` job (``spatial.api.jobs``, every
``ONEMAP_NOTIFY_SECONDS``); ``onemap notify deliver`` runs it once by hand. One run:

1. **claims** up to ``ONEMAP_NOTIFY_BATCH`` due rows (``pending``, or ``sending`` whose lease ran
   out) with ``FOR UPDATE SKIP LOCKED`` (several servers never take the same row), marks them
   ``sending`` with a lease, counts the attempt and **commits**;
2. **delivers** them outside any transaction: webhooks in parallel on a keep-alive HTTP client,
   e-mails over one SMTP connection;
3. **records** each outcome and commits: ``sent``; or back to ``pending`` after
   ``ONEMAP_NOTIFY_BACKOFF_SECONDS * 2**(attempts-1)`` (capped at 6 h, with up to 10 % jitter);
   ``dead`` after ``ONEMAP_NOTIFY_MAX_ATTEMPTS``.

A delivery that succeeded is never sent again. A server that dies between sending and recording
leaves the row ``sending``; it is sent again when the lease expires (at-least-once): receivers
deduplicate by the ``X-OneMap-Delivery`` header (the outbox id).

**Webhook** request: ``POST`` of JSON ``{"delivery_id", "topic", "event": {...}}`` with headers
``X-OneMap-Delivery``, ``X-OneMap-Topic`` and ``X-OneMap-Signature: t=<unix seconds>,v1=<hex>``,
where ``v1`` is HMAC-SHA256 with the subscription's secret over ``"<t>." + body`` (the scheme of
Stripe's webhooks: the timestamp lets receivers refuse replays). Any 2xx is success; redirects
are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import smtplib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.notify import texts
from spatial.settings import get_settings

log = logging.getLogger("onemap.notify")

SIGNATURE_HEADER = "X-OneMap-Signature"
MAX_BACKOFF = timedelta(hours=6)
#: Parallel webhook requests of one run.
WEBHOOK_THREADS = 8
_CLAIM = sa.text("""
UPDATE notification_outbox o SET state = 'sending', attempts = o.attempts + 1, next_attempt_at = :lease
FROM (SELECT id FROM notification_outbox
      WHERE state IN ('pending', 'sending') AND next_attempt_at <= :now
      ORDER BY next_attempt_at, id LIMIT :n FOR UPDATE SKIP LOCKED) due
WHERE o.id = due.id
RETURNING o.id, o.channel, o.target, o.topic, o.payload, o.attempts,
          (SELECT s.secret FROM notification_subscription s WHERE s.id = o.subscription_id) AS secret
""")
_SENT = sa.text("UPDATE notification_outbox SET state = 'sent', sent_at = :now, last_error = NULL "
                "WHERE id = ANY(:ids) AND state = 'sending'")
_RETRY = sa.text("UPDATE notification_outbox SET state = CAST(:state AS varchar), next_attempt_at = :at, "
                 "last_error = :err WHERE id = :id AND state = 'sending'")


@dataclass(frozen=True)
class Delivery:
    """One claimed outbox row."""

    id: int
    channel: str
    target: str
    topic: str
    payload: dict
    attempts: int
    secret: str | None


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-OneMap-Signature`` header value: ``t=<timestamp>,v1=<HMAC-SHA256 hex of "<t>." + body>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300, now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_s`` old (for receivers)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, body, ts), f"t={ts},v1={parts.get('v1', '')}")


def backoff(attempts: int, base_s: float) -> timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: base * 2**(attempts-1), capped, +0-10 %."""
    delay = min(base_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=delay * (1 + random.random() * 0.1))


def webhook_body(d: Delivery) -> bytes:
    return json.dumps({"delivery_id": d.id, "topic": d.topic, "event": d.payload}, ensure_ascii=False,
                      sort_keys=True, default=str).encode()


def send_webhook(client: httpx.Client, d: Delivery) -> None:
    """POST one signed delivery; raises on anything but a 2xx answer."""
    if not d.secret:
        raise RuntimeError("the subscription has no secret")
    body = webhook_body(d)
    headers = {"Content-Type": "application/json", "X-OneMap-Delivery": str(d.id), "X-OneMap-Topic": d.topic,
               SIGNATURE_HEADER: signature(d.secret, body, int(time.time())), "User-Agent": "OneMap-Webhook/1"}
    r = client.post(d.target, content=body, headers=headers)
    if not 200 <= r.status_code < 300:
        raise RuntimeError(f"HTTP {r.status_code}")


def email_message(d: Delivery, *, sender: str, base_url: str | None) -> EmailMessage:
    """The e-mail of one delivery (bilingual when the payload has no language)."""
    p = d.payload
    langs = [p["lang"]] if p.get("lang") in texts.LANGS else list(texts.LANGS)
    tid, status = p.get("ticket_id"), p.get("status") or p.get("to_status")
    lines = [texts.message_text(d.topic, tid, status, lang) for lang in langs]
    if p.get("reporter"):
        lines.append("您可以通过提交时获得的跟踪链接查看进度并评价。" if langs[0] == "zh" else
                     "Open the tracking link you received when reporting to follow it and rate the work.")
    if base_url:
        lines.append(f"{base_url}/report")
    msg = EmailMessage()
    msg["Subject"] = "[OneMap] " + " / ".join(texts.message_text(d.topic, tid, status, lang) for lang in langs[:1])
    msg["From"] = sender
    msg["To"] = d.target
    msg["Message-ID"] = f"<onemap-delivery-{d.id}@onemap>"
    msg.set_content("\n\n".join(lines))
    return msg


def _claim(session: Session, now: datetime, n: int) -> list[Delivery]:
    s = get_settings()
    lease = now + timedelta(seconds=max(60.0, 3 * s.notify_timeout_seconds))
    rows = session.execute(_CLAIM, {"now": now, "lease": lease, "n": n}).all()
    return [Delivery(r.id, r.channel, r.target, r.topic, dict(r.payload or {}), r.attempts, r.secret) for r in rows]


def _send_all(batch: list[Delivery]) -> dict[int, str | None]:
    """Deliver a batch; the error text of each failed delivery (None = delivered)."""
    s = get_settings()
    out: dict[int, str | None] = {}
    hooks = [d for d in batch if d.channel == "webhook"]
    mails = [d for d in batch if d.channel == "email"]
    if hooks:
        with httpx.Client(timeout=s.notify_timeout_seconds, follow_redirects=False, trust_env=False) as client:
            def one(d: Delivery) -> tuple[int, str | None]:
                try:
                    send_webhook(client, d)
                    return d.id, None
                except Exception as exc:  # any failure is retried later
                    return d.id, f"{type(exc).__name__}: {exc}"[:500]
            with ThreadPoolExecutor(max_workers=min(WEBHOOK_THREADS, len(hooks))) as pool:
                out.update(pool.map(one, hooks))
    if mails:
        out.update(_send_mails(mails))
    return out


def _send_mails(mails: list[Delivery]) -> dict[int, str | None]:
    s = get_settings()
    if not s.smtp_host:
        return {d.id: "no SMTP server configured (ONEMAP_SMTP_HOST)" for d in mails}
    out: dict[int, str | None] = {}
    try:
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notify_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
            for d in mails:
                try:
                    smtp.send_message(email_message(d, sender=s.smtp_from, base_url=s.public_url))
                    out[d.id] = None
                except smtplib.SMTPException as exc:
                    out[d.id] = f"{type(exc).__name__}: {exc}"[:500]
    except (OSError, smtplib.SMTPException) as exc:
        for d in mails:
            out.setdefault(d.id, f"{type(exc).__name__}: {exc}"[:500])
    return out


def deliver_due(session: Session, *, now: datetime | None = None, limit: int | None = None) -> dict:
    """One run of the delivery worker (see the module docstring); commits itself. Returns counts."""
    s = get_settings()
    now = utc_now(now)
    batch = _claim(session, now, limit or s.notify_batch)
    session.commit()
    if not batch:
        return {"claimed": 0, "sent": 0, "retry": 0, "dead": 0}
    results = _send_all(batch)
    done = utc_now()
    sent = [i for i, err in results.items() if err is None]
    counts = {"claimed": len(batch), "sent": len(sent), "retry": 0, "dead": 0}
    if sent:
        session.execute(_SENT, {"ids": sent, "now": done})
    for d in batch:
        err = results.get(d.id, "not attempted")
        if err is None:
            continue
        dead = d.attempts >= s.notify_max_attempts
        counts["dead" if dead else "retry"] += 1
        log.warning("delivery %s (%s) attempt %s failed: %s", d.id, d.channel, d.attempts, err)
        session.execute(_RETRY, {"id": d.id, "state": "dead" if dead else "pending", "err": err,
                                 "at": done + backoff(d.attempts, s.notify_backoff_seconds)})
    session.commit()
    return counts


def retry_dead(session: Session, ids: list[int] | None = None) -> int:
    """Put dead deliveries (all, or ``ids``) back in the queue with their attempts reset."""
    q = ("UPDATE notification_outbox SET state = 'pending', attempts = 0, next_attempt_at = now() "
         "WHERE state = 'dead'" + (" AND id = ANY(:ids)" if ids else ""))
    return session.execute(sa.text(q), {"ids": ids or []}).rowcount


def stats(session: Session) -> dict:
    """Outbox rows by channel and state."""
    rows = session.execute(sa.text("SELECT channel, state, count(*) FROM notification_outbox GROUP BY 1, 2"))
    out: dict = {}
    for ch, st, n in rows:
        out.setdefault(ch, {})[st] = n
    return out


def drain(session: Session, *, max_seconds: float = 30.0) -> dict:
    """The ``notify`` job: :func:`deliver_due` until the due rows are done or ``max_seconds`` passed."""
    t0 = time.monotonic()
    total = {"claimed": 0, "sent": 0, "retry": 0, "dead": 0}
    batch = get_settings().notify_batch
    while True:
        counts = deliver_due(session)
        for k, v in counts.items():
            total[k] += v
        if counts["claimed"] < batch or time.monotonic() - t0 > max_seconds:
            return total
