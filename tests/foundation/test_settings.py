import os

import pytest

from mingbai.settings import SettingsError, load_settings


def test_home_env_moves_every_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MINGBAI_HOME", str(tmp_path / "h"))
    monkeypatch.delenv("MINGBAI_MODEL_PATH", raising=False)
    monkeypatch.delenv("MINGBAI_RASA_MODELS_PATH", raising=False)
    s = load_settings()
    assert s.home == (tmp_path / "h").resolve()
    for p in (s.model_dir, s.index_dir, s.rasa_model_dir, s.log_dir):
        assert str(p).startswith(str(s.home))
    assert s.db_url == f"sqlite:///{s.home / 'mingbai.db'}"


def test_ports_default_and_override(monkeypatch):
    monkeypatch.delenv("MINGBAI_WEB_PORT", raising=False)
    s = load_settings()
    assert (s.rasa_port, s.action_port, s.web_port) == (5005, 5055, 8000)
    monkeypatch.setenv("MINGBAI_WEB_PORT", "8100")
    assert load_settings().web_port == 8100


def test_bad_values_give_clear_errors(monkeypatch):
    monkeypatch.setenv("MINGBAI_WEB_PORT", "not-a-port")
    with pytest.raises(SettingsError) as e:
        load_settings()
    assert "web_port" in str(e.value) and "设置有误" in str(e.value)


def test_aes_key_length_checked(monkeypatch):
    monkeypatch.setenv("MINGBAI_WECHAT_AES_KEY", "short")
    with pytest.raises(SettingsError) as e:
        load_settings()
    assert "43" in str(e.value)


def test_settings_file_and_env_precedence(tmp_path, monkeypatch):
    f = tmp_path / "s.toml"
    f.write_text('web_port = 8200\nlog_level = "debug"\n', encoding="utf-8")
    monkeypatch.setenv("MINGBAI_SETTINGS", str(f))
    monkeypatch.delenv("MINGBAI_WEB_PORT", raising=False)
    s = load_settings()
    assert s.web_port == 8200 and s.log_level == "DEBUG"
    monkeypatch.setenv("MINGBAI_WEB_PORT", "8300")
    assert load_settings().web_port == 8300


def test_broken_settings_file(tmp_path, monkeypatch):
    f = tmp_path / "s.toml"
    f.write_text("web_port = = 1", encoding="utf-8")
    monkeypatch.setenv("MINGBAI_SETTINGS", str(f))
    with pytest.raises(SettingsError, match="格式错误"):
        load_settings()


def test_database_url_alias(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
    assert load_settings().db_url.startswith("postgresql://")


def test_secrets_generated_once_and_private(tmp_path, monkeypatch):
    monkeypatch.setenv("MINGBAI_HOME", str(tmp_path))
    s = load_settings()
    a = s.secret("api_token")
    assert len(a) >= 32 and a == load_settings().secret("api_token")
    assert oct((tmp_path / ".api_token").stat().st_mode & 0o777) == "0o600"
