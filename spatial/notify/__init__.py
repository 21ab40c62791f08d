"""Notifications: subscriptions (``subscriptions``), the outbox delivery worker (``delivery``: signed
webhooks, e-mail over SMTP), in-app messages (``messages``) and their texts (``texts``).

The outbox rows and in-app messages are written by the database trigger ``ticket_event_notify``
(migration 0016) in the same transaction as the ticket events, whatever wrote them.
"""
