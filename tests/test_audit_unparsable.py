"""A revision whose text does not parse: no key reads as removed and added back."""

from __future__ import annotations

import sqlite3

from conftest import ACTOR, git

from vpa_config import keyindex
from vpa_config.keyindex import INDEX_FILE, MISSING
from vpa_config.store import ConfigStore

GIT_ID = ("-c", "user.name=Gus", "-c", "user.email=gus@example.org")
BROKEN = "plugins: [\n"


def _commit_with_git(store: ConfigStore, text: str, message: str) -> str:
    (store.root / "plugins.yaml").write_text(text)
    git(store.root, *GIT_ID, "commit", "-q", "--no-verify", "-am", message)
    return git(store.root, "rev-parse", "HEAD").strip()


def _changes(store: ConfigStore, key: str) -> list[tuple[str, str, object, object]]:
    return [
        (entry.who.subject, entry.change, entry.old, entry.new)
        for entry in store.audit("plugins.yaml", key)
    ]


def _rebuilt(store: ConfigStore) -> ConfigStore:
    store.close()
    keyindex.close_all()
    for suffix in ("", "-wal", "-shm"):
        (store.repo.controldir / (INDEX_FILE + suffix)).unlink(missing_ok=True)
    return ConfigStore.open(store.root)


def test_a_broken_then_mended_text_is_one_unparsable_entry(store: ConfigStore) -> None:
    good = (store.root / "plugins.yaml").read_text()
    store.audit("plugins.yaml", "plugins.0.name")  # the index exists before
    _commit_with_git(store, good + BROKEN, "broken")
    _commit_with_git(store, good, "mended")

    for current in (store, _rebuilt(store)):
        assert _changes(current, "plugins.0.name") == [
            ("broken", "unparsable", "weather", MISSING),
            ("init store with the example configuration", "added", MISSING, "weather"),
        ]
        blamed = {line.key: line.who.subject for line in current.blame("plugins.yaml")}
        assert blamed["plugins.0.name"] == "init store with the example configuration"
    current.close()


def test_a_text_mended_through_vpa_config_is_compared_with_the_last_readable(
    store: ConfigStore,
) -> None:
    good = (store.root / "plugins.yaml").read_text()
    store.audit("plugins.yaml", "plugins.0.name")
    _commit_with_git(store, good + BROKEN, "broken once")
    _commit_with_git(store, good + BROKEN + "]\n", "broken twice")
    store.replace("plugins.yaml", good.replace("weather", "forecast").encode(),
                  actor=ACTOR, reason="mend")

    for current in (store, _rebuilt(store)):
        # Only the first broken revision loses the value; the mend changes it.
        assert _changes(current, "plugins.0.name")[:2] == [
            ("edit plugins.yaml", "changed", "weather", "forecast"),
            ("broken once", "unparsable", "weather", MISSING),
        ]
        assert _changes(current, "plugins.0.enabled")[0][1] == "unparsable"
    current.close()


def test_an_index_of_the_earlier_format_is_built_again(store: ConfigStore) -> None:
    good = (store.root / "plugins.yaml").read_text()
    _commit_with_git(store, good + BROKEN, "broken")
    store.audit("plugins.yaml", "plugins.0.name")
    store.close()
    keyindex.close_all()
    path = store.repo.controldir / INDEX_FILE
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '1' WHERE name = 'format'")
        db.execute("DELETE FROM keys")  # what format 1 would answer is gone
    db.close()

    reopened = ConfigStore.open(store.root)

    assert _changes(reopened, "plugins.0.name")[0][:2] == ("broken", "unparsable")
    reopened.close()
