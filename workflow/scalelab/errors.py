"""The one exception a user should ever see: a one-line message naming what to fix."""


class ScalelabError(Exception):
    """Bad input or configuration. The CLI prints `scalelab: <message>` and exits with status 2."""
