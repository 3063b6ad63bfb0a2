/**
 * The upstream SSH connection with the broker-held key (the user never sees it), refusing any host key
 * that does not match the pin.
 */
import ssh2 from 'ssh2';
import type { Client } from 'ssh2';
import { PcigateError } from '../errors.js';
import { hostKeyMatches, sshFingerprint } from './host-key.js';

export class SshUpstreamError extends PcigateError {
  static override code = 'ERR_SSH_UPSTREAM';
  override code = SshUpstreamError.code;
}

export class HostKeyMismatch extends PcigateError {
  static override code = 'ERR_SSH_HOST_KEY';
  override code = HostKeyMismatch.code;
}

export interface UpstreamTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  passphrase?: string;
  hostKey: string;
  timeoutMs: number;
}

/** Connects and authenticates; rejects with HostKeyMismatch or SshUpstreamError. */
export function connectSshUpstream(t: UpstreamTarget): Promise<Client> {
  return new Promise((resolve, reject) => {
    // ssh2 is CommonJS: its classes come from the default export under Node's ESM loader.
    const client = new ssh2.Client();
    let seen: string | undefined;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(err);
    };
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    client.on('error', (err: Error) => {
      if (seen !== undefined) {
        fail(new HostKeyMismatch(`upstream ${t.host}:${t.port} presented host key ${seen}, which does not match the pinned key; refusing to connect`, {
          hint: 'If the host key was legitimately changed, update host_key in the connection config after checking it out of band.',
        }));
        return;
      }
      fail(new SshUpstreamError(`cannot connect to ${t.user}@${t.host}:${t.port}: ${err.message}`, { cause: err }));
    });
    client.connect({
      host: t.host,
      port: t.port,
      username: t.user,
      privateKey: t.privateKey,
      ...(t.passphrase ? { passphrase: t.passphrase } : {}),
      readyTimeout: t.timeoutMs,
      hostVerifier: (key: Buffer) => {
        if (hostKeyMatches(t.hostKey, key)) return true;
        seen = sshFingerprint(key);
        return false;
      },
    });
  });
}
