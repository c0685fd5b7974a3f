"""First-party payload adapters for gait-runtime, one module per payload shape.

Each module exposes ``ADAPTER`` (a :class:`gait_runtime.plugin.PayloadAdapter`) and is
registered under the ``gait_runtime.plugins`` entry-point group:

* ``mcp`` — the native tool-call object: ``name``, ``args``, ``targets[]`` or a single
  ``target`` string, ``arg_provenance[]``, ``context{}``, ``delegation``, ``created_at``.
* ``openai`` — a function-call object ``{"function": {"name", "arguments"}}`` whose
  ``arguments`` is a JSON-encoded string or an object.
* ``anthropic`` — a tool-use block ``{"type": "tool_use", "name", "input"}``.
* ``langchain`` — a tool invocation ``{"tool", "tool_input"}`` (object or JSON string).
* ``claude_code`` — a coding-assistant hook payload ``{"tool_name"|"name",
  "tool_input"|"input", "session_id", "hook_event_name"}``; its tool names are mapped
  onto ``tool.read|write|exec|delegate`` and targets are inferred.

The adapters are pure: the output is a plain ``dict``; the core applies the profile
context rules and :func:`gait_runtime.gate.normalize_intent` owns normalisation.
"""

from __future__ import annotations

__all__: list[str] = []
