"""Custom Rasa actions, served by the rasa-sdk action server on the app runtime (Python 3.11).

One module per flow (rasa_sdk's register_package imports every module here and registers each
Action subclass once):
  session.py   action_session_start: carried-over slots, the privacy notice
  answer.py    legal questions → knowledge.ask; `inform` outside the form; 没帮助 feedback
  intake.py    the dispute form: prepare, ask, validate, submit; declining the mediation offer
  handoff.py   转人工, fallback after not understanding twice, emergencies
  records.py   查进度 (ticket status), 删除我的信息
  common.py    shared helpers (the resident's words, replies with their outcome payload)
  services.py  safe calls into knowledge / tickets / the classifier; slots.py the form's parsers

Heavy parts (e5 embeddings, the knowledge index, the database) are loaded lazily on first use:
rasa-sdk 3.21 runs on Sanic 25, and import-time model loading breaks its worker start.
"""
from bot.actions import answer, handoff, intake, records, session  # noqa: F401  (registers the Action subclasses)
