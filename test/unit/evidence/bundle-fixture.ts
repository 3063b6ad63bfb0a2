/**
 * A real small evidence bundle for the bundle-format tests: a log written by the recorder (openAuditLog over a
 * home made by initKeys, with a key rotation so the chain has two epochs), samples per event type taken from
 * its segment files byte for byte, RFC 6962 inclusion proofs to its newest signed checkpoint, and the
 * manifest, signature, SHA256SUMS and zip written by src/evidence's own functions. `assemble` rebuilds a zip
 * from (possibly altered) parts, so tests can re-sign a changed manifest the way an attacker with a key would.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { openAuditLog } from '../../../recorder/index.js';
import { initKeys, loadKeys, loadPublicKeys } from '../../../recorder/keys.js';
import type { KeyState } from '../../../recorder/keys.js';
import { inclusionProof, leafHash } from '../../../recorder/merkle.js';
import { parseCheckpoint, parseNote } from '../../../recorder/signed-note.js';
import { manifestBytes, sha256sums, signManifest } from '../../../src/evidence/manifest.js';
import type { Artifact, ArtifactDraft, Manifest, ManifestSignature, ProofFile } from '../../../src/evidence/types.js';
import { STANDARD } from '../../../src/evidence/types.js';
import { writeZip } from '../../../src/archive/zip.js';
import { testCtx } from '../../harness/test-ctx.js';

export const ORIGIN = 'bundle.example/pcigate';
export const BUNDLE_ID = '0d6f6c1e-3b7a-4c55-9d1e-5a0b8f1c2d3e';

export interface File { path: string; bytes: Buffer }

export interface BundleFixture {
  home: string;
  rootPub: Buffer;
  key: KeyState;
  /** The evidence files (everything but manifest.json, manifest.sig, SHA256SUMS). */
  artifacts: File[];
  manifest: Manifest;
  /** All files of the zip, in zip order, and the zip. */
  files: File[];
  zip: Buffer;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Writes the log in `dir/home` and builds the bundle. */
export async function makeBundle(dir: string): Promise<BundleFixture> {
  const ctx = testCtx();
  const home = path.join(dir, 'home');
  await initKeys(ctx, home, { origin: ORIGIN });
  const log = await openAuditLog(ctx, { home, checkpointRecords: 4, idleMs: 60_000 });
  const actor = { sub: 'ana@example.com', idp: 'https://idp.example', amr: ['mfa'], via: 'oidc' as const };
  for (let k = 0; k < 14; k++) {
    ctx.clock.advance(10);
    if (k % 5 === 0) await log.append({ type: 'session.start', session: `s-${k}`, actor, outcome: 'success', target: { conn: 'prod-db', kind: 'postgres' } });
    await log.append({ type: 'pg.query', session: `s-${k - (k % 5)}`, actor, outcome: k % 4 === 3 ? 'denied' : 'success', detail: { sql: `select ${k} from orders` } });
    if (k === 7) await log.rotate({ actor });
  }
  await log.append({ type: 'auth.fail', outcome: 'failure', detail: { reason: 'wrong listener secret' } });
  await log.close();

  const lines: Buffer[] = [];
  for (const seg of (await fsp.readdir(path.join(home, 'log'))).filter((f) => f.endsWith('.jsonl')).sort()) {
    const text = await fsp.readFile(path.join(home, 'log', seg));
    let start = 0;
    for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, start)) { lines.push(text.subarray(start, i)); start = i + 1; }
  }
  const leaves = lines.map((l) => leafHash(l));
  const checkpoints = (await fsp.readFile(path.join(home, 'checkpoints.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => {
    const note = (JSON.parse(l) as { note: string }).note;
    const cp = parseCheckpoint(parseNote(note).text);
    return { size: cp.size, root: cp.root.toString('hex'), time: cp.time!, epoch: cp.epoch!, note };
  });
  const newest = checkpoints[checkpoints.length - 1]!;

  const drafts: ArtifactDraft[] = [
    draft('verify-report.json', '{"result":"pass","problems":[]}\n', 'application/json', ['10.3.2'], 'TEST'),
    draft('gaps.csv', 'start,end,cause\r\n', 'text/csv', ['10.7.2', '10.2.1'], 'TEST'),
  ];
  for (const type of ['session.start', 'pg.query', 'auth.fail']) {
    const picked = lines.map((line, seq) => ({ line, seq })).filter((x) => x.seq < newest.size && (JSON.parse(x.line.toString()) as { type: string }).type === type).slice(0, 3);
    const proof: ProofFile = {
      checkpoint: { size: newest.size, root: newest.root },
      proofs: picked.map(({ seq }) => ({ seq, leaf: leaves[seq]!.toString('hex'), path: inclusionProof(leaves, seq, newest.size).map((h) => h.toString('hex')) })),
    };
    drafts.push(draft(`samples/${type}.jsonl`, Buffer.concat(picked.flatMap((p) => [p.line, Buffer.from('\n')])), 'application/x-ndjson', ['10.2.2'], 'EXAMINE'));
    drafts.push(draft(`proofs/${type}.json`, `${JSON.stringify(proof, null, 2)}\n`, 'application/json', ['10.2.2', '10.3.2'], 'TEST'));
  }
  const counters = new Map<string, number>();
  const artifacts: Artifact[] = drafts.map(({ bytes, ...d }) => {
    const n = (counters.get(d.procedures[0]!) ?? 0) + 1;
    counters.set(d.procedures[0]!, n);
    return { ...d, ref: `EV-${d.procedures[0]}-${String(n).padStart(3, '0')}`, sha256: sha256(bytes), size: bytes.length };
  });
  const pub = await loadPublicKeys(ctx, home);
  const key = await loadKeys(ctx, home);
  const first = JSON.parse(lines[0]!.toString()) as { ts: string };
  const last = JSON.parse(lines[lines.length - 1]!.toString()) as { ts: string; seq: number };
  const manifest: Manifest = {
    bundle_id: BUNDLE_ID,
    tool: { name: 'pcigate', version: '0.0.0-test' },
    standard: STANDARD,
    requirements: ['10'],
    period: { since: first.ts, until: last.ts },
    generated: last.ts,
    origin: ORIGIN,
    log: { records: lines.length, first_seq: 0, last_seq: last.seq },
    checkpoints,
    keys: { root: pub.rootPub.toString('base64'), epochs: pub.certs },
    artifacts,
  };
  const files = drafts.map((d) => ({ path: d.path, bytes: d.bytes }));
  const built = assemble(files, manifest, key);
  return { home, rootPub: pub.rootPub, key, artifacts: files, manifest, ...built };
}

function draft(p: string, body: string | Buffer, mediaType: string, procedures: string[], method: 'TEST' | 'EXAMINE'): ArtifactDraft {
  return { path: p, bytes: Buffer.isBuffer(body) ? body : Buffer.from(body), mediaType, description: `test artifact ${p}`, procedures, method };
}

/**
 * manifest.json, manifest.sig (signed by `key`, or `sig` as given), SHA256SUMS over everything, and the zip —
 * the same layout build.ts writes.
 */
export function assemble(artifacts: File[], manifest: Manifest, key: Pick<KeyState, 'epoch' | 'privateKey' | 'publicRaw'>, sig?: ManifestSignature): { files: File[]; zip: Buffer } {
  const mBytes = manifestBytes(manifest);
  const signature = sig ?? signManifest(mBytes, key);
  const contents = [
    ...artifacts,
    { path: 'manifest.json', bytes: mBytes },
    { path: 'manifest.sig', bytes: Buffer.from(`${JSON.stringify(signature, null, 2)}\n`) },
  ];
  const files = [...contents, { path: 'SHA256SUMS', bytes: sha256sums(contents) }];
  return { files, zip: writeZip(files) };
}

/** The artifact list of `manifest` recomputed for changed or removed files (as a re-signing attacker would). */
export function relist(manifest: Manifest, files: File[]): Manifest {
  const byPath = new Map(files.map((f) => [f.path, f.bytes]));
  const artifacts = manifest.artifacts.filter((a) => byPath.has(a.path)).map((a) => {
    const b = byPath.get(a.path)!;
    return { ...a, sha256: sha256(b), size: b.length };
  });
  return { ...manifest, artifacts };
}
