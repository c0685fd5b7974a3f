"""Command bodies: what each ``gait`` command does, as library calls (between the libraries and the CLI).

A command body reads and writes the files its command names (policy, intent,
token and trace files, the rate-limit state file, project defaults), resolves
keys, calls the pure libraries (:mod:`gait_runtime.gate`,
:mod:`gait_runtime.artifacts`) and returns an outcome record with the
``--json`` payload. It never prints and never chooses an exit code: text
screens and exit codes live only in :mod:`gait_runtime.cli`. The gate core
never imports this package (``tests/test_layers.py``).

Modules: ``gate`` (``gate eval``, ``policy test``, ``approve``, ``trace
verify``), ``gate_inputs`` (intent/token/trace loaders, ``policy
test|validate`` payloads), ``gate_config`` (``.gait/config.yaml`` defaults),
``ratelimit`` (rate-limit and destructive-budget state file and its lock),
``policy_fmt`` (``policy fmt``), ``bench`` (``bench gate``).
"""

from __future__ import annotations

from .bench import run_gate_bench as run_gate_bench
from .gate import ApproveOptions as ApproveOptions
from .gate import GateEvalOptions as GateEvalOptions
from .gate import GateEvalOutcome as GateEvalOutcome
from .gate import PolicyTestOutcome as PolicyTestOutcome
from .gate import run_approve as run_approve
from .gate import run_gate_eval as run_gate_eval
from .gate import run_policy_test as run_policy_test
from .gate import run_trace_verify as run_trace_verify
from .policy_fmt import format_file as format_file
from .policy_fmt import format_policy_text as format_policy_text
from .ratelimit import consume as consume

__all__ = [
    "ApproveOptions",
    "GateEvalOptions",
    "GateEvalOutcome",
    "PolicyTestOutcome",
    "consume",
    "format_file",
    "format_policy_text",
    "run_approve",
    "run_gate_bench",
    "run_gate_eval",
    "run_policy_test",
    "run_trace_verify",
]
