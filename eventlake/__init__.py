"""eventlake: an analytics pipeline in one package.

Stages, in data-flow order: ``collect`` / ``generate`` / ``sources`` -> ``bus`` -> ``land``
-> lake -> ``warehouse`` + ``models`` -> ``serve``; ``pipeline`` sequences them.
See docs/architecture.md.
"""

from eventlake.errors import EventlakeError

__all__ = ["EventlakeError", "__version__"]

__version__ = "0.1.0"
