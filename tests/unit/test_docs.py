"""The documentation a clone carries stays true to the code: links resolve inside the repository,
every setting is in the README, every socket error string and close code is in the protocol
document, and the Procfile names the production processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from madeinpk.auctions import live, rules, socket
from madeinpk.http import websocket

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "madeinpk"


def read(relative: str) -> str:
    return (ROOT / relative).read_text()


@pytest.mark.parametrize(
    "document", ["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
)
def test_links_stay_inside_the_repository(document: str) -> None:
    text = read(document)
    assert "../shared" not in text
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / document).parent.joinpath(target).exists(), f"{document}: {target}"


def test_readme_links_the_docs() -> None:
    readme = read("README.md")
    for document in ("docs/rest-api.md", "docs/websocket.md", "docs/auction-rules.md"):
        assert f"]({document})" in readme


def test_every_setting_is_in_the_readme_table() -> None:
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', (SOURCE / "settings.py").read_text()))
    assert {"LOGIN_FAILURES_PER_ACCOUNT", "MAX_IMAGE_PIXELS", "DATABASE_URL"} <= names
    table = {
        row.split("|")[1].strip() for row in read("README.md").splitlines() if row.startswith("| `")
    }
    documented = {name for cell in table for name in re.findall(r"`([A-Z_]+)`", cell)}
    assert names - documented == set()


def test_every_socket_error_and_close_code_is_documented() -> None:
    protocol = read("docs/websocket.md")
    source = (SOURCE / "auctions" / "socket.py").read_text()
    messages = set(re.findall(r'(?:message|detail)="([^"]+)"', source))
    messages |= set(re.findall(r'(?:return|else|\() *"([A-Z][^"]+)"', source))  # other replies
    messages |= set(re.findall(r'^[A-Z_]+ = "([A-Z][^"]+)"', source, re.MULTILINE))
    messages |= {m.split("{")[0].strip() for m in rules.MESSAGES.values()}
    messages = {m for m in messages if "%" not in m}  # log lines are not replies
    assert len(messages) >= 14
    for message in messages:
        assert f"`{message}" in protocol, message
    for reason in rules.Reason:
        assert f"`{reason.value}`" in protocol, reason
    for code in (
        websocket.INVALID_TOKEN_CODE,
        socket.NOT_FOUND_CODE,
        websocket.MESSAGE_TOO_BIG,
        socket.INVALID_SINCE_SEQ_CODE,
        websocket.TOO_MANY_SOCKETS_CODE,
        live.TRY_AGAIN_LATER,
        1012,  # service restart: an app process stopping
    ):
        assert f"| {code} |" in protocol, code


def test_procfile_names_the_production_processes() -> None:
    processes = dict(line.split(":", 1) for line in read("Procfile").splitlines() if line.strip())
    assert {k: v.strip() for k, v in processes.items()} == {
        "release": "madeinpk migrate",
        "web": "madeinpk serve",
        "worker": "taskiq worker madeinpk.tasks:broker",
        "scheduler": "taskiq scheduler madeinpk.scheduling:scheduler --update-interval 1",
    }


def test_the_asyncapi_document_is_linked() -> None:
    for document in ("README.md", "docs/websocket.md", "docs/rest-api.md"):
        assert "/schema/asyncapi.json" in read(document), document


def test_nothing_served_is_still_called_being_built() -> None:
    rules = read("docs/auction-rules.md")
    assert "being built" not in rules
    for section in ("Minimum increments", "Proxy bidding", "Soft close", "Reserve price"):
        assert re.search(rf"^## \d+\. {section}$", rules, re.MULTILINE), section
