/**
 * A small in-memory log builder for verifier tests that need shapes the real writer will not produce
 * (an epoch skipped in key.rotate, a checkpoint forged with a later key). It follows docs/log-format.md
 * with the project's own canonical JSON, Merkle, signed-note and key code.
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { canonicalize } from '../../../recorder/canonical-json.js';
import { generateEd25519 } from '../../../recorder/ed25519.js';
import type { Ed25519KeyPair } from '../../../recorder/ed25519.js';
import { signEpochCert } from '../../../recorder/keys.js';
import type { SignedEpochCert } from '../../../recorder/keys.js';
import { leafHash, rootOf } from '../../../recorder/merkle.js';
import { epochKeyName, formatCheckpoint, signNote } from '../../../recorder/signed-note.js';
import { formatTs } from '../../../recorder/timestamp.js';
import type { AuditEvent } from '../../../recorder/types.js';
import type { VerifyInput } from '../../../recorder/verify-types.js';

/** A VerifyInput whose segments are bytes in memory (tests edit them). */
export type FixtureInput = Omit<VerifyInput, 'segments' | 'checkpoints' | 'epochs'> & {
  segments: ReadonlyArray<{ name: string; bytes: Uint8Array }>;
  checkpoints?: Uint8Array;
  epochs?: Uint8Array;
};

export const T0 = BigInt(Date.UTC(2026, 10, 22, 12, 0, 0)) * 1000n;

export class FixtureLog {
  readonly origin = 'test.example/pcigate';
  readonly root: Ed25519KeyPair = generateEd25519();
  readonly keys: Ed25519KeyPair[] = [generateEd25519()];
  readonly certs: SignedEpochCert[] = [];
  epoch = 0;
  /** Segment name → lines (without `\n`). */
  readonly segments = new Map<string, string[]>();
  readonly checkpointLines: string[] = [];
  readonly leaves: Buffer[] = [];
  private current = '';
  private prev = '0'.repeat(64);
  clock = T0;

  constructor(readonly segmentRecords = 1_000_000) {
    this.certs.push(signEpochCert({ type: 'pcigate.epoch', origin: this.origin, epoch: 0, pub: this.keys[0]!.publicRaw.toString('base64'), not_before: formatTs(T0) }, this.root.privateKey));
    this.openSegment();
  }

  get size(): number {
    return this.leaves.length;
  }

  private openSegment(): void {
    const name = `${String(this.size).padStart(12, '0')}.jsonl`;
    const prevName = this.current;
    const prevLines = prevName ? this.segments.get(prevName)! : [];
    const prevBytes = Buffer.from(prevLines.map((l) => `${l}\n`).join(''), 'utf8');
    this.current = name;
    this.segments.set(name, []);
    this.write({
      type: 'segment.open',
      detail: {
        segment: name,
        prev_segment: prevName
          ? { file: prevName, first_seq: Number(prevName.slice(0, 12)), last_seq: this.size - 1, last_leaf: this.prev, sha256: sha256Hex(prevBytes), bytes: prevBytes.length }
          : null,
      },
    });
  }

  append(event: AuditEvent): number {
    const lines = this.segments.get(this.current)!;
    if (lines.length >= this.segmentRecords) this.openSegment();
    return this.write(event);
  }

  private write(event: AuditEvent): number {
    this.clock += 1000n;
    const seq = this.size;
    const line = canonicalize({ v: 1, origin: this.origin, seq, ts: formatTs(this.clock), ...event, prev: this.prev });
    const leaf = leafHash(Buffer.from(line, 'utf8'));
    this.leaves.push(leaf);
    this.prev = leaf.toString('hex');
    this.segments.get(this.current)!.push(line);
    return seq;
  }

  /** Signs a checkpoint of the whole log with `key` (default: the epoch in force) and mirrors it. */
  checkpoint(opts: { key?: KeyObject; epoch?: number; mirror?: boolean } = {}): string {
    const epoch = opts.epoch ?? this.epoch;
    const size = this.size;
    const root = rootOf(this.leaves);
    const text = formatCheckpoint({ origin: this.origin, size, root, time: formatTs(this.clock), epoch });
    const note = signNote(text, epochKeyName(this.origin, epoch), opts.key ?? this.keys[this.epoch]!.privateKey);
    this.checkpointLines.push(canonicalize({ note }));
    if (opts.mirror !== false) this.append({ type: 'checkpoint', target: { kind: 'log' }, detail: { size, root: root.toString('hex'), note } });
    return note;
  }

  /** Rotation as the contract describes it; `to` may skip an epoch to build a broken log. */
  rotate(to = this.epoch + 1): void {
    this.checkpoint();
    while (this.keys.length <= to) this.keys.push(generateEd25519());
    const cert = signEpochCert({ type: 'pcigate.epoch', origin: this.origin, epoch: to, pub: this.keys[to]!.publicRaw.toString('base64'), not_before: formatTs(this.clock) }, this.keys[this.epoch]!.privateKey);
    this.certs.push(cert);
    this.append({ type: 'key.rotate', detail: { from_epoch: this.epoch, to_epoch: to, cert } });
    this.epoch = to;
    this.checkpoint();
  }

  events(n: number): void {
    for (let k = 0; k < n; k++) this.append({ type: 'pg.query', session: 's-1', outcome: 'success', detail: { sql: `select ${k}` } });
  }

  segmentBytes(name: string): Buffer {
    return Buffer.from(this.segments.get(name)!.map((l) => `${l}\n`).join(''), 'utf8');
  }

  input(over: Partial<FixtureInput> = {}): FixtureInput {
    return {
      segments: [...this.segments.keys()].map((name) => ({ name, bytes: this.segmentBytes(name) })),
      checkpoints: Buffer.from(this.checkpointLines.map((l) => `${l}\n`).join(''), 'utf8'),
      epochs: Buffer.from(this.certs.map((c) => `${canonicalize(c)}\n`).join(''), 'utf8'),
      rootKey: { raw: this.root.publicRaw, source: 'user' },
      origin: this.origin,
      nowMicros: Number(this.clock) + 1_000_000,
      maxUnsealedMicros: 3600e6,
      blob: () => undefined,
      ...over,
    };
  }
}

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Lines of a segment's bytes (without the trailing empty string). */
export function linesOf(b: Uint8Array): string[] {
  const l = Buffer.from(b).toString('utf8').split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
}

export function joinLines(l: string[]): Buffer {
  return Buffer.from(l.map((x) => `${x}\n`).join(''), 'utf8');
}
