"""The full-size sd-turbo parts on `meta`, built once for the whole contract suite."""

from tests.contract.engine_run import models

__all__ = ["models"]
