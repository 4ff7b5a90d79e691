"""The sandbox's lasting state: what learners build survives `sandbox.down`, a `kill -9` and a reboot.

Design (why this shape):

- Unit of storage: one file per account and *unit*, `<state>/accounts/<account>/<unit>.state`.
  A unit is one moto service, except EC2, Auto Scaling, ELB, ELBv2 and CloudWatch, which are
  one unit ("compute") because their objects point at each other (a group holds EC2
  instances, a target group the group). References to backends of other units are written
  as names (see `codec`), so a unit is stored alone. A whole-state dump per write would cost
  ~0.2 s per account (measured); a unit costs what its service holds.
- What changed: every moto backend lookup during a request is recorded (a hook on
  AccountSpecificBackend.__getitem__), so a request marks dirty exactly the (account, unit)s
  it reached, cross-service effects included (an SNS publish reaching SQS). A read (GET/HEAD,
  or an action named Describe*, List*, Get*, Head*, Scan, Query, BatchGet*, Lookup*) marks only
  backends it created (an account's first EC2 call makes its default VPC, whose id must last).
- When: a writer thread dumps dirty units, coalesced over COALESCE seconds, each atomically
  (temporary file, fsync, rename, fsync of the folder). Requests that write hold their
  account's lock, and so does a dump, so a file is never a half-applied request. Durability
  bound (mode "async", the default): an answered change is on disk within COALESCE plus the
  time to dump the batch, which is the account's touched units only (an EC2 unit of a solved
  lab 4 is ~0.25 MB before compression). bench/sandbox_state.py reports the slowest it saw:
  1.8 s on a 2-core machine at load 20, where a lab's calls ran as fast as without the store
  (1.05x); `sandbox.down` waits for the writer. Mode "sync" makes a writing request wait for
  its units to be on disk before it answers (0.55x there), for who wants no window at all.
  A `kill -9` loses at most what was answered in that window, never a file: a rename is
  atomic, and restore reads only whole, checksummed files.
- Files: a JSON header line (format, project and moto versions, account, unit, size, CRC32)
  and a zlib-compressed payload. A file of another version, or damaged, is refused in one
  line naming it; nothing is changed, and `--fresh` sets the whole state aside
  (`state.refused-<time>/`) and starts empty.
- Restore runs on every start before serving: load every file, then fill each backend object
  in place, so the links between them are the ones that were saved. S3's bucket-name
  registry is rebuilt from the buckets. The public AMIs and AWS managed policies every account
  names are written as references (see `shared`), so bench/sandbox_state.py restores 102 solved
  lab 4 accounts (120 kB each on disk) in 9.7 s, 4.8 s of it an empty start (31.8 s and 163 kB
  with copies per account, in the same run on a loaded 2-core machine). Object bytes travel inside the S3 keys' pickles.
- The sandbox's own extensions live in the same store: lab4_apis keeps its notification
  configurations and warm-ups on moto's objects (saved with them); the app registry is the
  extension file `<state>/sandbox/apps.state`.
- One sandbox per state folder: a lock file refuses a second.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import shutil
import sys
import threading
import time
import zlib
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from moto import __version__ as moto_version
from moto.backends import get_backend
from moto.core.base_backend import AccountSpecificBackend, BackendDict

from bootcamp import __version__ as project_version
from bootcamp.sandbox import codec

FORMAT = 1
COALESCE = 0.05  # seconds a dirty unit waits for more changes before it is written
UNIT_OF = dict.fromkeys(("ec2", "autoscaling", "elb", "elbv2", "cloudwatch"), "compute")
READ_ACTION = re.compile(r"(Describe|List|Get|Head|Scan|Query|BatchGet|Lookup)[A-Z]?")
FORM_ACTION = re.compile(rb"(?:^|&)Action=([A-Za-z0-9]+)")
ACCOUNT = re.compile(r"^\d{12}$")


class StateRefused(Exception):
    """A state file this sandbox will not read; the message is one line naming the file."""


def unit_of(service: str) -> str:
    return UNIT_OF.get(service, service)


def services_of(unit: str) -> list[str]:
    return [s for s, u in UNIT_OF.items() if u == unit] or [unit]


# --- which requests write ---------------------------------------------------------------------

def action_of(environ) -> str:
    """The API action a request names (X-Amz-Target, or Action= in the query or form body), or ''."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    query = re.search(r"(?:^|&)Action=([A-Za-z0-9]+)", environ.get("QUERY_STRING", ""))
    if query:
        return query.group(1)
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        found = FORM_ACTION.search(body)
        return found.group(1).decode() if found else ""
    return ""


def is_read(environ) -> bool:
    """Whether a request only reads: GET/HEAD, or an action whose name says it reads."""
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS") and "Action=" not in environ.get("QUERY_STRING", ""):
        return True
    action = action_of(environ)
    return bool(action) and READ_ACTION.match(action) is not None


# --- what a request reached -------------------------------------------------------------------

_reached = threading.local()


def track_backend_lookups() -> None:
    """Record, per thread, every (service, account) whose backend is looked up, and whether it was made."""
    lookup = AccountSpecificBackend.__getitem__
    if getattr(lookup, "tracks", False):
        return

    def __getitem__(self, region_name):
        seen = getattr(_reached, "seen", None)
        if seen is not None:
            made = region_name not in self.keys() and (region_name != "global" or "aws" not in self.keys())
            seen[(self.service_name, self.account_id)] = seen.get((self.service_name, self.account_id), False) or made
        return lookup(self, region_name)

    __getitem__.tracks = True
    AccountSpecificBackend.__getitem__ = __getitem__


@contextmanager
def reaching():
    """{(service, account): made} for the backends looked up inside the block, in this thread."""
    _reached.seen = {}
    try:
        yield _reached.seen
    finally:
        _reached.seen = None


# --- files ------------------------------------------------------------------------------------

def encode(meta: dict, payload: bytes) -> bytes:
    packed = zlib.compress(payload, 1)
    head = {"format": FORMAT, "project": project_version, "moto": moto_version, **meta,
            "bytes": len(packed), "crc32": zlib.crc32(packed)}
    return json.dumps(head, sort_keys=True).encode() + b"\n" + packed


def decode(data: bytes, where: str) -> list[tuple[dict, bytes]]:
    """The records in a state file or archive: [(header, payload)]; StateRefused when any is not ours."""
    records, at = [], 0
    while at < len(data):
        end = data.find(b"\n", at)
        try:
            head = json.loads(data[at:end]) if end > 0 else None
        except ValueError:
            head = None
        if not isinstance(head, dict) or "format" not in head:
            raise StateRefused(f"{where}: not a sandbox state file (damaged?)")
        if (head.get("format"), head.get("project"), head.get("moto")) != (FORMAT, project_version, moto_version):
            raise StateRefused(f"{where}: written by project {head.get('project')} with moto {head.get('moto')} "
                               f"(format {head.get('format')}); this sandbox is project {project_version} "
                               f"with moto {moto_version} (format {FORMAT})")
        packed = data[end + 1:end + 1 + int(head.get("bytes", -1))]
        if len(packed) != head.get("bytes") or zlib.crc32(packed) != head.get("crc32"):
            raise StateRefused(f"{where}: damaged (its checksum does not match)")
        records.append((head, zlib.decompress(packed)))
        at = end + 1 + len(packed)
    return records


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.state")) if folder.exists() else 0


# --- moto's memory ----------------------------------------------------------------------------

def live_units(account: str) -> dict[str, dict[str, dict]]:
    """{unit: {service: {region: backend}}} of one account as moto holds it now."""
    units: dict[str, dict[str, dict]] = {}
    for services in list(BackendDict._instances):
        regions = dict.get(services, account)
        if regions:
            units.setdefault(unit_of(services.service_name), {})[services.service_name] = dict(regions.items())
    return units


def live_accounts() -> set[str]:
    return {a for services in list(BackendDict._instances) for a in list(services.keys())}


def forget_account(account: str) -> list[str]:
    """Drop one account from moto's memory; the services it had, by name."""
    dropped = []
    for services in list(BackendDict._instances):
        regions = dict.get(services, account)
        if regions is None:
            continue
        if services.service_name == "s3":
            for backend in list(regions.values()):
                for name in list(backend.buckets):
                    services.bucket_accounts.pop(name, None)
                backend.reset()  # closes the objects' temporary files
        dict.pop(services, account)
        dropped.append(services.service_name)
    return sorted(dropped)


def install(records: list[tuple[dict, bytes]]) -> None:
    """Put the saved backends of these records into moto, each backend filled in place."""
    accounts = {head["account"] for head, _ in records if head.get("kind") == "unit"}
    shells: dict[tuple[str, str, str], object] = {}

    def backend_named(service, account, region):
        if account not in accounts:
            return get_backend(service)[account][region]
        key = (service, account, region)
        if key not in shells:
            cls = get_backend(service).backend
            shells[key] = cls.__new__(cls)
        return shells[key]

    filled = set()
    for head, payload in records:
        if head.get("kind") != "unit":
            continue
        for service, regions in codec.load(payload, backend_named).items():
            for region, (cls, attrs) in regions.items():
                shell = backend_named(service, head["account"], region)
                shell.__dict__.update(attrs)
                filled.add((service, head["account"], region))
    owners = get_backend("s3").bucket_accounts
    for (service, account, region), shell in shells.items():
        taken = [n for n in getattr(shell, "buckets", {}) if service == "s3" and owners.get(n, ("", account))[1]
                 not in accounts]
        if taken:  # S3 bucket names are one namespace across accounts, as on AWS
            raise StateRefused(f"bucket {taken[0]} belongs to account {owners[taken[0]][1]}; delete it there first")
    for account in accounts:
        forget_account(account)
    for (service, account, region), shell in shells.items():
        if (service, account, region) not in filled:  # named by another, never saved: made anew
            type(shell).__init__(shell, region, account_id=account)
        services = get_backend(service)
        dict.__setitem__(services[account], region, shell)
        if service == "s3":
            for name in shell.buckets:
                services.bucket_accounts[name] = (shell.partition, account)


# --- the store --------------------------------------------------------------------------------

class Store:
    """The state folder, the writer thread and the extension states (see the module's docstring)."""

    def __init__(self, folder: Path | None, durability: str = "async"):
        self.folder = folder
        self.durability = durability if folder else "off"
        self.dirty: set[tuple[str, str]] = set()  # (account, unit), or ("sandbox", extension)
        self.cond = threading.Condition()
        self.marked = self.written = 0  # generations: a flush waits until written reaches marked
        self.locks: dict[str, threading.RLock] = {}
        self.extensions: dict[str, tuple] = {}  # name -> (get, put) of a list of {"account", ...}
        self.failures: dict[tuple[str, str], str] = {}
        self.writes = 0
        self.since: float | None = None  # when the oldest change not yet on disk was marked
        self.lag_max = 0.0  # seconds from a change's mark to its unit on disk, at most, so far
        self.lock_file = None
        self.thread: threading.Thread | None = None

    # - start -

    def open(self, fresh: bool = False) -> str:
        """Lock the folder and restore it; a line saying what was restored (StateRefused if refused)."""
        if self.folder is None:
            return "state: in memory only (lost when the sandbox stops)"
        track_backend_lookups()
        note = ""
        if fresh and self.folder.exists() and any(self.folder.iterdir()):
            aside = self.folder.with_name(f"state.refused-{datetime.now(UTC):%Y%m%d-%H%M%S}")
            self.folder.rename(aside)
            note = f"; the previous state was set aside in {aside}"
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self.lock_file = open(self.folder / "lock", "a")
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateRefused(f"{self.folder}: in use by another sandbox (one sandbox per state folder)") from None
        records = []
        for path in sorted(self.folder.rglob("*.state")):
            records += decode(path.read_bytes(), str(path))
        accounts = {h["account"] for h, _ in records if h.get("kind") == "unit"}
        if accounts:  # a class's state takes a while: the log says why the sandbox does not answer yet
            print(f"sandbox: restoring {len(accounts)} account(s) from {self.folder}", flush=True)
        try:
            install(records)
        except StateRefused:
            raise
        except Exception as exc:  # a class moto no longer has, a truncated pickle, ...
            raise StateRefused(f"{self.folder}: cannot be read back ({type(exc).__name__}: {exc})") from None
        self._put_extensions(records, replace=True)
        self.thread = threading.Thread(target=self._writer, name="sandbox-state", daemon=True)
        self.thread.start()
        return f"state: {self.folder} ({len(accounts)} accounts restored, {self.durability}){note}"

    # - requests -

    def account_lock(self, account: str) -> threading.RLock:
        with self.cond:
            return self.locks.setdefault(account, threading.RLock())

    def serve(self, app, environ, start_response, account: str):
        """Answer one AWS request through moto and mark dirty what it changed."""
        if self.folder is None:
            return app(environ, start_response)
        if environ.get("PATH_INFO") == "/moto-api/reset":  # moto empties its memory: the files go too
            answer = app(environ, start_response)
            self.reset()
            return answer
        writes = not is_read(environ)
        with self.account_lock(account) if writes else nullcontext(), reaching() as seen:
            answer = app(environ, start_response)
        changed = {(a, unit_of(s)) for (s, a), made in seen.items() if writes or made}
        if changed:
            generation = self.mark(changed)
            if self.durability == "sync":
                self.wait(generation)
        return answer

    def mark(self, changed: set[tuple[str, str]]) -> int:
        with self.cond:
            if self.since is None:
                self.since = time.monotonic()
            self.dirty |= changed
            self.marked += 1
            self.cond.notify_all()
            return self.marked

    def wait(self, generation: int | None = None, timeout: float = 30.0) -> bool:
        """Block until every change marked so far (or up to `generation`) is on disk."""
        if self.folder is None:
            return True
        deadline = time.monotonic() + timeout
        with self.cond:
            goal = self.marked if generation is None else generation
            while self.written < goal:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    # - the writer -

    def _writer(self) -> None:
        while True:
            with self.cond:
                while not self.dirty:
                    self.cond.wait()
            time.sleep(COALESCE)
            with self.cond:
                batch, self.dirty, generation = self.dirty, set(), self.marked
                since, self.since = self.since, None
            for account, unit in sorted(batch):
                try:
                    self._write(account, unit)
                except Exception as exc:  # kept for status and the log; the writer goes on
                    self.failures[(account, unit)] = f"{type(exc).__name__}: {exc}"
                    print(f"sandbox: cannot write the state of {account}/{unit}: {exc}", file=sys.stderr, flush=True)
            with self.cond:
                self.written = max(self.written, generation)
                self.lag_max = max(self.lag_max, time.monotonic() - (since or time.monotonic()))
                self.cond.notify_all()

    def _write(self, account: str, unit: str) -> None:
        if account == "sandbox":
            get, _ = self.extensions[unit]
            write_atomically(self.folder / "sandbox" / f"{unit}.state",
                             encode({"kind": "extension", "account": "sandbox", "unit": unit},
                                    json.dumps(get()).encode()))
            return
        path = self.folder / "accounts" / account / f"{unit}.state"
        for attempt in range(3):
            try:
                # The file is written under the account's lock too, so a reset of the account
                # (which takes it) never sees its folder come back from a dump taken before it.
                with self.account_lock(account):
                    services = live_units(account).get(unit)
                    payload = codec.dump(services, codec.backend_names()) if services else None
                    if payload is None:
                        path.unlink(missing_ok=True)
                        return
                    write_atomically(path, encode({"kind": "unit", "account": account, "unit": unit}, payload))
                break
            except RuntimeError as exc:  # a read changed a dict while it was dumped: again
                self.failures[(account, unit)] = str(exc)
        else:
            with self.cond:
                self.dirty.add((account, unit))
            return
        self.failures.pop((account, unit), None)
        self.writes += 1

    # - extensions -

    def extension(self, name: str, get, put) -> None:
        """Keep an extension's state (a list of {"account", ...} entries) with the accounts'."""
        self.extensions[name] = (get, put)

    def extension_changed(self, name: str) -> None:
        if self.folder is not None:
            self.mark({("sandbox", name)})

    def _put_extensions(self, records, replace: bool, only: set[str] | None = None) -> None:
        for head, payload in records:
            if head.get("kind") == "extension" and head["unit"] in self.extensions:
                get, put = self.extensions[head["unit"]]
                entries = json.loads(payload)
                kept = [] if replace else [e for e in get() if e.get("account") not in (only or set())]
                put(kept + [e for e in entries if only is None or e.get("account") in only])

    # - instructor and learner tools -

    def status(self) -> dict:
        with self.cond:
            pending = len(self.dirty) + (self.marked > self.written)
        accounts = sorted(p.name for p in (self.folder / "accounts").iterdir()) if self.folder and (
            self.folder / "accounts").exists() else []
        return {"folder": str(self.folder) if self.folder else None, "durability": self.durability,
                "bytes": _size(self.folder) if self.folder else 0, "accounts": accounts,
                "pending": pending, "writes": self.writes, "lag_max_seconds": round(self.lag_max, 3),
                "failures": [f"{a}/{u}: {why}" for (a, u), why in self.failures.items()]}

    def reset(self, account: str | None = None) -> dict:
        """Empty one account, or every account; what was removed."""
        accounts = [account] if account else sorted(live_accounts() | set(self.status()["accounts"]))
        removed = {}
        for name in accounts:
            with self.account_lock(name):
                services = forget_account(name)
                if self.folder is not None:
                    shutil.rmtree(self.folder / "accounts" / name, ignore_errors=True)
            if services:
                removed[name] = services
        apps = 0
        for ext, (get, put) in self.extensions.items():
            before = get()
            put([e for e in before if account and e.get("account") != account])
            apps += len(before) - len(get())
            self.extension_changed(ext)
        self.wait()
        return {"accounts": removed, "apps": apps}

    def export(self, account: str | None = None) -> bytes:
        """Every account's state (or one's) as one archive, after writing what is pending."""
        if self.folder is None:
            raise StateRefused("this sandbox keeps no state (started without a state folder)")
        self.wait()
        out = []
        base = self.folder / "accounts"
        for path in sorted(base.glob(f"{account or '*'}/*.state")):
            out.append(path.read_bytes())
        for head, payload in decode(b"".join(self._extension_files()), "extensions"):
            entries = [e for e in json.loads(payload) if account is None or e.get("account") == account]
            out.append(encode({k: head[k] for k in ("kind", "account", "unit")}, json.dumps(entries).encode()))
        return b"".join(out)

    def _extension_files(self) -> list[bytes]:
        return [p.read_bytes() for p in sorted((self.folder / "sandbox").glob("*.state"))] if (
            self.folder / "sandbox").exists() else []

    def load(self, data: bytes, where: str, account: str | None = None) -> dict:
        """Replace the accounts an archive holds (or put its one account into `account`)."""
        records = decode(data, where)
        sources = sorted({h["account"] for h, _ in records if h.get("kind") == "unit"})
        if account:
            if len(sources) != 1:
                raise StateRefused(f"{where}: holds {len(sources)} accounts; --account needs a state of exactly one "
                                   "(save it with --account)")
            records = [(dict(h, account=account) if h.get("kind") == "unit" else h,
                        payload.replace(sources[0].encode(), account.encode())) for h, payload in records]
        targets = [account] if account else sources
        locks = [self.account_lock(a) for a in targets]
        for lock in locks:
            lock.acquire()
        try:
            try:
                install(records)
            except StateRefused:
                raise
            except Exception as exc:
                raise StateRefused(f"{where}: cannot be read back ({type(exc).__name__}: {exc})") from None
            if self.folder is not None:
                for name in targets:
                    shutil.rmtree(self.folder / "accounts" / name, ignore_errors=True)
            self.mark({(a, unit_of(s)) for a in targets for u in live_units(a).values() for s in u})
        finally:
            for lock in locks:
                lock.release()
        if account:
            records = [(h, json.dumps([dict(e, account=account) for e in json.loads(p)]).encode())
                       if h.get("kind") == "extension" else (h, p) for h, p in records]
        self._put_extensions(records, replace=False, only=set(targets))
        for name in self.extensions:
            self.extension_changed(name)
        self.wait()
        return {"accounts": targets}
