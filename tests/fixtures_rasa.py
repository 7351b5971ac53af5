"""Session-scoped fixtures that run a real Rasa server + action server (owned by the bot area)."""
