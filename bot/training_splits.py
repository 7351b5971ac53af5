"""Routing tuning splits that became training material (eval/bot/dev … dev10).

A tuning split is written before tuning and chooses thresholds; once a newer split takes its place it
is folded into training. The road model (bot.road_model) learns its roads and dangers, the domain
classifier (bot.classifier) its domains: residents' own words, which the curated classification
examples lack (on dev6, then the tuning split, the classifier alone named a right domain for 0.850 of
answers and intakes without them and 0.872 with them; folding dev6 – dev8 in session 10 moved dev9, the
tuning split since, from 0.872 to 0.877, and its emergencies found from 28 to 29 of 30; dev9 followed in
session 13, when dev10 took its place: on dev10, road model offline, outcome 0.977 → 0.985, emergencies
59 → 60 of 60, false alarms 2 → 1 of 203 — its run over REST before the fold read 0.973 / 59 / 2); dev10 in
session 14, when dev11 (written for the danger decision) took its place: dev11 read by a road model with
dev10 found the same 98 of 100 emergencies and raised the same 10 false alarms of 195 as the release
without it. The current
tuning split and the held-out sets are never listed here; tests/bot/test_road.py keeps these texts apart
from the held-out ones.
"""
from __future__ import annotations

import json
from pathlib import Path

from mingbai.settings import PROJECT_ROOT

_EVAL = PROJECT_ROOT / "eval" / "bot"
PATHS = ([_EVAL / d / "messages.jsonl" for d in ("dev", "dev2", "dev3", "dev4")] + [_EVAL / "dev5" / "consultations.jsonl"]
         + [_EVAL / d / "messages.jsonl" for d in ("dev6", "dev7", "dev8", "dev9", "dev10")])


def read(paths) -> list[dict]:
    """Every labelled message of these files (eval/bot/heldout/README.md's line format), in order."""
    out: list[dict] = []
    for path in paths:
        if path.exists():
            out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def rows() -> list[dict]:
    """Every labelled message of the splits."""
    return read(PATHS)
