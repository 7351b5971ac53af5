"""Custom Rasa actions, served by the rasa-sdk action server on the app runtime (Python 3.11).

Heavy parts (e5 embeddings, the knowledge index, the database) are loaded lazily on first use:
rasa-sdk 3.21 runs on Sanic 25, and import-time model loading breaks its worker start.
"""
from bot.actions import actions  # noqa: F401  (registers the Action subclasses)
