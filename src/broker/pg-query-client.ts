/**
 * A minimal simple-query client (protocol 3.0 "Simple Query" flow) for `pcigate exec CONN --sql`: it talks
 * to the broker's own ephemeral listener, so the statement takes exactly the path a psql session takes —
 * policy, masking, recording — and nothing is special-cased for exec.
 */
import { connectUpstream, decodeCommandComplete, decodeDataRow, decodeNotice, decodeRowDescription, BackendCode, encodeCopyFail, encodeQuery, TERMINATE } from '../pg/protocol/index.js';
import type { Frame, NoticeFields, UpstreamTarget } from '../pg/protocol/index.js';

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

/** Runs one simple Query (possibly several statements) and collects every result set. */
export async function simpleQuery(target: UpstreamTarget, sql: string): Promise<QueryOutcome> {
  const conn = await connectUpstream(target);
  const { socket, framer } = conn;
  const out: QueryOutcome = { results: [], notices: [] };
  let current: ResultSet | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const handle = (f: Frame): boolean => {
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
            out.notices.push(decodeNotice(p));
            break;
          case BackendCode.CopyInResponse:
            // COPY FROM STDIN has no input here: fail it so the server ends the statement.
            socket.write(encodeCopyFail('pcigate exec --sql has no COPY input'));
            break;
          case BackendCode.ReadyForQuery:
            return true;
          default:
            break;
        }
        return false;
      };
      const pump = () => {
        try {
          for (let f = framer.next(); f; f = framer.next()) if (handle(f)) { cleanup(); resolve(); return; }
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
      socket.write(encodeQuery(sql));
      pump();
      socket.resume();
    });
  } finally {
    socket.end(TERMINATE);
  }
  return out;
}
