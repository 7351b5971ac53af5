"""Tables of the maintainers' knowledge console (migration 0003).

kb_entries   one row per curated entry: where it stands in the review workflow
             (draft 草稿 → review 待审核 → published 已发布) and which version residents get
kb_versions  every change is a new, immutable version (content as JSON, author, note)
kb_golden    golden questions (question → expected entry id or article) run before publishing
console_canned_replies  the console's 快捷回复, edited on the admin pages

The YAML under knowledge/qa stays the seed (copied in when kb_entries is empty) and the export
format; once seeded, the served entries come from here (knowledge.store.served_entries).
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.db import Base
from tickets.models import UTCDateTime, utcnow

WORKFLOW = ("draft", "review", "published")
WORKFLOW_LABELS = {"draft": "草稿", "review": "待审核", "published": "已发布"}


class KbEntry(Base):
    __tablename__ = "kb_entries"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    domain: Mapped[str] = mapped_column(String(32), nullable=False)
    subtype: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="qa")
    # the latest version's question, for listing and searching
    question: Mapped[str] = mapped_column(Text, nullable=False)
    # workflow state of the latest version: draft | review | published
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # latest version number
    published_version: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)  # served to residents
    author: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # of the latest version
    submitted_by: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    reviewed_by: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(80), nullable=False, default="")  # seed file / console / import
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


Index("ix_kb_entries_domain", KbEntry.domain, KbEntry.status)


class KbVersion(Base):
    __tablename__ = "kb_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_kb_versions_entry_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("kb_entries.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # {domain, subtype, kind, question, paraphrases, answer, steps, citations, yaml_status}
    data: Mapped[dict] = mapped_column(JSON, nullable=False)
    author: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    note: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class KbGolden(Base):
    """A question whose expected answer must not move: the expected entry (or article) is among
    the top `top_k` results of the index a publication would produce."""

    __tablename__ = "kb_golden"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    expect_entry: Mapped[Optional[str]] = mapped_column(String(80), nullable=True)
    expect_law: Mapped[Optional[str]] = mapped_column(String(120), nullable=True)
    expect_article: Mapped[Optional[str]] = mapped_column(String(40), nullable=True)
    top_k: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class CannedReply(Base):
    """快捷回复 shown on a ticket; {who} becomes e.g. 「清风镇人民调解员王芳」."""

    __tablename__ = "console_canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
