"""Settings: one frozen object built by the entry points from flags and the environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

BUNDLED_CASES = Path(__file__).resolve().parent.parent / "cases"
DEFAULT_CASE = "xpeng-volkswagen"


def default_data_dir() -> Path:
    """The platform's per-user data folder for casebot."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("casebot", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Every setting of casebot; each has a CLI flag and an environment variable."""

    data_dir: Path = field(default_factory=default_data_dir)
    chroma_url: str = ""
    llm: str = "extractive"
    llm_timeout: float = 30.0
    llm_fallback: str = "extractive"
    openai_base_url: str = ""
    openai_api_key: str = field(default="", repr=False)
    allowed_origins: tuple[str, ...] = ()
    rate_limit: str = "30/minute"
    # A ceiling per IP address on top of the per-client limit (a classroom shares one NAT address).
    rate_limit_ip: str = "600/minute"
    # Where rate-limit counters live: memory:// (per process) or redis://host:port (shared).
    rate_limit_storage: str = field(default="memory://", repr=False)
    api_token: str = field(default="", repr=False)
    # The case asked about when a request names none ("" = the bundled case, else the only case).
    default_case: str = ""
    # How many cases stay loaded in memory (least recently used ones are dropped).
    case_cache: int = 32
    # Seconds the JSON API waits for an answer before giving up with 504.
    answer_timeout: float = 120.0
    top_k: int = 5
    cases_dir: Path = BUNDLED_CASES
    # Seconds a web chat's history is kept after its last answer (Gradio session state).
    session_ttl: float = 3600.0
    # The records database (issue 12): SQLAlchemy URL, "" = SQLite file in data_dir.
    database_url: str = field(default="", repr=False)
    log_questions: bool = True
    log_retention_days: float = 180.0
    instructor_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from CASEBOT_* variables, then non-None `overrides` (the CLI flags) on top."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("CASEBOT_DATA_DIR"):
            values["data_dir"] = Path(env["CASEBOT_DATA_DIR"]).expanduser()
        if env.get("CASEBOT_CASES_DIR"):
            values["cases_dir"] = Path(env["CASEBOT_CASES_DIR"]).expanduser()
        for key, var in (("chroma_url", "CASEBOT_CHROMA_URL"), ("llm", "CASEBOT_LLM"),
                         ("llm_fallback", "CASEBOT_LLM_FALLBACK"),
                         ("openai_base_url", "OPENAI_BASE_URL"), ("openai_api_key", "OPENAI_API_KEY"),
                         ("rate_limit", "CASEBOT_RATE_LIMIT"), ("api_token", "CASEBOT_API_TOKEN"),
                         ("rate_limit_ip", "CASEBOT_RATE_LIMIT_IP"),
                         ("rate_limit_storage", "CASEBOT_RATE_LIMIT_STORAGE"),
                         ("default_case", "CASEBOT_DEFAULT_CASE")):
            if env.get(var, "").strip():
                values[key] = env[var].strip()
        if env.get("CASEBOT_LLM_TIMEOUT"):
            values["llm_timeout"] = _positive_float("CASEBOT_LLM_TIMEOUT", env["CASEBOT_LLM_TIMEOUT"])
        if env.get("CASEBOT_SESSION_TTL"):
            values["session_ttl"] = _positive_float("CASEBOT_SESSION_TTL", env["CASEBOT_SESSION_TTL"])
        if env.get("CASEBOT_ANSWER_TIMEOUT"):
            values["answer_timeout"] = _positive_float("CASEBOT_ANSWER_TIMEOUT",
                                                       env["CASEBOT_ANSWER_TIMEOUT"])
        if env.get("CASEBOT_CASE_CACHE"):
            values["case_cache"] = _positive_int("CASEBOT_CASE_CACHE", env["CASEBOT_CASE_CACHE"])
        if env.get("CASEBOT_DATABASE_URL", "").strip():
            values["database_url"] = env["CASEBOT_DATABASE_URL"].strip()
        if env.get("CASEBOT_INSTRUCTOR_TOKEN", "").strip():
            values["instructor_token"] = env["CASEBOT_INSTRUCTOR_TOKEN"].strip()
        if env.get("CASEBOT_LOG_QUESTIONS", "").strip():
            values["log_questions"] = parse_on_off("CASEBOT_LOG_QUESTIONS", env["CASEBOT_LOG_QUESTIONS"])
        if env.get("CASEBOT_LOG_RETENTION_DAYS", "").strip():
            values["log_retention_days"] = parse_days("CASEBOT_LOG_RETENTION_DAYS",
                                                      env["CASEBOT_LOG_RETENTION_DAYS"])
        if env.get("CASEBOT_ALLOWED_ORIGINS"):
            values["allowed_origins"] = parse_origins(env["CASEBOT_ALLOWED_ORIGINS"])
        settings = cls(**values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def quiet_libraries() -> None:
    """Keep third-party libraries offline and quiet: no analytics or telemetry calls, no hub
    downloads, no progress bars on the terminal. Entry points call it before importing them."""
    # Forced, not defaulted: casebot never calls out unless the user configures a server.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("chromadb").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def parse_origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins such as `https://lms.example.edu`, without trailing slashes."""
    return tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())


def parse_on_off(name: str, raw: str) -> bool:
    """`on`/`off` (also true/false, yes/no, 1/0) as a bool; ValueError otherwise."""
    value = raw.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"{name} must be on or off, got {raw!r}")


def parse_days(name: str, raw: str) -> float:
    """A positive number of days; ValueError otherwise."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of days, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value
