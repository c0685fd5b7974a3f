"""The JUnit XML report of a regress run, in the Go implementation's exact shape.

Owns: one ``testsuites`` root with one ``testsuite`` named
``gait.regress.<fixture_set>``, one ``testcase`` per grader result in result
order (``classname`` = fixture, ``name`` = grader), a ``failure`` per failing
grader (``message`` = body = comma-joined reason codes), every ``time`` the
literal ``0``; two-space indentation, the XML declaration line, explicit
close tags for empty elements and a trailing newline. Built and serialised with
:mod:`xml.etree.ElementTree`; pure (the runner writes the bytes).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Final

from .graders import GraderResult

__all__ = ["junit_document"]

_HEADER: Final = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _counts(element: ET.Element, tests: int, failures: int) -> None:
    for key, value in (
        ("tests", tests),
        ("failures", failures),
        ("errors", 0),
        ("skipped", 0),
        ("time", 0),
    ):
        element.set(key, str(value))


def junit_document(fixture_set: str, results: Sequence[GraderResult]) -> bytes:
    """The JUnit XML bytes for ``results`` (already named ``<fixture>/<grader>``)."""
    failures = sum(1 for r in results if r.failed)
    root = ET.Element("testsuites")
    _counts(root, len(results), failures)
    suite = ET.SubElement(root, "testsuite")
    suite.set("name", f"gait.regress.{fixture_set}" if fixture_set else "gait.regress")
    _counts(suite, len(results), failures)
    for result in results:
        fixture, _, grader = result.name.partition("/")
        case = ET.SubElement(suite, "testcase")
        case.set("name", grader or fixture)
        case.set("classname", fixture if grader else "")
        case.set("time", "0")
        if result.failed:
            message = ",".join(sorted(result.reason_codes)) or "failed"
            failure = ET.SubElement(case, "failure")
            failure.set("message", message)
            failure.set("type", "regress_failure")
            failure.text = message
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=False)
    return (_HEADER + body + "\n").encode("utf-8")
