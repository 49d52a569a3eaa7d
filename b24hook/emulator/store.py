"""SQLite store: one connection guarded by a lock (works for ":memory:" and files)."""
from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterable

from .catalog import ALL_COLUMNS, SPA_TYPES, TASK_COLUMNS

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS crm_item (
  {", ".join(f"{c} {t}" for c, t in ALL_COLUMNS)},
  PRIMARY KEY (entity_type_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY, xml_id TEXT, active INTEGER NOT NULL DEFAULT 1, name TEXT,
  last_name TEXT, second_name TEXT, email TEXT, login TEXT, last_login TEXT,
  date_register TEXT, time_zone TEXT, personal_gender TEXT, personal_birthday TEXT,
  work_position TEXT, uf_department TEXT, is_admin INTEGER NOT NULL DEFAULT 0,
  user_type TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
  {", ".join(f"{c} {'INTEGER' if t == 'integer' else 'TEXT'}" for c, _, _, t in TASK_COLUMNS)},
  tags TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_id ON tasks(id);
CREATE TABLE IF NOT EXISTS eventlog (
  id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp_x TEXT, severity TEXT, audit_type_id TEXT,
  module_id TEXT, item_id TEXT, remote_addr TEXT, user_agent TEXT, request_uri TEXT,
  site_id TEXT, user_id INTEGER, guest_id INTEGER, description TEXT
);
"""

FIRST_M = ["Alexander", "Dmitry", "Ivan", "Sergey", "Andrey", "Mikhail", "John", "Peter",
           "Lucas", "Max", "Oleg", "Pavel", "Thomas", "Daniel", "Artem", "Nikita"]
FIRST_F = ["Anna", "Maria", "Elena", "Olga", "Natalia", "Emma", "Sophie", "Irina",
           "Julia", "Daria", "Laura", "Sarah", "Ksenia", "Vera", "Alice", "Nina"]
LAST = ["Ivanov", "Smirnov", "Kuznetsov", "Popov", "Sokolov", "Lebedev", "Kozlov",
        "Novikov", "Morozov", "Petrov", "Volkov", "Solovyov", "Miller", "Schmidt",
        "Fischer", "Weber", "Becker", "Wagner", "Brown", "Taylor", "Martin", "Garcia"]
COMPANY_A = ["Nord", "Alfa", "Vector", "Orbit", "Polar", "Granit", "Delta", "Sigma",
             "Atlas", "Zenit", "Lumen", "Vertex", "Astra", "Quantum", "Baltic", "Ural"]
COMPANY_B = ["Logistics", "Systems", "Trade", "Group", "Soft", "Energy", "Foods",
             "Consulting", "Media", "Holding", "Tech", "Pharma", "Build", "Retail"]
COMPANY_SUFFIX = ["LLC", "Ltd", "JSC", "GmbH", "Inc.", "& Co"]
DEAL_WHAT = ["CRM rollout", "Annual licence", "Server upgrade", "Consulting package",
             "Website redesign", "Support contract", "Office equipment", "Cloud migration",
             "Training course", "Marketing campaign", "Warehouse automation", "Audit"]
LEAD_WHAT = ["Request from website", "Incoming call", "Exhibition contact", "Price inquiry",
             "Partner referral", "Webinar sign-up", "E-mail campaign reply", "Chat request"]
SPA_WHAT = ["Conference", "Webinar", "Product launch", "Workshop", "Meetup", "Partner day"]
POSTS = ["CEO", "CFO", "Sales manager", "Buyer", "Head of IT", "Marketing lead", "Engineer"]
INDUSTRY = ["IT", "TELECOM", "MANUFACTURING", "BANKING", "CONSULTING", "FINANCE", "OTHER"]
SOURCES = ["CALL", "EMAIL", "WEB", "ADVERTISING", "PARTNER", "RECOMMENDATION", "TRADE_SHOW"]
LEAD_STAGES = ["NEW", "IN_PROCESS", "PROCESSED", "JUNK", "CONVERTED"]
DEAL_STAGES = ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE",
               "WON", "LOSE"]
CURRENCIES = ["USD", "EUR", "RUB"]
TASK_WHAT = ["Call back", "Prepare offer", "Send contract", "Check payment",
             "Update presentation", "Plan meeting", "Write report", "Fix invoice"]

DEMO_USERS = [
    # id, name, last, gender, position, admin
    (1, "John", "Admin", "M", "Administrator", 1),
    (2, "Anna", "Petrova", "F", "Sales manager", 0),
    (3, "Ivan", "Sokolov", "M", "Sales manager", 0),
    (4, "Maria", "Lebedeva", "F", "Account manager", 0),
    (5, "Peter", "Miller", "M", "Head of sales", 0),
    (6, "Olga", "Novikova", "F", "Marketing lead", 0),
    (7, "Daniel", "Weber", "M", "Engineer", 0),
    (8, "Elena", "Kozlova", "F", "Support", 0),
]


class Store:
    def __init__(self, path: str = ":memory:", tz: timezone = timezone.utc) -> None:
        self.path = path
        self.tz = tz
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        with self.lock:
            self.conn.executescript(_SCHEMA)
            # a database file from an older emulator: add the columns it lacks
            have = {r[1] for r in self.conn.execute("PRAGMA table_info(crm_item)")}
            for col, typ in ALL_COLUMNS:
                if col not in have:
                    self.conn.execute(f"ALTER TABLE crm_item ADD COLUMN {col} {typ}")
            if not self.conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
                self._seed_users()

    # ------------------------------------------------------------ snapshots
    def snapshot(self) -> sqlite3.Connection:
        """A copy of the whole database (SQLite online backup into memory)."""
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        with self.lock:
            self.conn.backup(copy)
        return copy

    def restore(self, snap: sqlite3.Connection) -> None:
        """Put the database back as it was in ``snap`` (rows, id sequences)."""
        with self.lock:
            snap.backup(self.conn)

    # ------------------------------------------------------------ helpers
    def now_iso(self, ts: float | None = None) -> str:
        return datetime.fromtimestamp(int(time.time() if ts is None else ts),
                                      self.tz).isoformat()

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, tuple(args)).fetchall()

    def one(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, tuple(args)).fetchone()
            return row

    def one_row(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row:
        """The first row of a query that always has one (an aggregate, a row just written)."""
        row = self.one(sql, args)
        if row is None:
            raise LookupError(f"no row for {sql!r}")
        return row

    def execute(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, tuple(args))

    def next_id(self, name: str, table_max_sql: str, args: Iterable[Any] = ()) -> int:
        """Id sequences never reuse deleted ids (auto-increment)."""
        with self.lock:
            row = self.conn.execute("SELECT value FROM seq WHERE name=?", (name,)).fetchone()
            if row is None:
                cur = self.conn.execute(table_max_sql, tuple(args)).fetchone()[0] or 0
                value = cur + 1
            else:
                value = row[0] + 1
            self.conn.execute("INSERT OR REPLACE INTO seq(name, value) VALUES (?, ?)",
                              (name, value))
            return value

    def log_event(self, audit_type: str, module: str, item_id: Any, user_id: int,
                  description: str = "", severity: str = "INFO", remote_addr: str = "127.0.0.1",
                  request_uri: str = "") -> int:
        """One row of the event log (``main.eventlog.*``), written by CRM and task changes."""
        with self.lock:
            cur = self.conn.execute(
                "INSERT INTO eventlog(timestamp_x, severity, audit_type_id, module_id, item_id,"
                " remote_addr, user_agent, request_uri, site_id, user_id, guest_id, description)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (self.now_iso(), severity, audit_type, module, str(item_id), remote_addr,
                 "b24hook-emulator", request_uri, "s1", user_id, None, description))
            rowid = cur.lastrowid
            assert rowid is not None  # set by every INSERT
            return rowid

    def ensure_user(self, user_id: int) -> None:
        with self.lock:
            if not self.conn.execute("SELECT 1 FROM users WHERE id=?", (user_id,)).fetchone():
                self.conn.execute(
                    "INSERT INTO users(id, active, name, last_name, email, login, date_register,"
                    " time_zone, personal_gender, work_position, uf_department, is_admin, user_type)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (user_id, 1, "User", str(user_id), f"user{user_id}@example.com",
                     f"user{user_id}", self.now_iso(), "Europe/Moscow", "", "", "[1]", 0,
                     "employee"))

    def _seed_users(self) -> None:
        base = int(time.time()) - 400 * 86400
        rows = []
        for uid, name, last, gender, pos, admin in DEMO_USERS:
            rows.append((uid, name, last, f"{name.lower()}.{last.lower()}@example.com",
                         "admin" if uid == 1 else f"{name.lower()}{uid}",
                         self.now_iso(base + uid * 86400), self.now_iso(base + 390 * 86400),
                         "Europe/Moscow", gender, pos,
                         json.dumps([1] if uid in (1, 5) else [1 + uid % 3]), admin, 1,
                         "employee", f"{1980 + uid}-0{1 + uid % 9}-1{uid % 9}"))
        self.conn.executemany(
            "INSERT INTO users(id, name, last_name, email, login, date_register, last_login,"
            " time_zone, personal_gender, work_position, uf_department, is_admin, active,"
            " user_type, personal_birthday) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    # ------------------------------------------------------------ seeding
    def seed_demo(self, n: int, seed: int = 24) -> dict[str, Any]:
        """Fill the CRM with ``n`` realistic records, deterministic for a seed.

        Split: 15 % companies, 30 % contacts, 25 % leads, 20 % deals,
        10 % smart-process (128) items; plus n/20 tasks.
        """
        rng = random.Random(seed)
        n_co = max(1, n * 15 // 100) if n else 0
        n_ct = n * 30 // 100
        n_ld = n * 25 // 100
        n_dl = n * 20 // 100
        n_sp = n - n_co - n_ct - n_ld - n_dl
        users = [u[0] for u in DEMO_USERS]
        now = int(time.time())
        tz = self.tz
        iso_cache: dict[int, str] = {}

        def iso(ts: int) -> str:
            ts -= ts % 60
            s = iso_cache.get(ts)
            if s is None:
                s = iso_cache[ts] = datetime.fromtimestamp(ts, tz).isoformat()
            return s

        def when() -> tuple[str, str]:
            c = now - rng.randrange(2 * 365 * 86400)
            return iso(c), iso(min(now, c + rng.randrange(30 * 86400)))

        def phone() -> str:
            return json.dumps([{"ID": str(rng.randrange(1, 10**6)), "VALUE_TYPE": "WORK",
                                "VALUE": f"+1{rng.randrange(10**9, 10**10)}", "TYPE_ID": "PHONE"}])

        def mail(name: str, last: str, dom: str) -> str:
            return json.dumps([{"ID": str(rng.randrange(1, 10**6)), "VALUE_TYPE": "WORK",
                                "VALUE": f"{name.lower()}.{last.lower()}@{dom}", "TYPE_ID": "EMAIL"}])

        cols = [c for c, _ in ALL_COLUMNS]
        idx = {c: i for i, c in enumerate(cols)}
        sql = f"INSERT INTO crm_item({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

        def row(etype: int, id_: int, **kv: Any) -> tuple[Any, ...]:
            r: list[Any] = [None] * len(cols)
            r[idx["entity_type_id"]] = etype
            r[idx["id"]] = id_
            r[idx["opened"]] = "Y"
            a = rng.choice(users)
            r[idx["assigned_by_id"]] = a
            r[idx["created_by"]] = a
            r[idx["updated_by"]] = a
            c, u = when()
            r[idx["created_time"]] = c
            r[idx["updated_time"]] = u
            for k, v in kv.items():
                r[idx[k]] = v
            return tuple(r)

        def start_ids(etype: int, count: int) -> int:
            first = self.next_id(f"crm{etype}", "SELECT MAX(id) FROM crm_item WHERE entity_type_id=?",
                                 (etype,))
            if count > 1:
                with self.lock:
                    self.conn.execute("UPDATE seq SET value=? WHERE name=?",
                                      (first + count - 1, f"crm{etype}"))
            return first

        rows: list[tuple[Any, ...]] = []
        companies: list[int] = []
        first = start_ids(4, n_co)
        for i in range(n_co):
            t = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)} {rng.choice(COMPANY_SUFFIX)}"
            cid = first + i
            companies.append(cid)
            rows.append(row(4, cid, title=t, company_type=rng.choice(["CUSTOMER", "PARTNER", "SUPPLIER"]),
                            industry=rng.choice(INDUSTRY), employees=rng.choice(["EMPLOYEES_1", "EMPLOYEES_2", "EMPLOYEES_3"]),
                            revenue=float(rng.randrange(10, 5000) * 1000), currency_id=rng.choice(CURRENCIES),
                            phone=phone()))
        contacts: list[int] = []
        first = start_ids(3, n_ct)
        for i in range(n_ct):
            female = rng.random() < 0.5
            nm = rng.choice(FIRST_F if female else FIRST_M)
            ln = rng.choice(LAST) + ("a" if female and rng.random() < 0.6 else "")
            cid = first + i
            contacts.append(cid)
            rows.append(row(3, cid, name=nm, last_name=ln, honorific="HNR_EN_2" if female else "HNR_EN_1",
                            post=rng.choice(POSTS), source_id=rng.choice(SOURCES),
                            company_id=rng.choice(companies) if companies and rng.random() < 0.8 else None,
                            phone=phone(), email=mail(nm, ln, "example.com")))
        first = start_ids(1, n_ld)
        for i in range(n_ld):
            nm, ln = rng.choice(FIRST_M + FIRST_F), rng.choice(LAST)
            rows.append(row(1, first + i, title=f"{rng.choice(LEAD_WHAT)}: {nm} {ln}", name=nm,
                            last_name=ln, stage_id=rng.choice(LEAD_STAGES), source_id=rng.choice(SOURCES),
                            opportunity=float(rng.randrange(0, 500) * 100), currency_id=rng.choice(CURRENCIES),
                            company_title=f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}",
                            phone=phone(), email=mail(nm, ln, "mail.example")))
        first = start_ids(2, n_dl)
        # the deals' user fields draw from their own generator, so the rest of
        # the seeded data stays what it was before they existed
        urng = random.Random(seed * 7919 + 2)
        for i in range(n_dl):
            stage = rng.choice(DEAL_STAGES)
            c, _ = when()
            deal = list(row(2, first + i, title=f"{rng.choice(DEAL_WHAT)} #{first + i}",
                            stage_id=stage, category_id=0, probability=rng.choice([10, 30, 50, 70, 90]),
                            opportunity=round(rng.randrange(100, 200000) * 10 + rng.random(), 2),
                            currency_id=rng.choice(CURRENCIES),
                            company_id=rng.choice(companies) if companies else None,
                            contact_id=rng.choice(contacts) if contacts else None,
                            begindate=c[:10] + "T00:00:00" + c[19:],
                            closedate=c[:10] + "T00:00:00" + c[19:],
                            closed="Y" if stage in ("WON", "LOSE") else "N",
                            source_id=rng.choice(SOURCES), moved_by=1, moved_time=c))
            if urng.random() < 0.7:  # money: "amount|currency"
                deal[idx["uf_budget"]] = (f"{urng.randrange(1, 5000) * 50}.{urng.choice(['00', '50', '99'])}"
                                          f"|{deal[idx['currency_id']]}")
            deal[idx["uf_vip"]] = "1" if urng.random() < 0.2 else "0"
            deal[idx["uf_tags"]] = json.dumps(sorted(urng.sample([45, 46, 47], urng.randrange(0, 3))))
            rows.append(tuple(deal))
        spa = 128
        first = start_ids(spa, n_sp)
        for i in range(n_sp):
            c, _ = when()
            rows.append(row(spa, first + i, title=f"{rng.choice(SPA_WHAT)} {2024 + i % 3}",
                            category_id=SPA_TYPES[spa]["id"] * 10, stage_id=f"DT{spa}_{SPA_TYPES[spa]['id'] * 10}:NEW",
                            opportunity=0.0, currency_id="USD", moved_by=1, moved_time=c, uf1=c,
                            xml_id=""))
        n_tasks = n // 20
        tasks = []
        first = self.next_id("tasks", "SELECT MAX(id) FROM tasks") if n_tasks else 0
        if n_tasks > 1:
            with self.lock:
                self.conn.execute("UPDATE seq SET value=? WHERE name='tasks'", (first + n_tasks - 1,))
        for i in range(n_tasks):
            c, u = when()
            tasks.append((first + i, f"{rng.choice(TASK_WHAT)} ({rng.choice(LAST)})", "", rng.choice([0, 1, 2]),
                          rng.choice([2, 3, 5]), rng.choice(users), rng.choice(users), 0,
                          iso(now + rng.randrange(-10, 30) * 86400), c, u, None, "[]"))
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                self.conn.executemany(sql, rows)
                if tasks:
                    self.conn.executemany(
                        "INSERT INTO tasks(id, title, description, priority, status, responsible_id,"
                        " created_by, group_id, deadline, created_date, changed_date, closed_date, tags)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", tasks)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return {"companies": n_co, "contacts": n_ct, "leads": n_ld, "deals": n_dl,
                "smart_process_128": n_sp, "tasks": n_tasks}

    def close(self) -> None:
        with self.lock:
            self.conn.close()
