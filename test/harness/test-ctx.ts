/** testCtx(): a Ctx with in-memory stdout/stderr, a fixed (advanceable) clock and the real file system. */
import * as fsp from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type { Clock, Ctx, OutStream } from '../../src/cli/ctx.js';

export interface BufferStream extends OutStream {
  text(): string;
}

export function bufferStream(isTTY = false): BufferStream {
  const chunks: Buffer[] = [];
  return {
    isTTY,
    columns: 100,
    write(chunk) {
      chunks.push(Buffer.from(chunk));
      return true;
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

export interface TestClock extends Clock {
  advance(ms: number): void;
}

export function fixedClock(startMs = Date.UTC(2026, 10, 22, 12, 0, 0)): TestClock {
  let us = BigInt(startMs) * 1000n;
  return {
    now: () => Number(us / 1000n),
    micros: () => us,
    advance: (ms: number) => { us += BigInt(Math.round(ms * 1000)); },
  };
}

export function testCtx(over: Partial<Ctx> & { env?: Ctx['env'] } = {}): Ctx & { stdout: BufferStream; stderr: BufferStream; clock: TestClock } {
  const controller = new AbortController();
  return {
    stdout: bufferStream(),
    stderr: bufferStream(),
    stdin: new PassThrough(),
    env: {},
    cwd: process.cwd(),
    clock: fixedClock(),
    fs: fsp,
    fetch: globalThis.fetch.bind(globalThis),
    log: { debug: () => {}, warn: () => {} },
    user: { name: 'tester', uid: 1000 },
    interrupt: controller.signal,
    ...over,
  } as Ctx & { stdout: BufferStream; stderr: BufferStream; clock: TestClock };
}
