"""What `shopquery --help` says beyond the options: the version, every SHOPQUERY_* setting (listed from the Settings
model, so the list cannot drift from it) and the exit codes."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED_CHECK, EXIT_USAGE, EXIT_RUNTIME, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = ("exit codes: 0 ok; 1 a check failed (nothing loaded, a regression found); 2 usage (bad option, "
              "input or setting); 3 runtime error (a store, database or model that cannot be used); 130 interrupted")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help with every option's default, and the epilog as written."""


def version() -> str:
    """The installed shopquery version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("shopquery")
    except PackageNotFoundError:
        return "0.1.0"


def settings_epilog() -> str:
    """Every SHOPQUERY_* setting with its default and meaning, from the Settings model itself."""
    from pydantic import SecretStr

    from assistant.settings import ENV_PREFIX, Settings

    lines = [f"settings (environment variables, or a TOML/YAML/JSON file named by {ENV_PREFIX}CONFIG):"]
    for name, field in Settings.model_fields.items():
        if field.default_factory is list:
            default = "none"
        elif field.default_factory is not None:
            default = "computed"
        elif isinstance(field.default, SecretStr):
            default = "secret"
        else:
            default = "-" if field.default is None else str(field.default)
        meaning = field.description or name.replace("_", " ")
        lines.append(f"  {ENV_PREFIX}{name.upper()}  [{default}]  {meaning}")
    return "\n".join([*lines, "", EXIT_CODES])
