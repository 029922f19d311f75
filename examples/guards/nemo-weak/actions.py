"""A weak input rail: one literal phrase, compared as written."""

from nemoguardrails.actions import action


@action(is_system_action=True)
async def screen_input(context: dict | None = None) -> bool:
    return "ignore previous instructions" in str((context or {}).get("user_message") or "")
