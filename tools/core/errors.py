"""Exceptions: one root and a few meaningful subclasses. Every message is meant for the user."""


class ShopqueryError(Exception):
    """Root of every error shopquery raises on purpose."""


class ConfigError(ShopqueryError):
    """A setting is missing or invalid; the message names the variable to set."""


class InputError(ShopqueryError):
    """A query or request the assistant cannot accept (empty, too long, not text)."""


class CatalogError(ShopqueryError):
    """The catalog file or store cannot be read or written."""


class ModelUnavailable(ShopqueryError):
    """The generative model (or its weights) cannot be loaded or reached."""


class ModelOutputError(ShopqueryError):
    """The model answered, but not with what was asked for, after bounded retries."""

    def __init__(self, message: str, attempts: list[str] | None = None):
        super().__init__(message)
        self.attempts = attempts or []
