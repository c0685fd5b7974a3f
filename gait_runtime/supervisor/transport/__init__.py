"""Tool-call payload adapters: framework payloads → IntentRequest documents.

``adapters.py`` decodes the payload shapes of ``spec/service.md`` §6 for the
decision path (:mod:`gait_runtime.supervisor.service.decisions`). The HTTP
app, the server and auth live in :mod:`gait_runtime.supervisor.service`.
The package imports nothing on purpose.
"""

from __future__ import annotations

__all__: list[str] = []
