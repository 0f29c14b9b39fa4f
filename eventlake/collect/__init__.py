"""The collect stage: a Segment-compatible HTTP collector that makes events durable on the bus.

``create_app(settings)`` builds the ASGI app (``collect/app.py``); a request goes through
``collect/body.py`` (limits, gzip), ``collect/handler.py`` (JSON, write key, envelope,
tracking plan via ``eventlake.spec.prepare_events``) and ``collect/committer.py`` (group
commit to the bus, back-pressure). ``eventlake collect`` serves it with uvicorn.
"""

from eventlake.collect.app import ClientAddress, app_from_environment, create_app
from eventlake.collect.auth import WriteKeys
from eventlake.collect.committer import GroupCommitter, OverloadedError
from eventlake.collect.handler import RequestHandler, RequestMeta

__all__ = [
    "ClientAddress",
    "GroupCommitter",
    "OverloadedError",
    "RequestHandler",
    "RequestMeta",
    "WriteKeys",
    "app_from_environment",
    "create_app",
]
