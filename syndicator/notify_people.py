"""Build the people notifier from ``[notify]``: each person's e-mail and group robots."""

from __future__ import annotations

import aiohttp

from channels.notify import Notifier
from channels.notify.email import SmtpMailer
from channels.notify.robots import DingtalkRobot, WecomRobot
from syndicator.alerting import PeopleNotifier, Recipient
from syndicator.config import NotifySettings


def build_people_notifier(settings: NotifySettings, session: aiohttp.ClientSession) -> PeopleNotifier:
    recipients = []
    for p in settings.people:
        notifiers: list[Notifier] = []
        if p.email and settings.smtp is not None:
            notifiers.append(SmtpMailer(settings.smtp, p.email))
        if p.wecom_key.get_secret_value():
            notifiers.append(WecomRobot(session, p.wecom_key.get_secret_value(), settings.wecom_base_url))
        if p.dingtalk_token.get_secret_value():
            notifiers.append(DingtalkRobot(session, p.dingtalk_token.get_secret_value(),
                                           p.dingtalk_secret.get_secret_value(), settings.dingtalk_base_url))
        recipients.append(Recipient(p.name, notifiers, frozenset(p.categories), frozenset(p.units),
                                    p.daily_summary))
    return PeopleNotifier(recipients)
