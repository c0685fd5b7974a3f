"""The decision server's edges: HTTP (ASGI app under hypercorn), auth and payload adapters.

The package imports nothing on purpose (the decision path imports the adapters,
and the HTTP app imports the decision path). Modules: ``http.py`` (routes and
framing), ``server.py`` (hypercorn inside the supervisor's task group),
``auth.py`` (bearer tokens) and ``adapters.py`` (tool-call payloads →
IntentRequest).
"""

from __future__ import annotations

__all__: list[str] = []
