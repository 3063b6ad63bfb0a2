import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../harness/cli.js';

describe('pcigate keys', () => {
  it('init, show, rotate, show on a fresh home; init again refuses', async () => {
    const dir = tempDir();
    const home = path.join(dir, 'home');
    const rootOut = path.join(dir, 'root.pem');
    const init = await runCli(['keys', 'init', '--home', home, '--origin', 'cli.test/log', '--root-key-out', rootOut, '--json']);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    const j = JSON.parse(init.stdout);
    expect(j).toMatchObject({ origin: 'cli.test/log', epoch: 0, root_key_out: rootOut });
    expect(readFileSync(path.join(home, 'keys', 'root.pub'), 'utf8')).toBe(`ed25519 ${j.root_pub}\n`);
    expect(statSync(rootOut).mode & 0o777).toBe(0o600);
    expect(readFileSync(rootOut, 'utf8')).toContain('BEGIN PRIVATE KEY');

    const again = await runCli(['keys', 'init', '--home', home]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already initialised');
    expect(again.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace

    const rot = await runCli(['keys', 'rotate', '--json'], { env: { PCIGATE_HOME: home } });
    expect(rot.code).toBe(0);
    expect(JSON.parse(rot.stdout)).toMatchObject({ origin: 'cli.test/log', from_epoch: 0, to_epoch: 1 });

    const show = await runCli(['keys', 'show', '--home', home, '--json']);
    expect(show.code).toBe(0);
    const s = JSON.parse(show.stdout);
    expect(s).toMatchObject({ origin: 'cli.test/log', root_pub: j.root_pub, current_epoch: 1 });
    expect(s.epochs.map((e: { epoch: number; current: boolean }) => [e.epoch, e.current])).toEqual([[0, false], [1, true]]);
    expect(s.epochs[0].pub).toBe(j.epoch_pub);
    expect(s.epochs[1].name).toBe('cli.test/log#e1');
    expect(show.stdout).not.toContain('PRIVATE');

    const human = await runCli(['keys', 'show', '--home', home]);
    expect(human.stdout).toContain('cli.test/log');
    expect(human.stdout).toMatch(/^1\*\s+[0-9a-f]{8}\s/m);
    expect(existsSync(path.join(home, 'log', '000000000000.jsonl'))).toBe(true);
  });

  it('show and rotate on a home without keys say so clearly', async () => {
    const home = path.join(tempDir(), 'empty');
    const show = await runCli(['keys', 'show', '--home', home]);
    expect(show.code).toBe(1);
    expect(show.stderr).toContain('keys init');
    const rot = await runCli(['keys', 'rotate', '--home', home]);
    expect(rot.code).toBe(1);
    expect(rot.stderr).toContain('no audit log keys');
  });
});
