/**
 * The process that reads one keychain entry for keychain-read.ts, so that a keychain which never answers can
 * be killed. An entry point, not a module: like bin/pcigate.js it is the edge where process.* is used.
 * argv: service, account. stdout: one JSON object, `{"value": string | null}` or `{"error": message}`; the
 * secret goes over the pipe only.
 */
import { AsyncEntry } from '@napi-rs/keyring';

const [service = '', account = ''] = process.argv.slice(2);
let out: { value: string | null } | { error: string };
try {
  out = { value: await new AsyncEntry(service, account).getPassword() };
} catch (e) {
  out = { error: e instanceof Error ? e.message : String(e) };
}
process.stdout.write(JSON.stringify(out));
