"""Settings: one frozen object built by the entry points from flags and the environment.

The fields, their types, bounds and validators are declared once on a pydantic-settings model, so
a variable, a flag and a library caller meet the same rule. pydantic-settings reads the variables
as it is designed to: each field's is `CASEBOT_` plus its name (`env_prefix`), except the
`OPENAI_*` ones, which keep the names their client library reads (`AliasChoices`); empty ones
count as unset. Arguments (the CLI flags) win over variables, which win over defaults.

Only entry points read the environment: `Settings.from_env()` (or `Settings()`) reads os.environ,
and only an entry point calls it so; `Settings.from_env(mapping)` reads the variables of that
mapping alone, through the same pydantic-settings source. Through `from_env` and `override` a
value that breaks a rule becomes one `UsageError` line naming the variable or flag that was set
and what it may be; `Settings(...)` built directly raises pydantic's ValidationError (a
ValueError), which is a caller's bug rather than a person's input.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from bot.errors import UsageError

BUNDLED_CASES = Path(__file__).resolve().parent.parent / "cases"
DEFAULT_CASE = "xpeng-volkswagen"
# What an LLM is shown of the case (bot.answerers.context): whole, retrieved, or whole when it fits.
LlmContext = Literal["auto", "whole", "retrieved"]
LLM_CONTEXTS: tuple[str, ...] = get_args(LlmContext)
Access = Literal["open", "lti"]
MIN_INSTRUCTOR_TOKEN_CHARS = 16
DEFAULT_LLM_CONTEXT_TOKENS = 12000
# A smaller budget cannot hold even a short case: almost certainly a typo.
MIN_LLM_CONTEXT_TOKENS = 256
# How the bot meets every question: answer it, or guide (point to where the case answers and ask
# the student what it says; bot.teaching).
Mode = Literal["answer", "guide"]
MODES: tuple[str, ...] = get_args(Mode)
ENV_PREFIX = "CASEBOT_"
# Flags that are not `--` plus the field name with dashes.
_FLAGS = {"top_k": "-k"}
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")
# What a number means, for the message when a value is not one.
_UNITS = {"llm_timeout": "seconds", "answer_timeout": "seconds", "session_ttl": "seconds",
          "log_retention_days": "days"}


def default_data_dir() -> Path:
    """The platform's per-user data folder for casebot."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("casebot", appauthor=False))


def env_name(field: str) -> str:
    """The environment variable of a Settings field (CASEBOT_TOP_K for top_k, OPENAI_API_KEY for
    openai_api_key), as pydantic-settings looks it up."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return ENV_PREFIX + field.upper()


def _client_variable(name: str) -> Any:
    """A field whose variable keeps the name its client library reads (so one export serves
    both), still settable by its field name (a flag, a library caller)."""
    return AliasChoices(name, name.lower())


def flag_name(field: str) -> str:
    """The command-line flag of a Settings field (--llm-timeout for llm_timeout)."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


# The environment `Settings.from_env` was given, for settings_customise_sources while it builds
# (None: os.environ). A context variable: threads and tasks building settings at once each see
# their own.
_GIVEN_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("casebot_environment",
                                                                     default=None)


class GivenEnvironment(EnvSettingsSource):
    """pydantic-settings' own environment source (prefix, aliases, empty values) over a mapping
    the caller gives rather than os.environ: tests and library callers never pick up the
    variables of the process."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env_vars = parse_env_vars(environ, self.case_sensitive, self.env_ignore_empty,
                                       self.env_parse_none_str)


class Settings(BaseSettings):
    """Every setting of casebot; each has an environment variable (`env_name`) and most a flag."""

    # frozen: one object is built at start and shared by threads; extra="forbid": a misspelt
    # keyword is an error, not a silently ignored setting (unknown CASEBOT_* variables are not
    # read at all). str_strip_whitespace: a token or URL pasted with a trailing space still works.
    # env_ignore_empty: a variable exported empty means "the default".
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True,
                                      extra="forbid", str_strip_whitespace=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    chroma_url: str = ""
    llm: str = "extractive"
    llm_timeout: float = Field(default=30.0, gt=0)
    llm_fallback: str = "extractive"
    llm_context: LlmContext = Field(default="auto", title="LLM context")
    llm_context_tokens: int = Field(default=DEFAULT_LLM_CONTEXT_TOKENS, ge=MIN_LLM_CONTEXT_TOKENS)
    openai_base_url: str = Field(default="", validation_alias=_client_variable("OPENAI_BASE_URL"))
    openai_api_key: str = Field(default="", repr=False,
                                validation_alias=_client_variable("OPENAI_API_KEY"))
    # Comma-separated in its variable (NoDecode: not JSON, which pydantic-settings would expect).
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    rate_limit: str = "30/minute"
    # A ceiling per IP address on top of the per-client limit (a classroom shares one NAT address).
    rate_limit_ip: str = "600/minute"
    # Where rate-limit counters live: memory:// (per process) or redis://host:port (shared).
    rate_limit_storage: str = Field(default="memory://", repr=False)
    api_token: str = Field(default="", repr=False)
    # The case asked about when a request names none ("" = the bundled case, else the only case).
    default_case: str = ""
    # How many cases stay loaded in memory (least recently used ones are dropped).
    case_cache: int = Field(default=32, gt=0)
    # Seconds the JSON API waits for an answer before giving up with 504.
    answer_timeout: float = Field(default=120.0, gt=0)
    top_k: int = Field(default=5, gt=0)
    cases_dir: Path = BUNDLED_CASES
    # Seconds a web chat's history is kept after its last answer (Gradio session state).
    session_ttl: float = Field(default=3600.0, gt=0)
    # The records database (issue 12): SQLAlchemy URL, "" = SQLite file in data_dir.
    database_url: str = Field(default="", repr=False)
    log_questions: bool = True
    log_retention_days: float = Field(default=180.0, gt=0)
    # At least 16 characters: it alone opens every course's records (checked below).
    instructor_token: str = Field(default="", repr=False)
    # Signs sessions and tickets and keys pseudonyms (bot.secret.load_secret; "" = the data
    # folder's secret file). The one setting with no flag: a flag shows in `ps` to every user of
    # the machine, and a secret shared by replicas belongs in their environment.
    secret: str = Field(default="", repr=False)
    # Who may ask and read the case: anyone (`open`), or only LTI launches and API-token holders.
    access: Access = Field(default="open", title="access mode")
    mode: Mode = Field(default="answer", title="mode")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment: os.environ, or the mapping `from_env` was given. No
        .env file or secrets folder is read (a deployment sets variables; a file nobody named
        should not change a running server)."""
        given = _GIVEN_ENVIRONMENT.get()
        return init_settings, (env_settings if given is None else GivenEnvironment(settings_cls, given))

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        # A variable set to spaces (or a flag to "") means the default, like one exported empty.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("data_dir", "cases_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("instructor_token", mode="after")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < MIN_INSTRUCTOR_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_INSTRUCTOR_TOKEN_CHARS} characters long "
                             f"(it is {len(value)})")
        return value

    @field_validator("llm_context", "access", "mode", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        return parse_origins(value) if isinstance(value, str) else value

    @field_validator("log_questions", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        # Stricter than pydantic's bool (which also takes y/n/t/f): the documented words only.
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _ON or word in _OFF:
                return word in _ON
            raise ValueError("must be on or off")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the variables of `env`, then the non-None `overrides` (the CLI flags) on
        top; UsageError naming the variable or flag of a bad value. `env=None` reads os.environ:
        only entry points call it so."""
        flags = {field: value for field, value in overrides.items() if value is not None}
        origins = {field: env_name(field) for field in cls.model_fields}
        origins.update((field, flag_name(field)) for field in flags)
        return _validated(cls, flags, origins, env)

    def override(self, **flags: Any) -> Settings:
        """A copy with the non-None `flags` on top, checked like every other value; UsageError
        naming the flag of a bad value."""
        changes = {field: value for field, value in flags.items() if value is not None}
        # Validated again as a whole (model_copy would not check the new values), from these
        # values alone: the copy reads no environment, it differs from this object by the flags.
        values = {**{field: getattr(self, field) for field in type(self).model_fields}, **changes}
        return _validated(type(self), values, {field: flag_name(field) for field in changes}, {})


def _field_of(key: str) -> str:
    """The field a validated key names (a field name, or a variable name used as its alias);
    the key itself when it names none."""
    return next((field for field in Settings.model_fields if key in (field, env_name(field))), key)


def _validated(cls: type[Settings], values: dict[str, Any], origins: Mapping[str, str],
               env: Mapping[str, str] | None) -> Settings:
    """`cls(**values)` over the environment `env` (None: os.environ); UsageError for a bad value."""
    token = _GIVEN_ENVIRONMENT.set(env)
    try:
        return cls(**values)
    except ValidationError as error:
        raise UsageError(describe_error(error, origins)) from None
    finally:
        _GIVEN_ENVIRONMENT.reset(token)


def describe_error(error: ValidationError, origins: Mapping[str, str]) -> str:
    """One line for the first problem of `error`: the variable or flag (`origins` maps a field to
    where its value came from), what it may be, and the value given."""
    detail = error.errors(include_url=False)[0]
    key = str(detail["loc"][0]) if detail["loc"] else ""
    field = _field_of(key)
    name = origins.get(field, field)
    given, kind, context = detail.get("input"), detail["type"], detail.get("ctx") or {}
    if kind == "literal_error":
        info = Settings.model_fields[field]
        choices = ", ".join(get_args(info.annotation))
        return f"Unknown {info.title or field} {given!r} ({name}). Valid: {choices}."
    if kind == "extra_forbidden":
        return f"Unknown setting {field!r}."
    number = f"a number of {_UNITS[field]}" if field in _UNITS else "a number"
    rules = {
        "int_parsing": "a whole number", "int_from_float": "a whole number", "int_type": "a whole number",
        "float_parsing": number, "float_type": number,
        "greater_than": "positive" if context.get("gt") == 0 else f"above {context.get('gt')}",
        "greater_than_equal": f"at least {context.get('ge')}",
        "value_error": str(context.get("error", "")).removeprefix("must be "),
    }
    shown = f"{given:g}" if isinstance(given, float) else repr(given)  # a flag's -5.0 as typed: -5
    hidden = field in Settings.model_fields and not Settings.model_fields[field].repr
    if kind in rules and hidden:
        return f"{name} must be {rules[kind]}"  # a token or a secret is never echoed
    if kind in rules:
        return f"{name} must be {rules[kind]}, got {shown}"
    return f"{name} cannot be {shown}: {detail['msg']}"  # a kind of value no variable or flag gives


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
