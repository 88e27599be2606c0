"""The fan-out workers (``Dispatcher``), their limits (``limits``) and what they record (``outcomes``)."""

from syndicator.dispatch.dispatcher import Binding, Dispatcher
from syndicator.dispatch.limits import AccountGates, HourlyLimit
from syndicator.dispatch.outcomes import Alert

__all__ = ["AccountGates", "Alert", "Binding", "Dispatcher", "HourlyLimit"]
