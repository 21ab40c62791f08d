"""Bilingual (zh/en) texts of ticket states and notification topics, for e-mails, in-app messages and the
citizen page."""

from __future__ import annotations

#: Ticket state -> (Chinese, English) as a reporter reads it.
STATUS = {
    "reported": ("已提交", "Reported"),
    "accepted": ("已受理", "Accepted"),
    "dispatched": ("已派遣", "Sent to a worker"),
    "in_progress": ("处置中", "Being handled"),
    "resolved": ("已处置", "Resolved"),
    "verified": ("已核查", "Verified"),
    "closed": ("已结案", "Closed"),
    "rejected": ("不予受理", "Not accepted"),
    "merged": ("已合并", "Merged with another report"),
    "reopened": ("已重新处理", "Reopened"),
}
#: Topics of worker and role messages -> (Chinese, English) headline.
TOPIC = {
    "dispatched": ("新任务", "New task"),
    "reopened": ("任务被退回重办", "Task reopened"),
    "overdue": ("任务已超时", "Task overdue"),
    "escalated": ("任务已升级督办", "Task escalated"),
    "reported": ("新上报事件", "New report"),
    "duplicate_report": ("重复上报", "Duplicate report"),
    "rated": ("市民评价", "Rated by the reporter"),
}
LANGS = ("zh", "en")


def lang_index(lang: str | None) -> int:
    """0 for Chinese (the default), 1 for English."""
    return 1 if (lang or "").lower().startswith("en") else 0


def status_text(status: str | None, lang: str | None = "zh") -> str:
    """A ticket state in words, in ``lang`` (zh or en)."""
    pair = STATUS.get(status or "")
    return pair[lang_index(lang)] if pair else (status or "")


def topic_text(topic: str, lang: str | None = "zh") -> str:
    """A notification topic in words (a state's words when the topic is a state)."""
    pair = TOPIC.get(topic) or STATUS.get(topic)
    return pair[lang_index(lang)] if pair else topic


def message_text(topic: str, ticket_id: int | None, status: str | None, lang: str | None = "zh") -> str:
    """One line for an in-app message or an e-mail subject."""
    if lang_index(lang):
        return f"{topic_text(topic, 'en')}: ticket #{ticket_id} is now {status_text(status, 'en').lower()}"
    return f"{topic_text(topic, 'zh')}：事件 #{ticket_id} 当前状态 {status_text(status, 'zh')}"
