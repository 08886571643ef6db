"""The one exception hierarchy of kgreason; the service maps it to HTTP errors in one place."""

from __future__ import annotations


class KgrError(Exception):
    """Root of every error kgreason raises on purpose."""

    code = "error"


class InputError(KgrError):
    """The caller gave something invalid (a parameter, a request field)."""

    code = "invalid_input"


class DataFormatError(InputError):
    """A data file has a bad row; names the file, the line and the field."""

    code = "bad_data"

    def __init__(self, file: str, line: int, reason: str, field: str | None = None) -> None:
        self.file, self.line, self.field, self.reason = file, line, field, reason
        where = f"{file}:{line}" + (f" field {field}" if field else "")
        super().__init__(f"{where}: {reason}")


class NotFoundError(KgrError):
    code = "not_found"


class StoreError(KgrError):
    code = "store_error"


class StoreUnavailableError(StoreError):
    """The graph store cannot be reached (e.g. Neo4j is down)."""

    code = "store_unavailable"


class ConfigError(KgrError):
    code = "config_error"


class ConstraintError(KgrError):
    """A token or path violates the KG constraint."""

    code = "constraint_violation"


class CapacityError(KgrError):
    """The service is at capacity; retry later."""

    code = "over_capacity"


class AuthError(KgrError):
    code = "unauthorized"


class ForbiddenError(KgrError):
    code = "forbidden"


class ModelError(KgrError):
    """A model (student or teacher) could not be loaded or failed."""

    code = "model_error"
