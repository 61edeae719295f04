"""Adapters: Telegram bot, terminal shell, CLI and the reminder loop."""
