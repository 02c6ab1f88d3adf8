"""docs/client.md's curl examples are exactly what `curl_examples` makes of each example's OpenAPI
document, so they never drift from the routes, methods and auth the service really has.

Regenerate after an intended change with:

    MULTICLOUD_UPDATE_GOLDEN=1 pytest tests/functional/test_docs_curl.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from multicloud.openapi import curl_examples, openapi_document
from multicloud.project import Project

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "client.md"
EXAMPLES = ("hybrid-clinic", "orders")
UPDATE = os.environ.get("MULTICLOUD_UPDATE_GOLDEN") == "1"


def block(example: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- curl examples/{re.escape(example)}: [^\n]*-->\n```bash\n)(.*?)(```\n<!-- end curl -->)",
                      re.S)


@pytest.mark.parametrize("example", EXAMPLES)
def test_curl_examples_in_the_docs_are_generated_from_the_openapi_document(example: str) -> None:
    project = Project.load(ROOT / "examples" / example)
    expected = curl_examples(openapi_document(project, project.default_targets()))
    text = DOC.read_text()
    found = block(example).search(text)
    assert found is not None, f"docs/client.md has no curl block for examples/{example}"
    if UPDATE:
        DOC.write_text(text[:found.start(2)] + expected + text[found.end(2):])
        return
    assert found.group(2) == expected, "docs/client.md's curl examples drifted: MULTICLOUD_UPDATE_GOLDEN=1"
