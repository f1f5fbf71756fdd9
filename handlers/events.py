"""Events: `app_home_opened` publishes the user's App Home tab (the backup posture; approval
buttons for approvers), through the outbox like every other message."""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.app.async_app import AsyncApp

from bot.services import Services

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def on_app_home_opened(event: dict[str, Any]) -> None:
        user = str(event.get("user") or "")
        if event.get("tab", "home") != "home" or not user:
            return  # the Messages tab, or no one to show it to
        await services.approvals.refresh_groups()
        await services.posture.publish_home(user, approver=services.approvals.is_approver(user),
                                            viewer=services.dispatcher.access.may_read(user))
