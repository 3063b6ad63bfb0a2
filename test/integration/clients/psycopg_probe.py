# psycopg 3 (Debian's python3-psycopg, over libpq) through pcigate, for test/integration/pg-proxy-psycopg.test.ts:
# `/usr/bin/python3 psycopg_probe.py HOST PORT DATABASE USER PASSWORD`. Each step prints `step=<name> <facts>`
# on one line; the test compares them with what the server and the audit log say. A failing step prints
# `step=<name> error=<SQLSTATE or class> <message>`.
import sys

import psycopg
from psycopg import pq

host, port, db, user, password = sys.argv[1:6]
conn = psycopg.connect(host=host, port=port, dbname=db, user=user, password=password, sslmode="disable", autocommit=True)


def step(name, fn):
    try:
        out = fn()
    except psycopg.Error as e:
        out = f"error={e.sqlstate or type(e).__name__} {str(e).splitlines()[0] if str(e) else ''}"
    except Exception as e:  # noqa: BLE001 - reported, the test decides
        out = f"error={type(e).__name__} {e}"
    print(f"step={name} {out}", flush=True)


def binary_cursor():
    # Binary results for every column: bigint, numeric, float8, a whole row and an array of the card.
    with conn.cursor(binary=True) as cur:
        cur.execute("select id, card_no, card_no::numeric, card_no::float8, c, array[card_no] from py_cards c order by id")
        rows = cur.fetchall()
    return "rows=" + ";".join("|".join(str(v) for v in r) for r in rows).replace(" ", "_")


def prepared():
    # psycopg prepares a query server-side from its 5th execution (prepare_threshold).
    got = []
    with conn.cursor() as cur:
        for i in range(1, 8):
            cur.execute("select note from py_cards where id = %s", (1 + i % 2,))
            got.append(cur.fetchone()[0].replace(" ", "_"))
    return "notes=" + ",".join(got)


def pipeline_ok():
    with conn.pipeline():
        with conn.cursor() as cur:
            cur.executemany("insert into py_log (id, msg) values (%s, %s)", [(i, f"m{i}") for i in range(1, 21)])
    with conn.cursor() as cur:
        cur.execute("select count(*) from py_log")
        return f"count={cur.fetchone()[0]}"


def pipeline_error():
    # The 3rd statement fails; libpq reports the rest of the pipeline as aborted until its Sync.
    try:
        with conn.pipeline():
            with conn.cursor() as cur:
                cur.execute("insert into py_log (id, msg) values (%s, %s)", (101, "a"))
                cur.execute("insert into py_log (id, msg) values (%s, %s)", (102, "b"))
                cur.execute("insert into py_log (id, msg) values (%s, %s)", (1, "duplicate"))
                cur.execute("insert into py_log (id, msg) values (%s, %s)", (103, "c"))
        return "unexpected=success"
    except psycopg.Error as e:
        return f"error={e.sqlstate}"


def after_pipeline_error():
    with conn.cursor() as cur:
        cur.execute("select count(*) from py_log")
        return f"count={cur.fetchone()[0]}"


def server_cursor():
    with conn.transaction():
        with conn.cursor(name="py_named") as cur:
            cur.itersize = 7
            cur.execute("select id from generate_series(1, 30) id")
            total = sum(r[0] for r in cur)
    return f"sum={total}"


def copy_both():
    with conn.cursor() as cur:
        with cur.copy("copy py_copy (id, msg) from stdin") as cp:
            for i in range(1, 101):
                cp.write_row((i, f"row {i}"))
        out = []
        with cur.copy("copy (select id, msg from py_copy order by id) to stdout") as cp:
            for row in cp.rows():
                out.append(row)
    return f"in=100 out={len(out)} last={out[-1][0]}|{out[-1][1].replace(' ', '_')}"


def denied():
    with conn.cursor() as cur:
        cur.execute("select * from forbidden_py")
    return "unexpected=success"


step("connect", lambda: f"server={conn.info.server_version // 10000} libpq={pq.version() // 10000}")
step("binary_cursor", binary_cursor)
step("prepared", prepared)
step("pipeline_ok", pipeline_ok)
step("pipeline_error", pipeline_error)
step("after_pipeline_error", after_pipeline_error)
step("server_cursor", server_cursor)
step("copy", copy_both)
step("denied", denied)
step("after_denied", lambda: f"value={conn.execute('select 6 * 7').fetchone()[0]}")
conn.close()
print("done", flush=True)
