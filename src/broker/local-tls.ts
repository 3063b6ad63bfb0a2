/**
 * The certificate for `pcigate connect --tls`: the connection's configured `tls.cert_file`/`key_file`, or a
 * fresh self-signed one made with the openssl CLI in a 0700 directory under the data home (Node has no
 * X.509 writer). Clients connect with sslmode=require (no verification) to a loopback listener.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type { Fs } from '../cli/ctx.js';
import { PcigateError } from '../errors.js';

const run = promisify(execFile);

export async function localTlsContext(fs: Fs, home: string, configured?: { cert_file: string; key_file: string }): Promise<tls.SecureContext> {
  if (configured) {
    return tls.createSecureContext({ cert: await fs.readFile(configured.cert_file), key: await fs.readFile(configured.key_file) });
  }
  const dir = path.join(home, 'tls');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const cert = path.join(dir, 'listener.crt');
  const key = path.join(dir, 'listener.key');
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=pcigate local listener',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1']);
  } catch (e) {
    throw new PcigateError('could not generate a TLS certificate for the listener (is openssl installed?)', {
      cause: e, hint: 'or configure connections.<name>.tls.cert_file and key_file',
    });
  }
  await fs.chmod(key, 0o600);
  return tls.createSecureContext({ cert: await fs.readFile(cert), key: await fs.readFile(key) });
}
