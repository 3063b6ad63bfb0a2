/**
 * The audit log writer (docs/log-format.md, ARCHITECTURE.md §4): gapless seq, `prev` chain, RFC 6962 leaves,
 * segments that commit to their predecessor, group commit with fdatasync, fail-closed appends with a
 * `log.gap` record once writing works again, torn-tail recovery on open, signed checkpoints and key epochs.
 *
 * Group commit: appends queue up while one write + fdatasync is in flight; the next batch takes the whole
 * queue, so under load many records share one write and one fdatasync, and each append resolves only once
 * its bytes are durable. With several sessions busy a batch waits a fraction of a millisecond for the
 * others' next records (commitDelay). Signing happens off the append path (checkpoints run from timers,
 * serialised with rotation and close on their own chain).
 *
 * Batches are written into room reserved past the records (newlines, made durable ahead: `reserve`), so that
 * their fdatasync has no file length to commit (docs/log-format.md "Reserved room").
 *
 * Durability `os` (audit.durability): an append resolves once write(2) returned; one background fdatasync
 * covers everything written in the last `syncIntervalMs`. A failed fdatasync fails closed like a failed
 * write: appends are rejected until the unsynced bytes have been written again and synced (UnsyncedTail),
 * and a `log.gap` says so. Checkpoints, rollover and close sync first, so a signed checkpoint never
 * covers a record that is not durable.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Ctx } from '../src/cli/ctx.js';
import { VERSION } from '../src/cli/version.js';
import { AuditWriteError, KeyError } from '../src/errors.js';
import { hashBlob } from './blob.js';
import { recordLine } from './record-line.js';
import { canonicalize } from './canonical-json.js';
import { appendLineDurable, cutTornLine, ensurePrivateDir, fsyncDir, writeAllTo } from './durable-fs.js';
import { UnsyncedTail } from './unsynced-tail.js';
import { initKeys, isInitialised, loadKeys, rotateKeys } from './keys.js';
import type { KeyState } from './keys.js';
import { acquireLogLock, ownPid } from './log-lock.js';
import type { LogLock } from './log-lock.js';
import { LeafLines, LineArena } from './merkle.js';
import type { MerkleAccumulator } from './merkle.js';
import { scanLog, segmentName } from './segment-scan.js';
import type { PrevSegment, Recovered } from './segment-scan.js';
import { formatCheckpoint, parseCheckpoint, parseNote, signNote } from './signed-note.js';
import { formatTs } from './timestamp.js';
import type { AuditLog, AuditLogOptions, CheckpointInfo } from './audit-log.js';
import type { Actor, AuditEvent, BlobRef } from './types.js';

interface Pending {
  event: AuditEvent;
  resolve: (r: { seq: number; leaf: string }) => void;
  reject: (e: unknown) => void;
}

interface Segment {
  file: string;
  /** Opened for positional writes (not O_APPEND): records go at `bytes`, into the room `reserve` made past them. */
  fh: FileHandle;
  firstSeq: number;
  /** Durable length. */
  bytes: number;
  /** The file's length: the records' bytes, then reserved room (newlines) the next batches are written into. */
  end: number;
  /** SHA-256 over the durable bytes, for the next segment's `prev_segment`. */
  hash: ReturnType<typeof createHash>;
  prev: PrevSegment | null;
  /** A failed write may have left bytes past `bytes`: truncate before the next write. */
  dirty: boolean;
}

/**
 * Opens (and on first use with createIfMissing, creates) the audit log of `opts.home`, takes its lock,
 * recovers a torn tail, and appends `log.start`. Throws HomeError for an unusable home, KeyError for
 * missing or broken keys, AuditWriteError when another process holds the log.
 */
export async function openAuditLog(ctx: Ctx, opts: AuditLogOptions): Promise<AuditLog> {
  if (!(await isInitialised(ctx, opts.home))) {
    // Checked before creating anything, so that a mistyped --home leaves no empty directory behind.
    if (!opts.createIfMissing) {
      throw new KeyError(`${opts.home} has no audit log keys`, { hint: 'run `pcigate keys init` first' });
    }
    await ensurePrivateDir(ctx.fs, opts.home);
    const origin = typeof opts.createIfMissing === 'object' ? opts.createIfMissing.origin : undefined;
    try {
      await initKeys(ctx, opts.home, origin === undefined ? {} : { origin });
    } catch (e) {
      // Another first start of this home initialised it meanwhile: its keys are the home's.
      if (!(await isInitialised(ctx, opts.home))) throw e;
    }
  }
  const logDir = path.join(opts.home, 'log');
  await ensurePrivateDir(ctx.fs, logDir);
  await ensurePrivateDir(ctx.fs, path.join(opts.home, 'recordings')); // where commitBlob's files live
  const pid = opts.pid ?? (await ownPid(ctx.fs, ctx.processes));
  const lock = await acquireLogLock(ctx.fs, logDir, pid, ctx.processes);
  let writer: AuditLogWriter | undefined;
  try {
    const keys = await loadKeys(ctx, opts.home);
    const scan = await scanLog(ctx.fs, logDir, await sealedSize(ctx.fs, path.join(opts.home, 'checkpoints.jsonl')));
    let seg: Segment;
    if (scan.last) {
      // scanLog cut any reserved room (and a torn tail): the file ends where its records do.
      const fh = await ctx.fs.open(path.join(logDir, scan.last.file), SEGMENT_FLAGS, 0o600);
      seg = { file: scan.last.file, fh, firstSeq: scan.last.firstSeq, bytes: scan.last.bytes, end: scan.last.bytes, hash: scan.last.hash, prev: scan.last.prev, dirty: false };
    } else {
      const file = segmentName(0);
      const fh = await ctx.fs.open(path.join(logDir, file), SEGMENT_FLAGS, 0o600);
      await fsyncDir(ctx.fs, logDir);
      seg = { file, fh, firstSeq: 0, bytes: 0, end: 0, hash: createHash('sha256'), prev: null, dirty: false };
    }
    // A checkpoint line a crash (or a full disk) cut short: cut, so the next one starts a line (verify warns of it).
    const checkpoints = path.join(opts.home, 'checkpoints.jsonl');
    const cut = await cutTornLine(ctx.fs, checkpoints);
    const checkpointsCut = cut > 0 ? { segment: 'checkpoints.jsonl', offset: (await ctx.fs.stat(checkpoints)).size, bytes: cut, reason: 'a last line without its newline: a checkpoint append cut short' } : undefined;
    writer = new AuditLogWriter(ctx, opts, keys, lock, seg, scan.acc, scan.lastLeaf);
    await writer.start(scan.recovered, pid, checkpointsCut);
    return writer;
  } catch (e) {
    if (writer) await writer.abandon();
    else await lock.release();
    throw e;
  }
}

/**
 * The size of the newest checkpoint in checkpoints.jsonl (its last line that parses, read from the file's end), or 0
 * when there is none: how many records recovery must not cut below (scanLog). Its signature is verify's to check;
 * here it only keeps a damaged segment from being shortened.
 */
async function sealedSize(fs: Ctx['fs'], file: string): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch {
    return 0;
  }
  try {
    const { size } = await fh.stat();
    const n = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(n);
    await fh.read(buf, 0, n, size - n);
    const lines = buf.toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= (n < size ? 1 : 0); i--) {
      try {
        const { note } = JSON.parse(lines[i]!) as { note?: unknown };
        if (typeof note === 'string') return parseCheckpoint(parseNote(note).text).size;
      } catch {
        // a torn or foreign line: the one before
      }
    }
    return 0;
  } catch {
    return 0;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * A segment file is opened read-write, created if missing, never truncated and not for append: a batch is written at
 * the records' end, which is before the file's end while reserved room follows (reserve).
 */
const SEGMENT_FLAGS = fsConstants.O_RDWR | fsConstants.O_CREAT;

/**
 * The room the writer reserves past its records: newlines, written (and made durable with the batch that needed
 * them) before the batches that fill them. An fdatasync that has no file length or block allocation to commit writes
 * only the data: measured on this project's ext4 machine, a 1.3 KB append and fdatasync took ~195 µs, a write of it
 * into reserved room ~135 µs (docs/pg-proxy.md "Throughput"). PostgreSQL fills WAL segments with zeros ahead for the
 * same reason. Each reservation holds about a second of records at the rate since the last one, in powers of two
 * from RESERVE_MIN to RESERVE_MAX: a busy log extends its file once a second at most, a quiet one reserves little
 * (on a full disk, what is reserved still takes records; a quiet log refuses soon after). Readers stop at the records'
 * end (segment-scan.ts recordsEnd, withoutReserve); the writer cuts the room from a segment it leaves (rollover,
 * close), and from its newest segment on open.
 */
const RESERVE_MIN = 4096;
const RESERVE_MAX = 1 << 20;
let reserveChunk: Buffer | undefined;

/** fsync mode: longest wait for more records to share a batch's fdatasync (default), and at most this many loop turns. */
const COMMIT_DELAY_MS = 0.4;
const COMMIT_DELAY_TURNS = 32;

/** How many sessions have records in `batch`. */
function sessionCount(batch: readonly Pending[]): number {
  const seen = new Set<string>();
  for (const p of batch) if (p.event.session !== undefined) seen.add(p.event.session);
  return seen.size;
}

class AuditLogWriter implements AuditLog {
  private readonly logDir: string;
  private readonly checkpointsFile: string;
  private readonly intervalMs: number;
  private readonly cpRecords: number;
  private readonly idleMs: number;
  private readonly epochUs: bigint;
  private readonly maxBytes: number;
  private queue: Pending[] = [];
  private flushing = false;
  private gap: { start: string; end: string; cause: string; lost: number } | undefined;
  private sinceCheckpoint = 0;
  private lastCheckpointSize = -1;
  /** Hex root of that checkpoint: what a rotation's certificate binds (EpochCert log_size, log_root). */
  private lastCheckpointRoot = '';
  private cpRequested = false;
  private ops: Promise<unknown> = Promise.resolve();
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private accepting = true;
  private rotationQueued = false;
  /** `os` durability: what write(2) returned but no fdatasync covered yet (null in `fsync` mode). */
  private readonly tail: UnsyncedTail | null;
  private readonly syncIntervalMs: number;
  private readonly commitDelayMs: number;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private syncInFlight: Promise<void> | null = null;
  /** A background fdatasync failed: appends fail closed until the tail is repaired. */
  private syncFailed: unknown;

  constructor(
    private readonly ctx: Ctx,
    private readonly opts: AuditLogOptions,
    private keys: KeyState,
    private readonly lock: LogLock,
    private seg: Segment,
    private readonly acc: MerkleAccumulator,
    /** The last record's leaf hash, lowercase hex (the next record's `prev`). */
    private lastLeaf: string,
  ) {
    this.logDir = path.join(opts.home, 'log');
    this.checkpointsFile = path.join(opts.home, 'checkpoints.jsonl');
    this.intervalMs = opts.checkpointIntervalMs ?? 10_000;
    this.cpRecords = opts.checkpointRecords ?? 1000;
    this.idleMs = opts.idleMs ?? 1000;
    this.epochUs = BigInt(Math.round((opts.epochLengthMs ?? 24 * 3600_000) * 1000));
    this.maxBytes = opts.segmentMaxBytes ?? 64 * 1024 * 1024;
    this.tail = opts.durability === 'os' ? new UnsyncedTail(seg.bytes) : null;
    this.syncIntervalMs = opts.syncIntervalMs ?? 50;
    this.commitDelayMs = opts.commitDelayMs ?? COMMIT_DELAY_MS;
  }

  get size(): number {
    return this.acc.size;
  }

  get origin(): string {
    return this.keys.origin;
  }

  get epoch(): number {
    return this.keys.epoch;
  }

  /** Recovery note, log.start, an overdue rotation, a new log's first checkpoint, then the timers. */
  async start(recovered: Recovered | undefined, pid: number, checkpointsCut?: Recovered): Promise<void> {
    const wasEmpty = this.acc.size === 0;
    if (recovered) await this.enqueue({ type: 'log.recovered', target: { kind: 'log' }, detail: { ...recovered } });
    if (checkpointsCut) await this.enqueue({ type: 'log.recovered', target: { kind: 'log' }, detail: { ...checkpointsCut } });
    await this.enqueue({ type: 'log.start', target: { kind: 'log' }, detail: { version: VERSION, pid, host: os.hostname() } });
    if (this.epochExpired()) await this.rotate();
    // A new log is signed as soon as it exists, so that `pcigate verify` run beside a broker that has just
    // created its home finds a checkpoint (a log with none fails verify: `unsigned`). Only for a log that
    // was empty: an existing log's unsealed tail waits for the timers, as before.
    if (wasEmpty) await this.checkpoint();
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref(); // a checkpoint timer must not keep the process alive
      this.timers.push(t);
    };
    every(this.intervalMs, () => { if (this.sinceCheckpoint > 0) this.requestCheckpoint(); });
    every(Math.max(1000, Math.min(Number(this.epochUs / 1000n), 60_000)), () => {
      if (!this.rotationQueued && this.epochExpired()) {
        this.rotationQueued = true;
        // Re-checked inside: an explicit rotate() may have run while this one waited its turn.
        this.rotateKeysNow({}, true).catch((e: unknown) => this.warn('key rotation', e)).finally(() => { this.rotationQueued = false; });
      }
    });
  }

  append(event: AuditEvent): Promise<{ seq: number; leaf: string }> {
    if (!this.accepting) return Promise.reject(new AuditWriteError('the audit log is closed'));
    if (typeof event?.type !== 'string' || event.type.length === 0) {
      return Promise.reject(new AuditWriteError('an audit event needs a non-empty type'));
    }
    return this.enqueue(event);
  }

  commitBlob(file: string, kind: string): Promise<BlobRef> {
    return hashBlob(this.ctx.fs, this.opts.home, file, kind);
  }

  checkpoint(): Promise<CheckpointInfo | undefined> {
    return this.serial(() => this.makeCheckpoint());
  }

  rotate(opts: { actor?: Actor } = {}): Promise<{ from_epoch: number; to_epoch: number }> {
    return this.rotateKeysNow(opts, false);
  }

  private rotateKeysNow(opts: { actor?: Actor }, onlyIfExpired: boolean): Promise<{ from_epoch: number; to_epoch: number }> {
    return this.serial(async () => {
      if (this.closed || (onlyIfExpired && !this.epochExpired())) return { from_epoch: this.keys.epoch, to_epoch: this.keys.epoch };
      await this.makeCheckpoint(); // sealed by the old key
      // The old key also certifies that tree head in the new key's certificate: once it is destroyed, the
      // records it sealed are pinned by a signature no later key can make (docs/log-format.md "Key epochs").
      // makeCheckpoint made it now, or earlier in this process when nothing came since (start() appends
      // log.start first, so a checkpoint always exists here).
      const handover = this.lastCheckpointSize > 0 ? { size: this.lastCheckpointSize, root: this.lastCheckpointRoot } : undefined;
      const r = await rotateKeys(this.ctx, this.opts.home, this.keys, handover);
      this.keys = r.state;
      const detail = { from_epoch: r.fromEpoch, to_epoch: r.state.epoch, cert: r.cert };
      const actor: Actor = opts.actor ?? { sub: 'pcigate', via: 'system' };
      await this.enqueue({ type: 'key.rotate', actor, target: { kind: 'keys' }, outcome: 'success', detail: { ...detail } });
      await this.makeCheckpoint(); // first checkpoint of the new epoch, covering key.rotate
      return { from_epoch: detail.from_epoch, to_epoch: detail.to_epoch };
    });
  }

  close(): Promise<void> {
    if (this.closed || !this.accepting) return this.ops.then(() => undefined);
    this.accepting = false;
    return this.serial(async () => {
      this.stopTimers();
      try {
        await this.enqueue({ type: 'log.stop', target: { kind: 'log' } });
        await this.makeCheckpoint();
        await this.syncNow(); // `os` mode: the checkpoint mirror, the last record, is durable too
        // A closed log's files end with their last record. Left (a failing disk), the room is cut on the next open.
        await this.trimReserve(this.seg).catch((e: unknown) => this.warn('cutting the reserved room', e));
      } finally {
        await this.abandon();
      }
    });
  }

  /** Releases the file and the lock without writing anything (open failed, or after close). */
  async abandon(): Promise<void> {
    this.accepting = false;
    this.stopTimers();
    if (this.closed) return;
    this.closed = true;
    await this.seg.fh.close().catch(() => undefined);
    await this.lock.release();
  }

  // ---- group commit ----

  private enqueue(event: AuditEvent): Promise<{ seq: number; leaf: string }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Started once the event loop has handled every socket that was readable (setImmediate runs
        // after the poll phase's callbacks): the proxy forwards a read to the server first and the record
        // is encoded and written while the server works on it, and the statements of all sessions that
        // arrived together share one batch — one write, one fdatasync. No response can be read from a
        // server before the next poll phase, so a read waits no longer for its record than it did.
        setImmediate(() => void this.flushLoop());
      }
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        if (!this.tail) await this.commitDelay();
        const batch = this.queue;
        this.queue = [];
        this.lastBatchSessions = sessionCount(batch);
        await this.writeBatch(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** How many sessions had records in the batch last taken (commitDelay). */
  private lastBatchSessions = 0;
  /** Where batches are encoded (one at a time: writeBatch runs in flushLoop only). */
  private readonly arena = new LineArena();

  /**
   * `fsync` mode's commit delay (PostgreSQL's commit_delay with commit_siblings, adapted). When the last
   * batch carried records of more than one session, the sessions it released are about to send their next
   * statements: the batch waits up to commitDelayMs (default 0.4 ms; event-loop turns, each of which
   * reads what has arrived) until it has records of as many sessions as the last one, so those statements
   * share its fdatasync instead of queueing behind it one by one (without it, 8 pgbench clients settled
   * into batches of ~3 statements with the disk idle between them). One session alone is never delayed.
   */
  private async commitDelay(): Promise<void> {
    if (this.lastBatchSessions < 2) return;
    const until = performance.now() + this.commitDelayMs;
    for (let turn = 0; turn < COMMIT_DELAY_TURNS && sessionCount(this.queue) < this.lastBatchSessions && performance.now() < until; turn++) {
      await new Promise<void>((r) => { setImmediate(r); });
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    const ts = formatTs(this.ctx.clock.micros());
    try {
      if (this.closed) throw new Error('the audit log is closed');
      if (this.syncFailed !== undefined) await this.repairTail();
      if (this.seg.bytes >= this.maxBytes) await this.rollover();
      if (this.seg.dirty) {
        await this.seg.fh.truncate(this.seg.bytes);
        this.seg.dirty = false;
        this.seg.end = this.seg.bytes;
      }
    } catch (e) {
      this.failBatch(batch, ts, e);
      return;
    }
    const internal: AuditEvent[] = [];
    if (this.seg.bytes === 0) internal.push({ type: 'segment.open', target: { kind: 'log' }, detail: { segment: this.seg.file, prev_segment: this.seg.prev } });
    if (this.gap) internal.push({ type: 'log.gap', target: { kind: 'log' }, outcome: 'failure', detail: { ...this.gap } });
    let seq = this.acc.size;
    let prev = this.lastLeaf;
    const origin = this.keys.origin;
    const leaves: string[] = [];
    const types: string[] = [];
    const done: Array<{ p: Pending; seq: number; leaf: string }> = [];
    const lines = new LeafLines(this.arena);
    const add = (ev: AuditEvent): string => {
      const leaf = lines.add(recordLine(ev, origin, seq, ts, prev));
      leaves.push(leaf);
      types.push(ev.type);
      prev = leaf;
      seq++;
      return leaf;
    };
    for (const ev of internal) add(ev);
    const live: Pending[] = [];
    for (const p of batch) {
      let leaf: string;
      try {
        leaf = add(p.event);
      } catch (e) {
        p.reject(new AuditWriteError(`audit event ${p.event.type} cannot be encoded: ${(e as Error).message}`, { cause: e }));
        continue;
      }
      live.push(p);
      done.push({ p, seq: seq - 1, leaf });
    }
    if (leaves.length === internal.length) return; // nothing of the callers' survived encoding
    const buf = lines.bytes();
    try {
      if (this.seg.bytes + buf.length > this.seg.end) await this.reserve(this.seg.bytes + buf.length);
      const written = writeAllTo(this.seg.fh, buf, this.seg.bytes);
      if (written) await written;
      if (!this.tail) await this.seg.fh.datasync();
    } catch (e) {
      this.seg.dirty = true;
      // The cut is made durable at once: after an OS crash the rejected records must not be back in the log. If it
      // fails too (a failing disk), the next batch cuts again first and its own fdatasync covers the cut.
      await this.seg.fh.truncate(this.seg.bytes).then(() => this.seg.fh.datasync()).then(() => { this.seg.dirty = false; this.seg.end = this.seg.bytes; }, () => undefined);
      this.failBatch(live, ts, e);
      return;
    }
    this.seg.bytes += buf.length;
    this.written += buf.length;
    this.seg.hash.update(buf);
    if (this.tail) { this.tail.add(buf); this.armSync(); }
    for (const leaf of leaves) this.acc.appendHex(leaf);
    this.lastLeaf = prev;
    this.gap = undefined;
    for (const t of types) if (t !== 'checkpoint') this.sinceCheckpoint++;
    for (const d of done) d.p.resolve({ seq: d.seq, leaf: d.leaf });
    if (this.sinceCheckpoint >= this.cpRecords) this.requestCheckpoint();
    this.touchIdle();
  }

  /** Bytes of records written since the log opened, and when (performance.now) and at what count room was last reserved. */
  private written = 0;
  private reserved = { at: -1, written: 0 };

  /**
   * Makes room past the records for the batch that ends at `upTo` and about a second of records after it (see
   * RESERVE_MIN), written now and made durable by that batch's fdatasync. A failure (a full disk) fails the batch,
   * which cuts the file back.
   */
  private async reserve(upTo: number): Promise<void> {
    reserveChunk ??= Buffer.alloc(RESERVE_MAX, 0x0a);
    const now = performance.now();
    // The first reservation knows no rate yet: the least room.
    const rate = this.reserved.at < 0 ? 0 : ((this.written - this.reserved.written) * 1000) / Math.max(1, now - this.reserved.at);
    let room = RESERVE_MIN;
    while (room < rate && room < RESERVE_MAX) room *= 2;
    this.reserved = { at: now, written: this.written };
    const to = upTo + room;
    let end = this.seg.end;
    this.seg.dirty = true; // until the batch is written: a failure part-way leaves room to cut
    while (end < to) {
      const n = Math.min(RESERVE_MAX, to - end);
      const written = writeAllTo(this.seg.fh, reserveChunk.subarray(0, n), end);
      if (written) await written;
      end += n;
    }
    this.seg.end = end;
    this.seg.dirty = false;
  }

  /** Cuts a segment's reserved room and makes that durable: a segment the writer leaves ends where its records do. */
  private async trimReserve(seg: Segment): Promise<void> {
    if (seg.end === seg.bytes && !seg.dirty) return;
    await seg.fh.truncate(seg.bytes);
    await seg.fh.datasync();
    seg.end = seg.bytes;
    seg.dirty = false;
  }

  /** Rejects a batch (callers fail closed) and widens the pending `log.gap`. */
  private failBatch(batch: Pending[], ts: string, e: unknown): void {
    const cause = this.widenGap(ts, e, batch.length);
    const failure = new AuditWriteError(`the audit log could not durably write ${batch.length} record(s): ${cause}`, { cause: e });
    for (const p of batch) p.reject(failure);
  }

  // ---- `os` durability: background fdatasync ----

  /** Schedules the next background fdatasync, at most one per `syncIntervalMs`. */
  private armSync(): void {
    if (this.syncTimer || this.syncInFlight || this.closed) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.startSync();
    }, this.syncIntervalMs);
    this.syncTimer.unref(); // written bytes are in the kernel: they survive this process exiting
  }

  private startSync(): Promise<void> {
    const tail = this.tail;
    if (!tail || this.syncFailed !== undefined || this.closed) return Promise.resolve();
    if (this.syncInFlight) return this.syncInFlight;
    if (!tail.pending) return Promise.resolve();
    const fh = this.seg.fh;
    this.syncInFlight = tail.sync(fh).then(
      () => undefined,
      (e: unknown) => {
        // Fail closed from here: the next batch must repair the tail before anything else is written.
        this.syncFailed = e;
        this.widenGap(formatTs(this.ctx.clock.micros()), e, 0);
        this.warn('fdatasync', e);
      },
    ).finally(() => {
      this.syncInFlight = null;
      if (tail.pending && this.syncFailed === undefined) this.armSync();
    });
    return this.syncInFlight;
  }

  /**
   * Makes everything written so far durable (`os` mode; a no-op in `fsync` mode, where it already is):
   * before a checkpoint is signed, a segment is closed, or the log is closed. Throws AuditWriteError when
   * the disk fails; the flush loop repairs the tail on its next batch.
   */
  private async syncNow(): Promise<void> {
    if (!this.tail) return;
    if (this.syncTimer) { clearTimeout(this.syncTimer); this.syncTimer = undefined; }
    if (this.syncInFlight) await this.syncInFlight;
    if (this.syncFailed === undefined && this.tail.pending) await this.startSync();
    if (this.syncFailed !== undefined) {
      throw new AuditWriteError(`the audit log could not fdatasync: ${causeOf(this.syncFailed)}`, { cause: this.syncFailed });
    }
  }

  /** After a failed background fdatasync: rewrite and sync the unsynced bytes (throws while the disk fails). */
  private async repairTail(): Promise<void> {
    if (this.syncInFlight) await this.syncInFlight;
    if (this.syncTimer) { clearTimeout(this.syncTimer); this.syncTimer = undefined; }
    await this.tail!.repair(this.seg.fh);
    this.seg.end = this.seg.bytes; // repair cut the reserved room with the unsynced bytes
    this.syncFailed = undefined;
  }

  /** Notes a failure (a rejected batch, or a failed background fdatasync with `lost` 0) in the pending log.gap. */
  private widenGap(ts: string, e: unknown, lost: number): string {
    const cause = causeOf(e);
    if (this.gap) {
      this.gap.end = ts;
      this.gap.cause = cause;
      this.gap.lost += lost;
    } else {
      this.gap = { start: ts, end: ts, cause, lost };
    }
    return cause;
  }

  /** Starts the segment named after the next seq; its first record (segment.open) commits to this one. */
  private async rollover(): Promise<void> {
    await this.syncNow(); // the old segment is complete and durable before the new one commits to it
    const old = this.seg;
    await this.trimReserve(old); // only the newest segment may hold reserved room (verify reads the others whole)
    const prev: PrevSegment = {
      file: old.file, first_seq: old.firstSeq, last_seq: this.acc.size - 1, last_leaf: this.lastLeaf,
      sha256: old.hash.copy().digest('hex'), bytes: old.bytes,
    };
    const file = segmentName(this.acc.size);
    const fh = await this.ctx.fs.open(path.join(this.logDir, file), SEGMENT_FLAGS, 0o600);
    await fsyncDir(this.ctx.fs, this.logDir);
    this.seg = { file, fh, firstSeq: this.acc.size, bytes: 0, end: 0, hash: createHash('sha256'), prev, dirty: false };
    this.tail?.reset(0);
    await old.fh.close().catch(() => undefined);
  }

  // ---- checkpoints ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.ops.then(fn, fn);
    this.ops = p.catch(() => undefined);
    return p;
  }

  private requestCheckpoint(): void {
    if (this.cpRequested || this.closed) return;
    this.cpRequested = true;
    this.serial(async () => {
      this.cpRequested = false;
      if (this.sinceCheckpoint > 0 && !this.closed) await this.makeCheckpoint();
    }).catch((e: unknown) => this.warn('checkpoint', e));
  }

  private touchIdle(): void {
    if (this.closed) return;
    if (!this.idleTimer) {
      this.idleTimer = setTimeout(() => { if (this.sinceCheckpoint > 0) this.requestCheckpoint(); }, this.idleMs);
      this.idleTimer.unref();
    } else {
      this.idleTimer.refresh();
    }
  }

  /** Signs the durable tree, appends it to checkpoints.jsonl (fsync'd), then mirrors it into the log. */
  private async makeCheckpoint(): Promise<CheckpointInfo | undefined> {
    const size = this.acc.size;
    if (size === 0 || size === this.lastCheckpointSize) return undefined;
    const root = this.acc.root();
    const counted = this.sinceCheckpoint;
    this.sinceCheckpoint = 0;
    try {
      await this.syncNow(); // `os` mode: never sign records that are only in the page cache
    } catch (e) {
      this.sinceCheckpoint += counted;
      throw e;
    }
    const epoch = this.keys.epoch;
    const text = formatCheckpoint({ origin: this.keys.origin, size, root, time: formatTs(this.ctx.clock.micros()), epoch });
    const note = signNote(text, this.keys.keyName, this.keys.privateKey);
    try {
      await appendLineDurable(this.ctx.fs, this.checkpointsFile, canonicalize({ note }));
    } catch (e) {
      this.sinceCheckpoint += counted; // still unsealed: the timers try again
      throw new AuditWriteError(`could not append a checkpoint to ${this.checkpointsFile}: ${(e as Error).message}`, { cause: e });
    }
    this.lastCheckpointSize = size;
    this.lastCheckpointRoot = root.toString('hex');
    const info: CheckpointInfo = { size, root: root.toString('hex'), epoch, note };
    await this.enqueue({ type: 'checkpoint', target: { kind: 'log' }, detail: { size, root: info.root, note } });
    return info;
  }

  private epochExpired(): boolean {
    return this.ctx.clock.micros() - this.keys.notBefore >= this.epochUs;
  }

  private stopTimers(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private warn(what: string, e: unknown): void {
    this.ctx.log.warn(`audit log ${what} failed: ${(e as Error)?.message ?? String(e)}`);
  }
}

/** `"<errno code>: <message>"`, the `cause` of log.gap. */
function causeOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const message = err?.message ?? String(e);
  // Node's own errno messages already begin with the code ("ENOSPC: no space left on device, write").
  return err?.code && !message.startsWith(`${err.code}:`) ? `${err.code}: ${message}` : message;
}

// Kept importable from here too: other areas import these types from this module.
export type { AuditLog, AuditLogOptions, CheckpointInfo } from './audit-log.js';
export { auditLogOptionsFromConfig } from './audit-log.js';
