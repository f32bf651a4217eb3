"""The documentation a clone carries stays true to the code: links resolve inside the repository,
every setting is in the README, every socket error string and close code is in the protocol
document, and the Procfile names the production processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from madeinpk.auctions.bidding import refusals
from madeinpk.auctions.live import rooms, socket
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
    source = (SOURCE / "auctions" / "live" / "socket.py").read_text()
    messages = set(re.findall(r'(?:message|detail)="([^"]+)"', source))
    messages |= set(re.findall(r'(?:return|else|\() *"([A-Z][^"]+)"', source))  # other replies
    messages |= set(re.findall(r'^[A-Z_]+ = "([A-Z][^"]+)"', source, re.MULTILINE))
    messages |= {m.split("{")[0].strip() for m in refusals.MESSAGES.values()}
    messages = {m for m in messages if "%" not in m}  # log lines are not replies
    assert len(messages) >= 14
    for message in messages:
        assert f"`{message}" in protocol, message
    for reason in refusals.Reason:
        assert f"`{reason.value}`" in protocol, reason
    for code in (
        websocket.INVALID_TOKEN_CODE,
        socket.NOT_FOUND_CODE,
        websocket.MESSAGE_TOO_BIG,
        socket.INVALID_SINCE_SEQ_CODE,
        websocket.TOO_MANY_SOCKETS_CODE,
        rooms.TRY_AGAIN_LATER,
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


# Files a docstring, comment or document may cite: in the repository, found from the repository
# root, the citing file's folder, src/ or src/madeinpk/ (how the docs name modules), or docs/ (a
# bare document name). The benchmarks alone may cite the workspace's shared tooling
# (``../shared/bench/...``, beside the repository), which they run; src/, tests/ and the documents
# cite only what a clone carries.
CITED = re.compile(
    r"(?<![\w/.:-])((?:\.\./)?(?:[\w.-]+/)+[\w.-]+\.(?:md|py|sh|sql|json|toml|html|js|css)"
    r"|[\w-]+\.md|[\w]+\.py)(?![\w/])"
)
SCANNED = [
    *sorted((ROOT / "src").rglob("*.py")),
    *sorted((ROOT / "tests").rglob("*.py")),
    *sorted((ROOT / "bench").rglob("*.py")),
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "bench").glob("*.md")),
    ROOT / "README.md",
    ROOT / "piccolo_conf.py",
]
_BASENAMES = {p.name for d in ("src", "tests", "bench") for p in (ROOT / d).rglob("*.py")} | {
    p.name for p in ROOT.glob("*.py")
}


def _cited_file_exists(citing: Path, cited: str) -> bool:
    if cited.startswith("../shared/"):
        if citing.relative_to(ROOT).parts[0] != "bench":
            return False
        shared = ROOT.parent / "shared"
        return not shared.exists() or (ROOT.parent / cited[3:]).exists()
    if "/" not in cited and cited.endswith(".py"):
        return cited in _BASENAMES  # a module named by its file: some module has that name
    bases = (ROOT, citing.parent, ROOT / "src", ROOT / "src" / "madeinpk", ROOT / "docs")
    return any((base / cited).exists() for base in bases)


@pytest.mark.parametrize("citing", SCANNED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_file_exists(citing: Path) -> None:
    if citing.name == "test_docs.py":
        return  # its own examples
    missing = sorted(
        {c for c in CITED.findall(citing.read_text()) if not _cited_file_exists(citing, c)}
    )
    assert not missing, f"{citing.relative_to(ROOT)} cites files that are not there: {missing}"
