/**
 * The proxy's upstream: the protocol area's connector (src/pg/protocol/upstream.ts — libpq sslmodes,
 * SCRAM with the server signature checked, md5, cleartext only over TLS, trust) seen in the shape the
 * session needs: startup frames as original bytes, the backend key, and a FrameReader holding whatever the
 * server sent after ReadyForQuery. The client's startup parameters are filtered first: only harmless
 * settings (application_name, client_encoding, DateStyle, …) reach the server, so `PGOPTIONS='-c
 * search_path=…'` cannot change what policy decided against (§55.2.1 StartupMessage).
 */
import { PgSessionRefused } from '../../errors.js';
import { Limits } from '../protocol/codes.js';
import { TERMINATE } from '../protocol/frontend.js';
import { misreadingParameter, partitionStartupParams } from '../protocol/startup-params.js';
import { connectUpstream as connectProtocol, sendUpstreamCancel as cancelProtocol } from '../protocol/upstream.js';
import type { UpstreamTarget } from '../protocol/upstream.js';
import { FrameReader } from './frame-reader.js';
import { readCString } from './wire.js';

export type { SslMode, UpstreamTarget } from '../protocol/upstream.js';

export interface UpstreamConnection {
  socket: import('node:net').Socket;
  /** Frames after AuthenticationOk up to and including the first ReadyForQuery, as the original bytes. */
  startupFrames: Buffer[];
  backendKey: { pid: number; secret: number } | null;
  /** Reader holding any bytes the server sent after the first ReadyForQuery. */
  reader: FrameReader;
  tls: boolean;
  /** Ends the session from pcigate's side (Terminate, then FIN), before it is handed to a relay. */
  end(): void;
  /** Whether the upstream user is a superuser, as the server said (`is_superuser`); undefined when it did not (a pooler). */
  superuser?: boolean;
}

/** Opens and authenticates the upstream session with the client's (filtered) startup parameters. */
export async function connectUpstream(t: UpstreamTarget, params: Record<string, string>): Promise<UpstreamConnection> {
  const { forward } = partitionStartupParams(params);
  const c = await connectProtocol({ ...t, params: { ...forward, ...t.params } });
  // (logged in: the server's large frames get their announced length at once, not grown towards it)
  const reader = new FrameReader(Limits.backend, 'server', true);
  const rest = c.framer.drain();
  if (rest.length > 0) reader.push(rest);
  let superuser: boolean | undefined;
  for (const f of c.startup) {
    // The server's settings as the session starts (its configuration, ALTER DATABASE/ROLE … SET): one under
    // which it reads statements otherwise than policy does (a legacy standard_conforming_strings = off) would
    // let a backslash hide a statement from policy. Refused; changes later in the session are the relay's.
    if (f.bytes[0] !== 0x53) continue; // 'S' ParameterStatus
    const b = Buffer.from(f.bytes);
    const [name, at] = readCString(b, 5);
    const value = readCString(b, at)[0];
    if (name === 'is_superuser') superuser = value === 'on';
    const why = misreadingParameter(name, value);
    if (why) {
      c.socket.end(TERMINATE);
      throw new PgSessionRefused(`pcigate: the server would read statements otherwise than policy does (${why}, its setting for this database or role); ask an administrator to set it for the connection's role`, '0A000');
    }
  }
  const key = c.backendKey;
  return {
    socket: c.socket,
    end: () => { c.socket.end(TERMINATE); },
    tls: c.tls,
    ...(superuser !== undefined ? { superuser } : {}),
    startupFrames: c.startup.map((f) => Buffer.from(f.bytes)),
    // Protocol 3.0 keys are 4 bytes; the session issues its own 32-bit key to the client and maps it.
    backendKey: key && key.key.length === 4 ? { pid: key.pid, secret: key.key.readUInt32BE(0) } : null,
    reader,
  };
}

/** Sends a CancelRequest for an upstream backend key on a fresh connection (§55.2.9). Best effort. */
export function sendUpstreamCancel(t: UpstreamTarget, key: { pid: number; secret: number }): Promise<void> {
  const k = Buffer.alloc(4);
  k.writeUInt32BE(key.secret >>> 0);
  return cancelProtocol(t, { pid: key.pid, key: k });
}
