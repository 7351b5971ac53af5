"""Custom Rasa NLU components (loaded by the Rasa runtime, Python 3.10; keep them dependency-light)."""
