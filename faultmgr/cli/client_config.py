"""Where the command line finds a running daemon's HTTP API: ``--api``, the environment, a client config file.

The commands that talk to a daemon (``status``, ``alerts``, ``ack``, ``silence``, plugin commands such as
``pool``) use the HTTP API when an API address is configured, and the local control socket otherwise.

Precedence, first found wins:

- address: ``--api URL``, then ``$FAULTMGR_API_URL``, then ``url:`` of the client config file;
- token: ``$FAULTMGR_API_TOKEN``, then the file named by ``$FAULTMGR_API_TOKEN_FILE``, then ``token:`` or
  ``token_file:`` of the client config file;
- client config file: ``$FAULTMGR_CLIENT_CONFIG``, else ``~/.config/faultmgr/client.yaml``, else
  ``/etc/faultmgr/client.yaml`` (the first that exists).

``--api local`` (or ``FAULTMGR_API_URL=local``) forces the control socket even when a file names an API.
A client config file or token file that holds a token must be private (mode 0600 or 0640).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faultmgr.config.types import check_private_file

URL_ENV, TOKEN_ENV, TOKEN_FILE_ENV = "FAULTMGR_API_URL", "FAULTMGR_API_TOKEN", "FAULTMGR_API_TOKEN_FILE"
CLIENT_CONFIG_ENV = "FAULTMGR_CLIENT_CONFIG"
CLIENT_CONFIG_PATHS = (Path("~/.config/faultmgr/client.yaml"), Path("/etc/faultmgr/client.yaml"))
#: The ``--api`` value that means "the local control socket, whatever the environment or files say".
LOCAL = "local"


class ClientConfigError(Exception):
    """The client configuration is unusable (unreadable file, unknown key, token file readable by others)."""


class ClientConfig(BaseModel):
    """The client config file (``client.yaml``): how the command line reaches a daemon's HTTP API."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="base URL of the daemon's API, e.g. https://head-a:9467")
    token: str | None = Field(None, description="bearer token (the file must then be mode 0600)")
    token_file: Path | None = Field(None, description="file whose first line is the bearer token (mode 0600)")
    cafile: Path | None = Field(None, description="CA bundle to verify an https API's certificate with")
    timeout: float = Field(10.0, gt=0, description="seconds a connection and an answer may take (commands that "
                                                   "wait, such as pool drain, allow more)")


@dataclass(frozen=True)
class ApiTarget:
    """A daemon's HTTP API as configured for the command line; ``origin`` says where the URL came from."""

    url: str
    token: str | None
    cafile: Path | None
    timeout: float
    origin: str


def client_config_path() -> Path | None:
    """The client config file in use: ``$FAULTMGR_CLIENT_CONFIG`` (which must exist), else the first
    default that exists, else ``None``."""
    named = os.environ.get(CLIENT_CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ClientConfigError(f"client config file {path} (from ${CLIENT_CONFIG_ENV}) does not exist")
        return path
    for candidate in CLIENT_CONFIG_PATHS:
        path = candidate.expanduser()
        if path.is_file():
            return path
    return None


def read_client_config(path: Path) -> ClientConfig:
    """Read and validate a client config file; :class:`ClientConfigError` names the file and the problem."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ClientConfigError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise ClientConfigError(f"{path}: expected a mapping such as `url: https://head-a:9467`")
    try:
        config = ClientConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: "
                             f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
                             for e in exc.errors(include_url=False))
        raise ClientConfigError(f"{path}: {problems}") from None
    if config.token is not None:
        _private(path, "client config file (it holds a token)")
    return config


def _private(path: Path, what: str) -> None:
    try:
        check_private_file(path, what)
    except ValueError as exc:
        raise ClientConfigError(str(exc)) from None


def _token_from_file(path: Path) -> str:
    _private(path, "API token file")
    lines = path.read_text(encoding="utf-8").splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise ClientConfigError(f"API token file {path} is empty")
    return token


def api_target(api: str | None) -> ApiTarget | None:
    """The API to use, or ``None`` for the local control socket (see the module's docstring)."""
    env_url = os.environ.get(URL_ENV) or None
    if api == LOCAL or (api is None and env_url == LOCAL):
        return None
    path = client_config_path()
    config = read_client_config(path) if path is not None else ClientConfig.model_validate({})
    if api:
        url, origin = api, "--api"
    elif env_url:
        url, origin = env_url, f"${URL_ENV}"
    elif config.url:
        url, origin = config.url, str(path)
    else:
        return None
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and os.environ.get(TOKEN_FILE_ENV):
        token = _token_from_file(Path(os.environ[TOKEN_FILE_ENV]).expanduser())
    if token is None:
        token = config.token or (_token_from_file(config.token_file.expanduser()) if config.token_file else None)
    return ApiTarget(url.rstrip("/"), token, config.cafile, config.timeout, origin)
