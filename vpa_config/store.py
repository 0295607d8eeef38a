"""ConfigStore: the library's front door, and the only place a change happens.

>>> store = ConfigStore.open("/etc/vpa")                       # doctest: +SKIP
>>> store.get("assistant.yaml", "llm.temperature")             # doctest: +SKIP
0.7
>>> store.set("assistant.yaml", "llm.temperature", 0.4,        # doctest: +SKIP
...           actor="Ada <ada@example.org>", reason="calmer answers")

Every change (set, unset, import, remove, replace, adopting hand edits,
restore, undo) goes through :meth:`ConfigStore.transaction`; see
``transaction.py`` for the steps and the crash guarantees.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from vpa_config import audittrail, documents, fsutil, logs
from vpa_config.errors import (
    HandEditsError,
    InvalidConfigError,
    KeyPathSyntaxError,
    NothingToDoError,
    NotFoundError,
    ParseError,
    Problem,
    RefusedError,
    StoreNotFoundError,
    UnsafePathError,
    VpaConfigError,
)
from vpa_config.gitrepo import FileTree, GitRepo
from vpa_config.keypath import format_dotted, lookup, parse_key_path, resolve
from vpa_config.lock import StoreLock
from vpa_config.records import FrozenRecord, Record

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

    # Validation pulls in jsonschema and pydantic, and the change path its own
    # modules: imported where a change or a check needs them, so that reads
    # (get, log, audit) start without them.
    from vpa_config.history import CommitMessage
    from vpa_config.identity import Actor
    from vpa_config.transaction import ChangeResult, Transaction
    from vpa_config.verdict import CandidateCheck, FileVerdict

STORE_DIR = ".vpa-config/"
PluginValidator = Callable[["Transaction", "dict[str, Any]"], list[Problem]]
Listener = Callable[["ChangeResult"], None]


def default_store_path() -> Path:
    """``$VPA_CONFIG_STORE``, else ``$XDG_CONFIG_HOME/vpa-config``, else ``~/.config``."""
    explicit = os.environ.get("VPA_CONFIG_STORE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "vpa-config"


_SYMLINK = "is a symbolic link; the store keeps only regular files"
# import_file's ``expect`` when any content at HEAD will do.
ANY_CONTENT: Any = object()


class HandEdit(FrozenRecord):
    """A working file that differs from HEAD, and whether it would validate."""

    _fields = ("path", "state", "problems")
    __slots__ = _fields

    path: str
    state: str  # "modified", "added", "deleted" or "symlink" (never committed)
    problems: tuple[Problem, ...]

    def __init__(
        self, path: str, state: str, problems: tuple[Problem, ...] = ()
    ) -> None:
        init = object.__setattr__
        init(self, "path", path)
        init(self, "state", state)
        init(self, "problems", problems)

    @property
    def valid(self) -> bool:
        """Whether committing this edit would be accepted."""
        return not self.problems


class Status(FrozenRecord):
    """Where the store stands."""

    _fields = ("root", "revision", "hand_edits", "lock_holder")
    __slots__ = _fields

    root: Path
    revision: str | None
    hand_edits: tuple[HandEdit, ...]
    lock_holder: dict[str, Any] | None

    def __init__(
        self,
        root: Path,
        revision: str | None,
        hand_edits: tuple[HandEdit, ...],
        lock_holder: dict[str, Any] | None = None,
    ) -> None:
        init = object.__setattr__
        init(self, "root", root)
        init(self, "revision", revision)
        init(self, "hand_edits", hand_edits)
        init(self, "lock_holder", lock_holder)

    @property
    def clean(self) -> bool:
        """Whether the working files are exactly HEAD."""
        return not self.hand_edits


class LogEntry(FrozenRecord):
    """One revision as ``log`` shows it."""

    _fields = (
        "revision", "time", "tz", "author", "subject", "reason", "kind", "source",
        "files", "trailers", "tool",
    )
    __slots__ = _fields

    revision: str
    time: int
    tz: int
    author: str
    subject: str
    reason: str
    kind: str
    source: str
    files: tuple[str, ...]
    trailers: tuple[tuple[str, str], ...]
    tool: str

    def __init__(
        self,
        revision: str,
        time: int,
        tz: int,
        author: str,
        subject: str,
        reason: str,
        kind: str,
        source: str,
        files: tuple[str, ...],
        trailers: tuple[tuple[str, str], ...] = (),
        tool: str = "",
    ) -> None:
        init = object.__setattr__
        init(self, "revision", revision)
        init(self, "time", time)
        init(self, "tz", tz)
        init(self, "author", author)
        init(self, "subject", subject)
        init(self, "reason", reason)
        init(self, "kind", kind)
        init(self, "source", source)
        init(self, "files", files)
        init(self, "trailers", trailers)
        init(self, "tool", tool)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        from datetime import datetime, timezone

        when = datetime.fromtimestamp(self.time, tz=timezone.utc).isoformat()
        return {
            "revision": self.revision,
            "time": when.replace("+00:00", "Z"),
            "author": self.author,
            "tool": self.tool or None,
            "subject": self.subject,
            "reason": self.reason,
            "kind": self.kind,
            "source": self.source,
            "files": list(self.files),
            # [key, value] pairs, in order, as ``show --json`` has them: a
            # key can repeat (one ``Vpa-Schema`` per shipped schema).
            "trailers": [list(pair) for pair in self.trailers],
        }


# A file's state that the journal must work out for itself (see hand_edited).
_UNKNOWN_STATE: Any = object()


class ConfigStore(Record):
    """A folder of config files that is also a git repository."""

    _fields = (
        "root", "repo", "lock", "source", "validators", "listeners", "crash_points",
        "plugin_host", "_lock_timeouts",
    )
    _shown = _fields[:-2]

    def __init__(
        self,
        root: Path,
        repo: GitRepo,
        lock: StoreLock,
        source: str = "api",
        validators: list[PluginValidator] | None = None,
        listeners: list[Listener] | None = None,
        crash_points: frozenset[str] = frozenset(),
        plugin_host: Any = None,
        _lock_timeouts: dict[str, float] | None = None,
    ) -> None:
        self.root = root
        self.repo = repo
        self.lock = lock
        # A command makes one change and exits: its fsyncs after the change
        # are made before the lock goes, not on a thread (synctail.py).
        lock.background = source != "cli"
        self.source = source
        self.validators: list[PluginValidator] = (
            [] if validators is None else validators
        )
        self.listeners: list[Listener] = [] if listeners is None else listeners
        self.crash_points = crash_points
        self.plugin_host = plugin_host
        self._lock_timeouts: dict[str, float] = (
            {} if _lock_timeouts is None else _lock_timeouts
        )

    # --- opening ---------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        plugins: bool = True,
        **kwargs: Any,
    ) -> ConfigStore:
        """Open an existing store (default: :func:`default_store_path`).

        With ``plugins`` (the default) the plugins its settings enable are
        loaded on first use, each call inside the guard (``plugins.py``).
        """
        root = Path(path).expanduser() if path else default_store_path()
        if not (root / ".git").is_dir():
            raise StoreNotFoundError(
                f"no vpa-config store at {root}; create one with "
                f'"vpa-config --store {root} init"'
            )
        repo = GitRepo.open(root)
        if not kwargs.pop("_created", False) and not is_store(repo):
            repo.close()
            raise StoreNotFoundError(
                f"{root} is a git repository but not a vpa-config store (no "
                "audit trail, no .vpa-config/settings.yaml at HEAD); create a "
                "store in a new folder with \"vpa-config init\" and import the "
                "files with \"vpa-config import\""
            )
        from vpa_config import settings_cache

        settings_cache.use_dir(repo.controldir)
        store = cls(root=root.resolve(), repo=repo, lock=StoreLock(repo.controldir), **kwargs)
        store._crash_points_from_env()
        store._recover_if_needed()
        logs.set_live_revision(repo.head())
        audittrail.check_history(store)
        if plugins:
            _PluginHook(store).attach()
        _close_at_exit(store)
        return store

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        example: bool = False,
        actor: str | None = None,
        reason: str = "",
        source: str = "api",
    ) -> tuple[ConfigStore, ChangeResult]:
        """Create a store, and commit its settings (and the example) as revision 1."""
        root = Path(path).expanduser() if path else default_store_path()
        if (root / ".git").is_dir():
            existing = GitRepo.open(root)
            try:
                if is_store(existing):
                    raise RefusedError(
                        f"{root} is already a store; nothing was changed"
                    )
            finally:
                existing.close()
        if (root / ".git").exists():
            raise RefusedError(
                f"{root} is a git repository but not a vpa-config store; init "
                "needs an empty or new folder (import its files into the new "
                "store with \"vpa-config import\")"
            )
        if root.exists() and any(root.iterdir()):
            raise RefusedError(
                f"{root} is not empty; init needs an empty or new folder "
                "(import existing files afterwards with \"vpa-config import\")"
            )
        root.mkdir(parents=True, exist_ok=True)
        GitRepo.init(root).close()
        store = cls.open(root, source=source, _created=True)
        store._install_hooks()
        with store.transaction(
            subject="init store" + (" with the example configuration" if example else ""),
            kind="init", actor=actor, reason=reason,
        ) as tx:
            from vpa_config.layout import SETTINGS_FILE, default_settings_text

            tx.write(SETTINGS_FILE, default_settings_text(example).encode())
            if example:
                for name, content in example_files().items():
                    tx.write(name, content)
        assert tx.result is not None
        return store, tx.result

    def _install_hooks(self) -> None:
        import shlex
        import sys

        hook = _shipped_dir("hooks") / "pre-commit"
        if hook.is_file():
            script = hook.read_text().replace("@PYTHON@", shlex.quote(sys.executable))
            self.repo.install_hook("pre-commit", script.encode())

    def flush(self) -> None:
        """Wait for the work the last change left to background threads.

        A change returns once its journal is durable; in a library process
        its other files are then synced on a background thread, which holds
        the store lock until it ends (synctail.py). Call this before copying
        the store's files, say; :meth:`close` waits for it too.
        """
        self.lock.wait_for_tail()
        fsutil.settle()

    def close(self) -> None:
        """Stop the plugins and release the repository's files."""
        import sys

        at_exit = self.__dict__.pop("_at_exit", None)
        if at_exit is not None:
            at_exit.detach()
        if self.plugin_host is not None:
            self.plugin_host.close()
        facts = sys.modules.get("vpa_config.blobcache")
        if facts is not None:
            facts.close_dir(self.repo.controldir)
        index = sys.modules.get("vpa_config.keyindex")
        if index is not None:
            index.close_for(self.repo)  # its queued records are written
        self.flush()
        self.repo.close()
        fsutil.settle()  # the replaced files the changes left to close

    # --- the transaction -------------------------------------------------

    @contextmanager
    def transaction(
        self,
        *,
        subject: str,
        kind: str = "change",
        actor: str | Actor | None = None,
        reason: str = "",
        dry_run: bool = False,
        force: bool = False,
        tool: str = "",
    ) -> Iterator[Transaction]:
        """Build a change on top of HEAD; validated and committed on exit.

        The result is on ``tx.result`` afterwards. An exception inside the
        block abandons the change; a refused change raises
        :class:`InvalidConfigError` and writes nothing.
        """
        from vpa_config.transaction import (
            ChangeRequest,
            Transaction,
            finish,
            journal_done,
            recover,
        )

        from vpa_config.values import text_argument

        who = self._actor(actor)
        request = ChangeRequest(
            subject=subject, kind=kind, actor=who,
            reason=text_argument("reason", reason),
            source=self.source, dry_run=dry_run, force=force, tool=tool,
        )
        with logs.correlation_scope(), logs.bound(actor=str(who)):
            self.maybe_pause("before-lock")
            audittrail.acquire_recorded(self, request)
            committed = False
            tx: Transaction | None = None
            try:
                recover(self, self._on_recovered)
                with audittrail.ChangeRecorder(self, request) as audit:
                    head = audit.head  # read after the lock was taken
                    tx = audit.tx = Transaction(self, head, self.repo.files(head))
                    yield tx
                    tx.result = finish(self, tx, request)
                    committed = tx.result.committed
                if committed and tx.tail is None:  # a first commit: all synced
                    journal_done(self)
            finally:
                # The change's fsyncs end before the lock goes: in a library
                # process on a background thread, its journal durable meanwhile
                # (synctail.py).
                tail = tx.tail if tx is not None else None
                if tail is not None:
                    tail.committed = committed
                self.lock.release(after=tail and tail.run)
                flush_fact_cache(committed)
        if tx.result.committed:
            if self.repo.spares is not None:  # for the next change, meanwhile
                self.repo.spares.refill()
            for listener in list(self.listeners):
                listener(tx.result)

    @contextmanager
    def _holding_lock(
        self, subject: str, kind: str, who: Actor, dry_run: bool
    ) -> Iterator[None]:
        """The store lock, held while a change looks at what it acts on.

        A restore's revision name, undo's last change and the hand edits a
        commit takes are resolved with the lock held, and the transactions
        inside take it again (it is re-entrant): no other change can commit
        between the look and the change built on it.
        """
        from vpa_config.transaction import ChangeRequest, recover

        request = ChangeRequest(
            subject=subject, kind=kind, actor=who, source=self.source, dry_run=dry_run,
        )
        self.maybe_pause("before-lock")
        audittrail.acquire_recorded(self, request)
        try:
            # A change a killed process left half done is settled before the
            # working files are looked at (its transactions find nothing left).
            recover(self, self._on_recovered)
            self.lock.recovered_from = None
            yield
        finally:
            self.lock.release()

    def _actor(self, actor: str | Actor | None) -> Actor:
        from vpa_config.identity import Actor, resolve_actor

        if isinstance(actor, Actor):
            return actor
        return resolve_actor(actor, self.repo.controldir / "config")

    def lock_timeout(self) -> float | Callable[[], float]:
        """Seconds to wait for the lock: ``VPA_CONFIG_LOCK_TIMEOUT`` or settings.

        From the settings it is a function, which the lock calls only when
        the lock is busy: a free lock is taken without reading HEAD for them.
        A bad ``VPA_CONFIG_LOCK_TIMEOUT`` is refused here, busy or not.
        """
        env = os.environ.get("VPA_CONFIG_LOCK_TIMEOUT")
        if env:
            return _seconds_from_env("VPA_CONFIG_LOCK_TIMEOUT", env)
        return self._settings_lock_timeout

    def _settings_lock_timeout(self) -> float:
        from vpa_config.layout import SETTINGS_FILE

        # Settings are parsed once per settings blob, not on every change.
        entry = self.repo.files(self.repo.head()).get(SETTINGS_FILE)
        key = entry[1] if entry else ""
        if key not in self._lock_timeouts:
            self._lock_timeouts[key] = self._head_check().settings.lock_timeout_s
        return self._lock_timeouts[key]

    def _head_check(self) -> CandidateCheck:
        from vpa_config.verdict import CandidateCheck

        from vpa_config import blobcache

        head = self.repo.head()
        tree = self.repo.files(head)
        reader = self._tree_reader(tree)
        blob_of = _blob_lookup(tree)
        # The settings' parse from the cache of facts: no YAML parser to load.
        return CandidateCheck(
            reader, tree, reader, committed=True, blob_of=blob_of, old_blob_of=blob_of,
            cache=blobcache.for_dir(self.repo.controldir),
        )

    def validator_for(self, tx: Transaction) -> CandidateCheck:
        """The checker of a transaction's candidate tree."""
        from vpa_config import blobcache
        from vpa_config.verdict import CandidateCheck

        names = tx.candidate_files()
        return CandidateCheck(
            tx.read, names, self._tree_reader(tx.tree),
            blob_of=tx.blob_of, old_blob_of=_blob_lookup(tx.tree),
            cache=blobcache.for_dir(self.repo.controldir),
        )

    def run_plugin_validators(self, tx: Transaction, changed: dict[str, Any]) -> list[Problem]:
        """Problems that registered validators (plugins) find in the change."""
        problems: list[Problem] = []
        for validator in list(self.validators):
            problems += validator(tx, changed)
        return problems

    def _tree_reader(self, tree: FileTree) -> Callable[[str], bytes | None]:
        def read(name: str) -> bytes | None:
            entry = tree.get(name)
            return self.repo.blob(entry[1]) if entry else None

        return read

    def file_mode(self, name: str, committed: tuple[int, str] | None) -> int:
        """Permission bits a written file gets: the file's own, else 0644."""
        try:
            st = os.lstat(self.root / name)
            if stat.S_ISREG(st.st_mode):
                return stat.S_IMODE(st.st_mode)
        except OSError:
            pass
        if committed and committed[0] & 0o111:
            return 0o755
        return 0o644

    def holds_secrets(self, check: CandidateCheck, name: str) -> bool:
        """Whether candidate ``name`` has a key secret by its schema or settings.

        Such a file is written closed to others (see :func:`fsutil.secret_mode`).
        """
        try:
            return bool(check.candidate_secrets(name))
        except VpaConfigError:
            return False

    def snapshot_working_file(
        self, name: str, tree: FileTree | None = None
    ) -> list[Any] | None:
        """Store the working file's content as a blob; [blob id, mode] or None.

        A file that git's index shows unchanged since it held its blob in
        ``tree`` (the change's HEAD) is not read: that blob is its content.
        """
        if tree is not None:
            from vpa_config import worktree

            clean = worktree.unchanged(self.repo.controldir, self.root, tree, (name,))
            if name in clean:
                return [tree[name][1], clean[name]]
        path = self.root / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        content = path.read_bytes()
        blob_id = self.repo.blob_id(content)
        if not self.repo.has_object(blob_id):
            self.repo.write_blob(content)
        return [blob_id, stat.S_IMODE(st.st_mode)]

    def maybe_crash(self, point: str) -> None:
        """Test hook: die here when ``VPA_CONFIG_TEST_CRASH`` names the point."""
        if point in self.crash_points:
            os._exit(137)

    def maybe_pause(self, point: str) -> None:
        """Test hook: wait here when ``VPA_CONFIG_TEST_PAUSE`` is ``POINT=FILE``.

        The process creates FILE and goes on once FILE is removed (or after
        a minute), so that a test can act while it stands at POINT. It
        stops there once.
        """
        spec = os.environ.get("VPA_CONFIG_TEST_PAUSE")
        if not spec or spec.partition("=")[0] != point:
            return
        import time

        del os.environ["VPA_CONFIG_TEST_PAUSE"]
        gate = Path(spec.partition("=")[2])
        gate.touch()
        deadline = time.monotonic() + 60
        while gate.exists() and time.monotonic() < deadline:
            time.sleep(0.005)

    def _crash_points_from_env(self) -> None:
        points = os.environ.get("VPA_CONFIG_TEST_CRASH", "")
        if points:
            self.crash_points = frozenset(points.split(","))

    def _recover_if_needed(self) -> None:
        from vpa_config.layout import journal_left

        # A killed change leaves its journal, or at least the lock record of
        # its holder (then perhaps temporary files): either means recovery.
        if not journal_left(self.repo.controldir) and not self.lock.record_left():
            return
        # A live holder's journal and record are its change in progress
        # (reads come from HEAD, which moves once the change is durable): not
        # ours to touch.
        if self.lock.holder() is not None:
            return
        from vpa_config.transaction import recover

        self.lock.acquire(self.lock_timeout())
        try:
            recover(self, self._on_recovered)
        finally:
            self.lock.release()

    def _on_recovered(self, outcome: str, journal: dict[str, Any]) -> None:
        from vpa_config.recoveryrecord import record_recovery

        # Before the change's own record: the trail has one record per commit.
        record_recovery(self, outcome, journal)
        logs.emit(
            "store.recovered",
            level="warning",
            outcome=outcome,
            revision=journal.get("commit"),
            files=sorted(journal.get("files", {})),
            pid=journal.get("pid"),
        )

    # --- changes ---------------------------------------------------------

    def set(
        self,
        file: str,
        key: str | Sequence[str | int],
        value: Any,
        *,
        actor: str | Actor | None = None,
        reason: str = "",
        dry_run: bool = False,
    ) -> ChangeResult:
        """Set one key of one file to ``value`` (JSON's data: values.py).

        ``key`` is a dotted path, a JSON Pointer, or a list of its parts.
        """
        from vpa_config.values import key_parts, plain_value

        name = fsutil.clean_name(file)
        parts = key_parts(key)
        _refuse_control_characters(parts)
        value = plain_value(name, parts, value)  # first: a value may contain itself
        _refuse_huge_value(name, value)
        with self.transaction(
            subject=f"set {name} {_key_text(key, parts)}", kind="set", actor=actor,
            reason=reason, dry_run=dry_run,
        ) as tx:
            tx.set(name, parts, value)
        assert tx.result is not None
        return tx.result

    def unset(
        self,
        file: str,
        key: str | Sequence[str | int],
        *,
        actor: str | Actor | None = None,
        reason: str = "",
        dry_run: bool = False,
    ) -> ChangeResult:
        """Remove one key (or list item) from one file; ``key`` as for :meth:`set`."""
        from vpa_config.values import key_parts

        name = fsutil.clean_name(file)
        parts = key_parts(key)
        with self.transaction(
            subject=f"unset {name} {_key_text(key, parts)}", kind="unset", actor=actor,
            reason=reason, dry_run=dry_run,
        ) as tx:
            tx.unset(name, parts)
        assert tx.result is not None
        return tx.result

    def record_refused(
        self,
        name: str,
        error: VpaConfigError,
        *,
        kind: str,
        actor: str | Actor | None = None,
        reason: str = "",
    ) -> None:
        """Record a change refused before it reached a transaction, as a refused
        change is recorded: an audit record, and for invalid content a
        ``config.refused`` event.

        ``edit`` refuses text that does not validate while the user decides
        what to do with it (once they give it up, this records the refusal),
        and refuses before or after the editor runs for other reasons.
        """
        from vpa_config.transaction import ChangeRequest
        from vpa_config.values import text_argument

        who = self._actor(actor)
        request = ChangeRequest(
            subject=f"{kind} {fsutil.clean_name(name)}", kind=kind, actor=who,
            reason=text_argument("reason", reason), source=self.source,
        )
        problems = getattr(error, "problems", None)
        if problems:
            logs.emit(
                "config.refused", level="error", category="security",
                security_event="input_validation_fail", subject=request.subject,
                actor=str(who), problems=[problem.to_dict() for problem in problems],
            )
        record = audittrail.change_record(self, request, None, error)
        record["files"] = [fsutil.clean_name(name)]
        audittrail.append_quietly(self, record)

    def import_file(
        self,
        name: str,
        content: bytes,
        *,
        actor: str | Actor | None = None,
        reason: str = "",
        dry_run: bool = False,
        kind: str = "import",
        subject: str | None = None,
        copied_from: str | None = None,
        expect: bytes | None | object = ANY_CONTENT,
    ) -> ChangeResult:
        """Add or replace a whole file with ``content``.

        ``copied_from`` names the store file the content comes from (it
        stays): the commit records ``Vpa-Copied-From: OLD -> NEW`` and this
        file's history continues from that one's (``audit``, ``blame``).
        ``expect`` is what the file must hold at HEAD for the change to go
        ahead (None: it must not exist), so that an edit built on an older
        text never undoes a change committed meanwhile.

        Raises:
            ConflictError: the file no longer holds ``expect``.
        """
        name = fsutil.clean_name(name)
        with self.transaction(
            subject=subject or f"{kind} {name}", kind=kind, actor=actor,
            reason=reason, dry_run=dry_run,
        ) as tx:
            if expect is not ANY_CONTENT and tx.read(name) != expect:
                from vpa_config.errors import ConflictError

                raise ConflictError(
                    f"{name} was changed by another change since it was read (HEAD is "
                    f"now {(tx.head or '')[:12]}); nothing was written"
                )
            tx.write(name, content)
            if copied_from and fsutil.clean_name(copied_from) != name:
                tx.trailer("Copied-From", f"{fsutil.clean_name(copied_from)} -> {name}")
        assert tx.result is not None
        return tx.result

    def replace(self, file: str, content: bytes, **kwargs: Any) -> ChangeResult:
        """Replace an existing file with ``content``, as an ``edit`` change.

        Raises:
            NotFoundError: the store has no such file.
        """
        self.read_bytes(file)
        return self.import_file(file, content, kind="edit", **kwargs)

    def remove(
        self,
        file: str,
        *,
        actor: str | Actor | None = None,
        reason: str = "",
        dry_run: bool = False,
    ) -> ChangeResult:
        """Delete a file from the store."""
        name = fsutil.clean_name(file)
        with self.transaction(
            subject=f"rm {name}", kind="rm", actor=actor, reason=reason, dry_run=dry_run,
        ) as tx:
            self._require(tx, name)
            tx.remove(name)
        assert tx.result is not None
        return tx.result

    def adopt(
        self,
        files: Sequence[str] = (),
        *,
        actor: str | Actor | None = None,
        reason: str = "",
        dry_run: bool = False,
        tool: str = "",
        source_kind: str = "hand-edit",
    ) -> ChangeResult:
        """Validate and commit the edits made to the working files directly.

        With ``files``, only the edits of those files, each of which must
        have one: a file neither in the folder nor at HEAD is not found, one
        that is exactly HEAD's is NothingToDoError. Without, every edit or
        none: one invalid file refuses them all. The edits are read with the
        store lock held, so edits another change has just committed or discarded
        are not committed again.
        """
        who = self._actor(actor)
        with self._holding_lock("commit hand edits", source_kind, who, dry_run):
            edits = self._working_changes()
            if files:
                edits = self._edits_of(edits, [fsutil.clean_name(n) for n in files])
            return self._commit_edits(
                edits, actor=who, reason=reason, dry_run=dry_run, tool=tool,
                source_kind=source_kind,
            )

    def _edits_of(
        self, edits: dict[str, bytes | None], wanted: list[str]
    ) -> dict[str, bytes | None]:
        head_files = self.repo.files(self.repo.head())
        unknown = [
            name for name in wanted
            if name not in edits and name not in head_files
            and not (self.root / name).exists()
        ]
        if unknown:
            raise NotFoundError(f"{', '.join(unknown)}: no such file in the store")
        unedited = [name for name in wanted if name not in edits]
        if unedited:
            raise NothingToDoError(
                f"{', '.join(unedited)}: no hand edits to commit (the same as "
                "HEAD); nothing committed"
            )
        return {name: edits[name] for name in wanted}

    def _commit_edits(
        self,
        edits: dict[str, bytes | None],
        *,
        actor: Actor,
        reason: str,
        dry_run: bool = False,
        tool: str = "",
        source_kind: str = "hand-edit",
    ) -> ChangeResult:
        names = ", ".join(sorted(edits))
        subject = f"commit hand edits to {names}" if edits else "no hand edits"
        try:
            with self.transaction(
                subject=subject, kind=source_kind,
                actor=actor, reason=reason, dry_run=dry_run, tool=tool,
            ) as tx:
                for name, content in edits.items():
                    tx.may_overwrite.add(name)
                    if content is None:
                        tx.remove(name)
                    else:
                        tx.write(name, content)
        except InvalidConfigError as exc:
            exc.note = "Nothing was committed; the edited files are left as they are."
            raise
        assert tx.result is not None
        return tx.result

    def restore(
        self,
        rev: str,
        files: Sequence[str] = (),
        *,
        force: bool = False,
        hand_edits: str = "refuse",
        actor: str | Actor | None = None,
        reason: str = "",
        dry_run: bool = False,
        kind: str = "restore",
        subject: str | None = None,
    ) -> ChangeResult:
        """Bring files back as they were at ``rev``, as a new revision.

        ``hand_edits`` says what to do with uncommitted edits to the files
        being restored: ``refuse`` (the default), ``discard`` them, or
        ``commit`` them first as a revision of their own (only theirs: the
        hand edits of other files stay uncommitted). ``rev`` is resolved with
        the store lock held (``HEAD~2`` counts from the HEAD the restore is
        built on), before any hand edits are committed.
        """
        names = [fsutil.clean_name(name) for name in files]
        who = self._actor(actor)
        label = ", ".join(names) if names else "all files"
        held = subject or f"restore {label} from {rev}"
        with self._holding_lock(held, kind, who, dry_run):
            target = self.repo.resolve(rev)
            if hand_edits == "commit" and not dry_run:
                self._keep_edits(target, names, who)
            return self._restore_from(
                target, names, label, force=force, hand_edits=hand_edits, actor=who,
                reason=reason, dry_run=dry_run, kind=kind, subject=subject,
            )

    def _keep_edits(self, target: str, names: list[str], who: Actor) -> None:
        """Commit the hand edits of the files a restore of ``target`` covers."""
        covered = names or _restored_names(
            self.repo.files(target), self.repo.files(self.repo.head())
        )
        edits = self._working_changes()
        kept = {name: edits[name] for name in covered if name in edits}
        if kept:
            reason = f"kept before restoring {target[:12]}"
            self._commit_edits(kept, actor=who, reason=reason)

    def _restore_from(
        self, target: str, names: list[str], label: str, *, force: bool,
        hand_edits: str, actor: Actor, reason: str, dry_run: bool, kind: str,
        subject: str | None,
    ) -> ChangeResult:
        short = target[:12]
        with self.transaction(
            subject=subject or f"restore {label} from {short}", kind=kind,
            actor=actor, reason=reason, dry_run=dry_run, force=force,
        ) as tx:
            restored = self._restore_into(tx, target, names, hand_edits)
            tx.trailer("Restored-From", target)
        assert tx.result is not None
        if not tx.result.changed and not tx.result.discarded:
            raise NothingToDoError(
                f"{label} at {short} {'is' if len(restored) == 1 else 'are'} already "
                "as in the current revision; nothing to restore"
            )
        if force and tx.result.problems and tx.result.committed:
            logs.emit(
                "restore.forced", level="warning", category="security",
                revision=tx.result.revision, restored_from=target,
                problems=len(tx.result.problems),
            )
        return tx.result

    # TODO(#9): a restore of 50 files takes 1.2x to 2.5x the git CLI (which
    # fsyncs nothing), by the machine's load. Its blobs and tree are not hashed or written again (their
    # ids come from the old tree); what remains is mostly the disk (a new
    # temporary file per file, their fsyncs, the renames, the folders' fsyncs),
    # the key-level diff of every file and its rows in the history index (about
    # 200 pages of SQLite's log per restore, and its checkpoint every fifth).
    def _restore_into(
        self, tx: Transaction, target: str, names: list[str], hand_edits: str
    ) -> list[str]:
        old = self.repo.files(target)
        if names:
            missing = [n for n in names if n not in old and n not in tx.tree]
            if missing:
                raise NotFoundError(
                    f"{', '.join(missing)}: in neither revision {target[:12]} nor "
                    "HEAD; restore takes files the store has or had"
                )
        else:
            names = _restored_names(old, tx.tree)
        edited = self.hand_edited(tx.tree, names, tx.known_before)
        # Files that hold their blob at HEAD, with their permission bits.
        clean = {name: state[1] for name, state in tx.known_before.items()
                 if state is not None and name in tx.tree}
        if edited and hand_edits == "refuse":
            raise HandEditsError(
                f"{', '.join(sorted(edited))}: uncommitted hand edits would be "
                "overwritten; commit them first, or pass --discard-edits or "
                "--commit-edits. Nothing was written."
            )
        tx.may_overwrite.update(names)  # each was looked at just now
        if hand_edits == "discard":
            tx.put_back.update(edited)
        for name in names:
            if name not in old:
                tx.remove(name)
                continue
            mode, blob = old[name]
            if name in clean and tx.tree.get(name) == old[name]:
                continue  # the file holds that blob already, with its mode
            # A clean file's own bits, as file_mode would find them.
            bits = 0o755 if mode & 0o111 else clean.get(name)
            tx.write(name, self.repo.blob(blob), bits, stored_blob=blob)
        # Restoring every file of ``target`` makes its tree again.
        tx.known_tree = (self.repo.tree_of(target), old)
        return names

    def undo(
        self,
        *,
        actor: str | Actor | None = None,
        reason: str = "",
        dry_run: bool = False,
        hand_edits: str = "refuse",
    ) -> ChangeResult:
        """Restore what the last revision changed to how it was before it.

        The last revision is HEAD as found with the store lock held: a change
        committed meanwhile by another process is the one undone, by name.
        """
        who = self._actor(actor)
        with self._holding_lock("undo the last change", "undo", who, dry_run):
            head = self.repo.head()
            info = self.repo.commit(head) if head else None
            if info is None or not info.parents:
                raise NothingToDoError(
                    "there is no change before the first revision to undo"
                )
            from vpa_config.history import parse_message

            changed = self.repo.changed_paths(info.parents[0], head)
            subject = parse_message(info.message).subject
            if subject.startswith("undo "):
                subject = subject.split(" (", 1)[0]  # one level: undo of an undo
            return self.restore(
                info.parents[0], changed, actor=who, reason=reason, dry_run=dry_run,
                kind="undo", subject=f"undo {head[:12]} ({subject})",
                hand_edits=hand_edits,
            )

    def _require(self, tx: Transaction, name: str) -> bytes:
        content = tx.read(name)
        if content is None:
            raise NotFoundError(f"{name}: no such file in the store")
        return content

    # --- reading ---------------------------------------------------------

    def read_bytes(self, file: str, rev: str | None = None) -> bytes:
        """A file's committed content at ``rev`` (default HEAD)."""
        name = fsutil.clean_name(file)
        sha = self.repo.resolve(rev) if rev else self.repo.head()
        tree = self.repo.files(sha)
        if name not in tree:
            at = f" at {rev}" if rev else ""
            raise NotFoundError(f"{name}: no such file in the store{at}")
        return self.repo.blob(tree[name][1])

    def get(self, file: str, key: str | None = None, rev: str | None = None) -> Any:
        """A file's parsed document, or the value at ``key``."""
        raw = self.read_bytes(file, rev)
        name = fsutil.clean_name(file)
        data = documents.parse(name, raw)
        if key is None:
            return data
        path = resolve(data, parse_key_path(key), name)
        try:
            return lookup(data, path)
        except KeyError as exc:
            raise NotFoundError(f"{name}: key {exc.args[0]} not found") from None

    def check(self, file: str, content: bytes) -> list[Problem]:
        """Problems ``content`` would have as ``file``, judged with HEAD's settings."""
        name = fsutil.clean_name(file)
        head = self.repo.head()
        tree = self.repo.files(head)
        base = self._tree_reader(tree)

        def read(candidate: str) -> bytes | None:
            return content if candidate == name else base(candidate)

        from vpa_config.verdict import CandidateCheck

        return CandidateCheck(read, set(tree) | {name}, base).validate_file(name)

    def validate(
        self,
        files: Sequence[str] = (),
        *,
        staged: bool = False,
        index_path: Path | None = None,
    ) -> list[FileVerdict]:
        """Verdicts of the working files (all, or ``files``), or of git's index."""
        from vpa_config import verdict

        if staged:
            return verdict.staged_verdicts(self, index_path)
        return verdict.working_verdicts(self, files)

    def status(self) -> Status:
        """The revision, the hand edits and whether each would validate."""
        head = self.repo.head()
        links: list[str] = []
        edits = self._working_changes(links)
        found = [
            HandEdit(name, "symlink",
                     (Problem(name, (), _SYMLINK, "file", source="store"),))
            for name in links
        ]
        if not edits:  # nothing to judge, so no validation is loaded
            return Status(self.root, head, tuple(found), self.lock.holder())
        tree = self.repo.files(head)
        base = self._tree_reader(tree)

        def read(name: str) -> bytes | None:
            return edits[name] if name in edits else base(name)

        names = (set(tree) | set(edits)) - {n for n, c in edits.items() if c is None}
        from vpa_config.verdict import CandidateCheck

        check = CandidateCheck(read, names, base)
        for name, content in sorted(edits.items()):
            state = "deleted" if content is None else "modified" if name in tree else "added"
            problems = () if content is None else tuple(check.validate_file(name))
            found.append(HandEdit(name, state, problems))
        found.sort(key=lambda edit: edit.path)
        return Status(self.root, head, tuple(found), self.lock.holder())

    def hand_edited(
        self,
        tree: FileTree,
        names: Sequence[str],
        before: dict[str, list[Any] | None] | None = None,
    ) -> set[str]:
        """Which of ``names`` differ on disk from the committed tree.

        Files that git's index vouches for by their stat are not read
        (``worktree.py``, with git's racy-clean rule); every other one is.
        ``before`` receives what a change's journal records of each file
        found unedited (``Transaction.known_before``): [blob id, permission
        bits] of a regular file holding its blob in ``tree``, None for one
        that is neither on disk nor in ``tree``.
        """
        from vpa_config import worktree

        clean = worktree.unchanged(self.repo.controldir, self.root, tree, names)
        edited = set()
        for name in names:
            committed = tree.get(name)
            if name in clean:
                state: tuple[bool, Any] = (False, [committed[1], clean[name]])
            else:
                state = self._state_on_disk(name, committed)
            if state[0]:
                edited.add(name)
            elif before is not None and state[1] is not _UNKNOWN_STATE:
                before[name] = state[1]
        return edited

    def refuse_hand_edits(self, names: Sequence[str]) -> None:
        """Raise :class:`HandEditsError` if any of ``names`` has uncommitted hand
        edits, with the message a change over them is refused with."""
        from vpa_config.transaction import Transaction, _refuse_over_hand_edits

        head = self.repo.head()
        tx = Transaction(self, head, self.repo.files(head))
        _refuse_over_hand_edits(self, tx, dict.fromkeys(map(fsutil.clean_name, names)))

    def _state_on_disk(
        self, name: str, committed: tuple[int, str] | None
    ) -> tuple[bool, Any]:
        """(whether the file differs from ``committed``'s blob, its journal
        state when it does not: [blob, permission bits], None when absent in
        both; _UNKNOWN_STATE for what is no regular file)."""
        path = self.root / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return committed is not None, None
        if stat.S_ISLNK(st.st_mode):
            content = b"\0symlink"
        elif stat.S_ISREG(st.st_mode):
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                return committed is not None, _UNKNOWN_STATE
        else:  # a folder, a pipe: never a config file's content
            return True, _UNKNOWN_STATE
        if committed is None or committed[1] != self.repo.blob_id(content):
            return True, _UNKNOWN_STATE
        if not stat.S_ISREG(st.st_mode):
            return False, _UNKNOWN_STATE
        return False, [committed[1], stat.S_IMODE(st.st_mode)]

    def _working_changes(
        self, links: list[str] | None = None
    ) -> dict[str, bytes | None]:
        """Working files that differ from HEAD: content, or None if deleted.

        A symbolic link is refused, unless ``links`` collects the names of
        such files instead (``status`` reports them).
        """
        from vpa_config import worktree

        tree = self.repo.files(self.repo.head())
        on_disk = set(fsutil.working_files(self.root))
        clean = worktree.unchanged(self.repo.controldir, self.root, tree, on_disk)
        changes: dict[str, bytes | None] = {}
        for name in sorted(on_disk | set(tree)):
            if name not in on_disk:
                changes[name] = None
                continue
            if name in clean:
                continue
            path = self.root / name
            if path.is_symlink():
                if links is None:
                    raise UnsafePathError(f"{name}: {_SYMLINK}")
                links.append(name)
                continue
            content = path.read_bytes()
            if name not in tree or tree[name][1] != self.repo.blob_id(content):
                changes[name] = content
        return changes

    def log(
        self,
        file: str | None = None,
        *,
        limit: int | None = None,
        author: str | None = None,
        since: int | None = None,
        until: int | None = None,
        kind: str | None = None,
        key: str | None = None,
    ) -> list[LogEntry]:
        """Revisions newest first, filtered by file, key, author, time and kind.

        ``key`` is ``FILE:KEY``: only revisions that changed that key. Filters
        are answered from the key-change index (:mod:`vpa_config.keyindex`);
        a short unfiltered log on a store whose index is far behind walks the
        newest revisions instead of building the index first.
        """
        from vpa_config.keyindex import index_for

        name = fsutil.clean_name(file) if file else None
        index = index_for(self.repo)
        if name is None and key is None and limit is not None:
            if not index.sync(max_new=50):
                return self._walk_log(limit, author, since, until, kind)
        index.sync()
        seqs = None
        if key is not None:
            seqs = self._key_seqs(index, key)
        revisions = list(index.newest(
            file=name, kind=kind, author=author, since=since, until=until,
            seqs=seqs, limit=limit,
        ))
        if not revisions and name is not None:
            if not any(index.newest(file=name, limit=1)):  # never held at all
                raise NotFoundError(f"{name}: no such file in the store's history")
        files = index.files_of(rev.seq for rev in revisions)
        return [
            LogEntry(
                revision=rev.sha, time=rev.time, tz=rev.tz, author=rev.author,
                subject=rev.subject, reason=rev.reason, kind=rev.kind,
                source=rev.source,
                files=tuple(row.file for row in files.get(rev.seq, [])),
                trailers=rev.trailers, tool=rev.tool,
            )
            for rev in revisions
        ]

    def _key_seqs(self, index: Any, spec: str) -> list[int]:
        from vpa_config.audit import audit

        file, sep, key = spec.partition(":")
        if not sep or not file or not key:
            raise KeyPathSyntaxError(
                f"--key {spec!r}: expected FILE:KEY, e.g. assistant.yaml:llm.model"
            )
        seqs = []
        for entry in audit(self, file, key):
            seq = index.seq_of(entry.who.revision)
            if seq is not None:
                seqs.append(seq)
        return seqs

    def _walk_log(
        self,
        limit: int,
        author: str | None,
        since: int | None,
        until: int | None,
        kind: str | None,
    ) -> list[LogEntry]:
        from vpa_config.history import parse_message

        entries: list[LogEntry] = []
        for info in self.repo.walk():
            if until is not None and info.author_time > until:
                continue
            if since is not None and info.author_time < since:
                break
            if author and author.lower() not in info.author.lower():
                continue
            message = parse_message(info.message)
            files = self.repo.changed_paths(
                info.parents[0] if info.parents else None, info.sha
            )
            entry = _log_entry(info, message, files)
            if kind and entry.kind != kind:
                continue
            entries.append(entry)
            if len(entries) >= limit:
                break
        return entries

    # --- history: diff, show, audit, blame, time travel (see audit.py) ---

    def diff(self, old: str | None = None, new: str | None = None,
             file: str | None = None) -> Any:
        """Key-level diff of two revisions, or of the working files against ``old``."""
        from vpa_config import audit

        return audit.diff(self, old, new, file)

    def show(self, rev: str) -> Any:
        """One revision: author, tool, time, reason, trailers and key changes."""
        from vpa_config import audit

        return audit.show(self, rev)

    def audit(self, file: str, key: str) -> list[Any]:
        """Every revision that changed ``key`` of ``file``, newest first."""
        from vpa_config import audit

        return audit.audit(self, file, key)

    def blame(self, file: str) -> list[Any]:
        """The revision that last changed each key of ``file``."""
        from vpa_config import audit

        return audit.blame(self, file)

    def value_at(self, file: str, key: str | None, moment: int) -> Any:
        """The value of ``key`` at a moment (seconds since the epoch), and its revision."""
        from vpa_config import audit

        return audit.value_at(self, file, key, moment)


def _refuse_control_characters(parts: Sequence[str]) -> None:
    """A key set may not hold control characters: terminals would show it as
    another key (an escape sequence hides itself), and no one could type it.
    Such a key already in a file can still be read and unset."""
    import re

    for part in parts:
        if re.search(r"[\x00-\x1f\x7f]", str(part)):
            from vpa_config.errors import KeyPathSyntaxError

            raise KeyPathSyntaxError(
                f"key {str(part)!r} has control characters; expected printable text"
            )


def _seconds_from_env(variable: str, text: str) -> float:
    """A number of seconds, 0 or more, from an environment variable."""
    import math

    from vpa_config.errors import UsageError

    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise UsageError(
            f"{variable}={text!r}: expected a number of seconds, 0 or more"
        )
    return seconds


class _PluginHook:
    """The store's plugin hooks, loading the plugin host only when it has work.

    A store whose settings never mention plugins (at HEAD, or in the change
    being judged) needs no host: its validate hook finds no problems and its
    commit hook tells no one, so neither ``plugins.py`` nor the settings model
    is imported. Otherwise each call goes to the real
    :class:`vpa_config.plugins.PluginHost`, built once.
    """

    def __init__(self, store: ConfigStore) -> None:
        self.store = store
        self.host: Any = None

    def attach(self) -> None:
        """Put the hooks on the store (what :func:`plugins.attach` does)."""
        self.store.validators.append(self.validate)
        self.store.listeners.append(self.on_commit)
        self.store.plugin_host = self

    def validate(self, tx: Transaction, changed: dict[str, Any]) -> list[Problem]:
        """Problems plugins find in the change; none when no plugin is configured."""
        from vpa_config.layout import SETTINGS_FILE

        candidate = tx.read(SETTINGS_FILE) if SETTINGS_FILE in changed else None
        # HEAD's settings are those of the transaction's base: no ref is read.
        host = self._host(candidate, self._settings_of(tx.tree))
        return host.validate(tx, changed) if host is not None else []

    def on_commit(self, result: ChangeResult) -> None:
        """Tell the plugins of a commit, if any is configured."""
        tree = self.store.repo.files(result.revision) if result.revision else None
        host = self._host(None, self._settings_of(tree) if tree is not None else None)
        if host is not None:
            host.on_commit(result)

    def close(self) -> None:
        """Stop the plugins, if the host was ever built."""
        if self.host is not None:
            self.host.close()

    def _host(self, candidate: bytes | None, head: bytes | None = None) -> Any:
        if self.host is None and (
            _mentions_plugins(candidate)
            or _mentions_plugins(head if head is not None else self._head_settings())
        ):
            from vpa_config.plugins import PluginHost

            self.host = PluginHost(self.store)
        return self.host

    def _head_settings(self) -> bytes | None:
        repo = self.store.repo
        return self._settings_of(repo.files(repo.head()))

    def _settings_of(self, tree: FileTree) -> bytes | None:
        from vpa_config.layout import SETTINGS_FILE

        entry = tree.get(SETTINGS_FILE)
        return self.store.repo.blob(entry[1]) if entry else None


def _close_at_exit(store: ConfigStore) -> None:
    """Close ``store`` when the interpreter exits, if its user never does.

    Left to the shutdown, dulwich's open pack files are closed by their own
    ``__del__`` after the import system is gone, which prints "sys.meta_path
    is None" noise on stderr. A store collected while the program runs has its
    repository released.
    """
    import weakref

    store._at_exit = weakref.finalize(  # type: ignore[attr-defined]
        store, _release, weakref.ref(store), store.repo
    )


def _release(ref: Any, repo: GitRepo) -> None:
    store = ref()
    try:
        if store is not None:
            store.close()
        else:
            repo.close()
    except Exception:  # noqa: BLE001 (at exit there is no one to tell)
        pass


# "plugins" as a key anywhere (top level, flow style, quoted, even in a comment):
# deliberately loose, since a false match only costs the host's import and a
# missed one would skip a plugin. A rule for "plugins.yaml" does not match.
_PLUGINS_KEY = rb"""plugins["']?\s*:"""


def _mentions_plugins(settings: bytes | None) -> bool:
    # re.search keeps the compiled pattern: a read, which never asks, compiles nothing.
    return settings is not None and re.search(_PLUGINS_KEY, settings) is not None


def flush_fact_cache(committed: bool) -> None:
    """Write the facts a change worked out (blobcache.py), if it used the cache.

    A change that was not committed (refused, failed, a dry run) writes none:
    its candidate's values, secrets among them, stay off the disk.
    """
    import sys

    cache = sys.modules.get("vpa_config.blobcache")
    if cache is not None:
        cache.flush_all(keep=committed)


def _restored_names(old: FileTree, head: FileTree) -> list[str]:
    """The files a restore without FILES covers: every config file of either tree."""
    return sorted(n for n in set(old) | set(head) if not n.startswith(STORE_DIR))


def is_store(repo: GitRepo) -> bool:
    """Whether a repository is a vpa-config store, not just any git repository.

    Every store has an audit trail from its first transaction (``init``); one
    whose trail was deleted is still known by its settings at HEAD.
    """
    if (repo.controldir / audittrail.AUDIT_FILE).exists():
        return True
    from vpa_config.layout import SETTINGS_FILE

    head = repo.head()
    return head is not None and SETTINGS_FILE in repo.files(head)


def _blob_lookup(tree: FileTree) -> Callable[[str], str | None]:
    def blob_of(name: str) -> str | None:
        entry = tree.get(name)
        return entry[1] if entry else None

    return blob_of


def _key_text(key: object, parts: tuple[Any, ...]) -> str:
    """A key path as the caller wrote it, or dotted when given as parts."""
    return key if isinstance(key, str) else format_dotted(parts)


def _refuse_huge_value(name: str, value: Any) -> None:
    """Refuse a value whose text alone passes the file size limit, before
    a YAML dumper spends seconds on it."""
    size, stack = 0, [value]
    while stack and size <= documents.MAX_BYTES:
        node = stack.pop()
        if isinstance(node, str):
            size += len(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            size += sum(len(str(key)) for key in node)
        elif isinstance(node, list):
            stack.extend(node)
    if size > documents.MAX_BYTES:
        raise ParseError(
            name, f"the value is over {documents.MAX_BYTES} bytes, the file size limit"
        )


def _log_entry(info: Any, message: CommitMessage, files: list[str]) -> LogEntry:
    return LogEntry(
        revision=info.sha,
        time=info.author_time,
        tz=info.author_tz,
        author=info.author,
        subject=message.subject,
        reason=message.reason,
        kind=message.trailer("Kind", "git"),
        source=message.trailer("Source", "git"),
        files=tuple(files),
        trailers=message.trailers,
        tool=message.trailer("Tool"),
    )


def _shipped_dir(name: str) -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    return here / name


def example_files() -> dict[str, bytes]:
    """The VPA assistant's example configuration that ``init --example`` seeds."""
    folder = _shipped_dir("schemas") / "examples"
    return {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }
