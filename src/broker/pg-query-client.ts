/**
 * A minimal simple-query client (protocol 3.0 "Simple Query" flow) for `pcigate exec CONN --sql`: it talks
 * to the broker's own ephemeral listener, so the statement takes exactly the path a psql session takes —
 * policy, masking, recording — and nothing is special-cased for exec.
 */
import type { Socket } from 'node:net';
import {
  connectUpstream, decodeCommandComplete, decodeDataRow, decodeNotice, decodeRowDescription, BackendCode, encodeBind, encodeCopyFail, encodeExecute, encodeParse,
  encodeQuery, encodeTarget, FrontendCode, SYNC, TERMINATE,
} from '../pg/protocol/index.js';
import type { FieldDescription, Frame, NoticeFields, UpstreamTarget } from '../pg/protocol/index.js';

export interface ResultSet {
  /** The command tag, e.g. `SELECT 2`, `INSERT 0 1`. */
  command: string;
  columns: string[];
  /** Text-format values (NULL as null). */
  rows: (string | null)[][];
}

export interface QueryOutcome {
  results: ResultSet[];
  notices: NoticeFields[];
  /** The ErrorResponse that ended the query string, if any. */
  error?: NoticeFields;
}

/**
 * Runs one simple Query (possibly several statements) and collects every result set. `onNotice`: each
 * NoticeResponse as it arrives (then not collected in `notices`).
 */
export async function simpleQuery(target: UpstreamTarget, sql: string, opts: { onNotice?: (n: NoticeFields) => void } = {}): Promise<QueryOutcome> {
  const out: QueryOutcome = { results: [], notices: [] };
  let current: ResultSet | undefined;
  await roundTrip(target, [encodeQuery(sql)], (f, socket) => {
    const p = f.payload;
    switch (f.code) {
      case BackendCode.RowDescription:
        current = { command: '', columns: decodeRowDescription(p).fields.map((x) => x.name), rows: [] };
        break;
      case BackendCode.DataRow:
        current?.rows.push(decodeDataRow(p).values.map((v) => (v === null ? null : v.toString('utf8'))));
        break;
      case BackendCode.CommandComplete:
        out.results.push({ ...(current ?? { columns: [], rows: [] }), command: decodeCommandComplete(p).tag });
        current = undefined;
        break;
      case BackendCode.EmptyQueryResponse:
        current = undefined;
        break;
      case BackendCode.ErrorResponse:
        out.error = decodeNotice(p);
        current = undefined;
        break;
      case BackendCode.NoticeResponse:
        if (opts.onNotice) opts.onNotice(decodeNotice(p));
        else out.notices.push(decodeNotice(p));
        break;
      case BackendCode.CopyInResponse:
        // COPY FROM STDIN has no input here: fail it so the server ends the statement.
        socket.write(encodeCopyFail('pcigate exec --sql has no COPY input'));
        break;
      default:
        break;
    }
  });
  return out;
}

/**
 * The rows of the last result of `sql` run on a side connection (catalog lookups); throws with the server's
 * message and SQLSTATE when it refuses.
 */
export async function lookupRows(target: UpstreamTarget, sql: string): Promise<(string | null)[][]> {
  const r = await simpleQuery(target, sql);
  if (r.error) throw new Error(serverRefusal(r.error));
  return r.results.at(-1)?.rows ?? [];
}

/** `<message> (<SQLSTATE>)` of an ErrorResponse, for errors thrown from side connections. */
export function serverRefusal(e: NoticeFields): string {
  return `${e.message ?? 'the server refused it'} (${e.code ?? 'no SQLSTATE'})`;
}

/**
 * The result columns of one statement, without running it: Parse and Describe of the unnamed statement
 * (protocol 3.0 "Extended Query"; the server analyses the statement, plans and executes nothing), after
 * `before` (a statement without parameters, e.g. a SET) is run in the same batch. An empty list for a
 * statement that returns no rows; `error` when the server refuses either.
 */
export async function describeStatement(target: UpstreamTarget, sql: string, before?: string): Promise<{ fields: FieldDescription[]; error?: NoticeFields }> {
  const out: { fields: FieldDescription[]; error?: NoticeFields } = { fields: [] };
  const first = before === undefined ? [] : [encodeParse({ name: '', sql: before, paramTypes: [] }), encodeBind({ params: [] }), encodeExecute()];
  await roundTrip(target, [...first, encodeParse({ name: '', sql, paramTypes: [] }), encodeTarget(FrontendCode.Describe, 'S', ''), SYNC], (f) => {
    if (f.code === BackendCode.RowDescription) out.fields = decodeRowDescription(f.payload).fields;
    else if (f.code === BackendCode.ErrorResponse) out.error = decodeNotice(f.payload);
  });
  return out;
}

/**
 * One exchange on a fresh broker-held connection: `send`, then every backend message to `handle` until
 * ReadyForQuery; the connection is then terminated.
 */
async function roundTrip(target: UpstreamTarget, send: Buffer[], handle: (f: Frame, socket: Socket) => void): Promise<void> {
  const { socket, framer } = await connectUpstream(target);
  try {
    await new Promise<void>((resolve, reject) => {
      const pump = () => {
        try {
          for (let f = framer.next(); f; f = framer.next()) {
            if (f.code === BackendCode.ReadyForQuery) { cleanup(); resolve(); return; }
            handle(f, socket);
          }
        } catch (e) {
          cleanup();
          reject(e as Error);
        }
      };
      const onData = (c: Buffer) => { framer.push(c); pump(); };
      const onEnd = () => { cleanup(); reject(new Error('the connection closed before the query finished')); };
      const onError = (e: Error) => { cleanup(); reject(e); };
      const cleanup = () => { socket.off('data', onData); socket.off('end', onEnd); socket.off('error', onError); };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.write(send.length === 1 ? send[0]! : Buffer.concat(send));
      pump();
      socket.resume();
    });
  } finally {
    socket.end(TERMINATE);
  }
}
