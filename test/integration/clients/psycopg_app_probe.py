# What a Python service does with psycopg 3 through pcigate under a realistic policy, for
# test/integration/pg-clients-psycopg.test.ts: `python3 psycopg_app_probe.py HOST PORT DATABASE USER PASSWORD`.
# Each step prints `step=<name> <facts>`; nothing is asserted here: a failure prints `step=<name> error=<SQLSTATE>`.
import sys
import threading
import time

import psycopg

host, port, dbname, user, password = sys.argv[1:6]


def connect(**kw):
    return psycopg.connect(host=host, port=port, dbname=dbname, user=user, password=password, sslmode='disable', **kw)


def step(name, f):
    try:
        out = f()
    except psycopg.Error as e:
        out = f'error={e.sqlstate}'
    except Exception as e:  # noqa: BLE001 - reported, the test decides
        out = f'error=exception {type(e).__name__} {e}'
    print(f'step={name} {out}', flush=True)


c = connect(autocommit=True)


def pipeline_refused():
    # One Sync for all three: the refusal fails the implicit transaction, the first insert is rolled back.
    err = None
    try:
        with c.pipeline():
            c.execute("insert into py_log (msg) values (%s)", ('pipelined before',))
            c.execute("select * from py_secrets")
            c.execute("insert into py_log (msg) values (%s)", ('pipelined after',))
    except psycopg.Error as e:
        err = e.sqlstate
    n = c.execute("select count(*) from py_log where msg like 'pipelined%%'").fetchone()[0]
    return f'error={err} rows={n} status={c.info.transaction_status.name}'


def pipeline_synced():
    # A Sync after each: only the refused statement fails.
    errs = []
    with c.pipeline() as p:
        c.execute("insert into py_log (msg) values (%s)", ('synced 1',))
        p.sync()
        try:
            c.execute("select * from py_secrets")
            p.sync()
        except psycopg.Error as e:
            errs.append(e.sqlstate)
        c.execute("insert into py_log (msg) values (%s)", ('synced 2',))
        p.sync()
    n = c.execute("select count(*) from py_log where msg like 'synced%%'").fetchone()[0]
    return f'errors={",".join(errs)} rows={n}'


def executemany_returning():
    cur = c.cursor()
    cur.executemany("insert into py_log (msg) values (%s) returning msg", [(f'many {i}',) for i in range(5)], returning=True)
    got = []
    while True:
        got.append(cur.fetchone()[0].replace(' ', '_'))
        if not cur.nextset():
            break
    return 'returned=' + ','.join(got)


def server_cursor():
    with connect() as t:
        with t.cursor(name='cards_cursor') as cur:
            cur.itersize = 3
            cur.execute("select id, card_no from py_cards, generate_series(1, 4) g order by id, g")
            rows = list(cur)
        with t.cursor(name='scrolling', scrollable=True, withhold=True) as cur:
            cur.execute("select id from py_items order by id")
            cur.scroll(30)
            a = cur.fetchone()[0]
            cur.scroll(-10)
            b = cur.fetchone()[0]
            t.commit()
            after_commit = [r[0] for r in cur.fetchmany(2)]
    return f'rows={len(rows)} first={rows[0][1]} last={rows[-1][1]} scroll={a},{b} held={after_commit}'


def prepared():
    got = [c.execute("select card_no from py_cards where id = %s", (1 + i % 2,), prepare=True, binary=i % 2 == 1).fetchone()[0] for i in range(4)]
    return 'cards=' + ','.join(got)


def copy_refused():
    # COPY is not granted: refused, and the connection goes on.
    try:
        with c.cursor().copy("copy py_log (msg) to stdout") as cp:
            b''.join(cp)
        r = 'unexpected=success'
    except psycopg.Error as e:
        r = f'error={e.sqlstate}'
    return r + ' after=' + str(c.execute("select 'usable'").fetchone()[0])


def cancel_held():
    # conn.cancel() while a write waits for an approval nobody gives.
    t = connect(autocommit=True)
    notices = []
    t.add_notice_handler(lambda n: notices.append(n.message_primary))
    threading.Thread(target=lambda: (time.sleep(1), t.cancel())).start()
    t0 = time.monotonic()
    try:
        t.execute("delete from py_log")
        r = 'unexpected=success'
    except psycopg.Error as e:
        r = f'error={e.sqlstate}'
    r += f' seconds={int(time.monotonic() - t0)} noticed={any("held for approval" in n for n in notices)}'
    r += ' after=' + str(t.execute("select 'usable'").fetchone()[0])
    t.close()
    return r


def notifies():
    listener = connect(autocommit=True)
    listener.execute("listen py_channel")
    c.execute("notify py_channel, 'card 4111111111111111'")
    got = None
    for n in listener.notifies():
        got = n.payload
        break
    listener.close()
    return 'payload=' + got.replace(' ', '_')


step('pipeline_refused', pipeline_refused)
step('pipeline_synced', pipeline_synced)
step('executemany_returning', executemany_returning)
step('server_cursor', server_cursor)
step('prepared', prepared)
step('copy_refused', copy_refused)
step('cancel_held', cancel_held)
step('notifies', notifies)
print('done', flush=True)
