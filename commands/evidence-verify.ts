/** `pcigate evidence verify FILE.zip`: check an evidence bundle offline (issue 9 item 3). */
import path from 'node:path';
import type { CommandSpec } from '../src/cli/command.js';
import type { Ctx } from '../src/cli/ctx.js';
import { EXIT } from '../src/cli/exit-codes.js';
import type { Output } from '../src/cli/output.js';
import { printable } from '../src/cli/printable.js';
import { PcigateError, UsageError } from '../src/errors.js';
import { verifyBundle, ZIP_FILE } from '../src/evidence/verify-bundle.js';
import type { BundleCheck, BundleVerifyReport } from '../src/evidence/verify-bundle.js';
import { parsePublicKeyFile } from '../recorder/keys.js';

export const spec: CommandSpec = {
  description: [
    'Checks, with nothing but the zip (no data home, no network): that manifest.json is canonical JSON and',
    'signed (Ed25519) by the newest epoch key of the key chain it carries, that the chain leads to the root key,',
    'that SHA256SUMS and the manifest list exactly the files of the bundle with their SHA-256, that every signed',
    'checkpoint verifies, and that every sampled record proves into one (RFC 6962 inclusion proof). Pass your',
    'own copy of the root public key with --root-key: without it the bundle is only checked against the root',
    'key it carries itself. Exit 0 when everything verifies, 3 on any problem (each names the file), 1 when the',
    'zip cannot be read.',
  ].join('\n'),
  args: [{ name: 'file', description: 'the bundle (.zip) written by pcigate evidence', required: true }],
  options: [{ flags: '--root-key <file>', description: 'the root public key to trust (`ed25519 <base64>`, as in keys/root.pub)' }],
  examples: [
    ['verify a bundle against your own copy of the root key', 'pcigate evidence verify evidence-2026Q4.zip --root-key ./root.pub'],
    ['the result as JSON', 'pcigate evidence verify evidence-2026Q4.zip --json'],
  ],
  async run(ctx, { args, opts, out }) {
    const file = args[0];
    if (file === undefined) throw new UsageError('evidence verify needs the bundle FILE.zip');
    const zip = await readInput(ctx.fs, path.resolve(ctx.cwd, file), 'the bundle');
    let rootKey: Buffer | undefined;
    if (typeof opts.rootKey === 'string') {
      rootKey = parsePublicKeyFile((await readInput(ctx.fs, path.resolve(ctx.cwd, opts.rootKey), 'the root key')).toString('utf8'));
    }
    const report = verifyBundle(zip, rootKey ? { rootKey } : {});
    if (out.json) out.printJson({ file, ...report });
    else render(out, file, report);
    return report.ok ? EXIT.ok : EXIT.verification;
  },
};

async function readInput(fs: Ctx['fs'], file: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new PcigateError(`cannot read ${what} ${file} (${code})`, { cause: e });
  }
}

/** What each check proved, printed with ✓ when the whole bundle verifies. */
const LINES: Array<[BundleCheck, (r: BundleVerifyReport) => string]> = [
  ['zip', (r) => `zip: ${r.checked.files} files, CRC-32 of each checked`],
  ['manifest', () => 'manifest.json, manifest.sig and SHA256SUMS present; manifest.json is canonical JSON (RFC 8785)'],
  ['keys', (r) => `key chain: ${r.checked.epochs} epoch key${r.checked.epochs === 1 ? '' : 's'} certified back to the root key${r.rootKeySource === 'user' ? ' (--root-key)' : ' (the bundle’s own)'}`],
  ['signature', () => 'manifest.sig: Ed25519 over manifest.json by the newest certified epoch key'],
  ['sums', () => 'SHA256SUMS lists every file with its SHA-256'],
  ['artifacts', (r) => `artifacts: ${r.checked.artifacts} listed in manifest.json, SHA-256 and size match`],
  ['checkpoints', (r) => `checkpoints: ${r.checked.checkpoints} signed notes verify with their epoch keys`],
  ['proofs', (r) => `inclusion proofs: ${r.checked.proofs} sampled records prove into signed checkpoints (RFC 6962)`],
];

function render(out: Output, file: string, r: BundleVerifyReport): void {
  const lines = [`bundle ${file}${r.bundle_id ? ` (${printable(r.bundle_id)})` : ''}`];
  // On failure only the problems are listed: a check that depends on a broken one (no manifest, no key chain)
  // did not really run, and a ✓ next to it would claim more than was proved.
  for (const [check, text] of LINES) {
    if (r.ok) lines.push(`${out.paint('green', '✓')} ${text(r)}`);
    for (const p of r.problems.filter((x) => x.check === check)) {
      lines.push(`${out.paint('red', '✗')} ${p.file === ZIP_FILE ? file : printable(p.file)}: ${printable(p.message)}`);
    }
  }
  // (without --root-key, a bundle re-signed whole by someone else verifies too: the verdict itself says so, not only a
  // note on stderr that a CI log may not keep)
  const ok = r.rootKeySource === 'user' ? 'OK: the bundle verifies' : 'OK (intact; its maker not checked: no --root-key): the bundle verifies against its own root key';
  lines.push(r.ok ? ok : `FAILED: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`);
  out.data(lines.join('\n'));
  if (r.ok && r.rootKeySource === 'bundle') {
    out.warn('note: checked against the root key inside the bundle, which proves it is intact, not who made it; pass your own copy with --root-key');
  }
}
