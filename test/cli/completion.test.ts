/**
 * `pcigate completion`: the scripts in completions/ match what the registry generates (a drift fails here),
 * the bash script loads in bash (`complete -p pcigate`) and completes commands, sub-commands, flags, choices
 * and connection names asked from the real CLI; zsh and fish parse it where installed.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, tempDir } from '../harness/cli.js';

const FILES = { bash: 'pcigate.bash', zsh: '_pcigate', fish: 'pcigate.fish' } as const;
const has = (prog: string) => spawnSync('sh', ['-c', `command -v ${prog}`]).status === 0;

let dir: string;
let env: Record<string, string>;

beforeAll(() => {
  dir = tempDir('pcigate-completion-');
  // `pcigate` on PATH is the built CLI, as after `npm install -g`.
  writeFileSync(path.join(dir, 'pcigate'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(path.join(dir, 'pcigate'), 0o755);
  writeFileSync(path.join(dir, 'pcigate.yaml'), [
    'version: 1', 'connections:',
    '  prod-db: { kind: postgres, host: db.example.com, database: payments, user: broker }',
    '  reports: { kind: postgres, host: db.example.com, database: reports, user: broker }', '',
  ].join('\n'), { mode: 0o600 });
  env = { PATH: `${dir}:${process.env.PATH}`, HOME: dir, PCIGATE_CONFIG: path.join(dir, 'pcigate.yaml') };
});

describe('pcigate completion', () => {
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    it(`completions/${FILES[shell]} is what \`pcigate completion ${shell}\` prints (regenerate: node scripts/gen-completions.mjs)`, async () => {
      const r = await runCli(['completion', shell]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('pcigate');
      expect(readFileSync(path.join(ROOT, 'completions', FILES[shell]), 'utf8')).toBe(r.stdout);
    });
  }

  it('the generator script reports no drift', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/gen-completions.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('--connections lists the config\'s connections, and nothing (exit 0) without a config', async () => {
    const r = await runCli(['completion', '--connections'], { env: { PCIGATE_CONFIG: env.PCIGATE_CONFIG } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('prod-db\nreports\n');
    const none = await runCli(['completion', '--connections'], { env: { PCIGATE_CONFIG: path.join(dir, 'missing.yaml') } });
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
  });

  it('an unknown shell is a usage error', async () => {
    const r = await runCli(['completion', 'tcsh']);
    expect(r.code).toBe(2);
  });

  it('the bash script loads in bash and completes commands, flags, choices and connections', () => {
    const script = [
      `source ${JSON.stringify(path.join(ROOT, 'completions', FILES.bash))}`,
      'complete -p pcigate',
      't(){ COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _pcigate; echo "${COMPREPLY[*]}"; }',
      't pcigate ""', 't pcigate keys ""', 't pcigate connect ""', 't pcigate exec prod-db --format ""', 't pcigate --home /tmp verify --st',
    ].join('\n');
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const [complete, top, keys, conns, formats, verify] = r.stdout.split('\n');
    expect(complete).toBe('complete -F _pcigate pcigate');
    expect(top!.split(' ')).toEqual(expect.arrayContaining(['connect', 'verify', 'keys', 'demo', 'completion', 'help']));
    expect(keys).toBe('init show rotate');
    expect(conns).toBe('prod-db reports');
    expect(formats).toBe('table csv json');
    expect(verify!.split(' ')).toContain('--strict');
  });

  it.skipIf(!has('zsh'))('the zsh script parses in zsh and registers _pcigate with compinit', () => {
    const file = path.join(ROOT, 'completions', FILES.zsh);
    const parse = spawnSync('zsh', ['-n', file], { encoding: 'utf8' });
    expect(parse.status, parse.stderr).toBe(0);
    const r = spawnSync('zsh', ['-f', '-c', `autoload -U compinit && compinit -u -D; source ${file}; print -- \${_comps[pcigate]}`], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('_pcigate');
  });

  it.skipIf(!has('fish'))('the fish script loads in fish and completes sub-commands, choices and connections', () => {
    const fish = (line: string) => spawnSync('fish', ['--no-config', '-c', `source ${path.join(ROOT, 'completions', FILES.fish)}; complete -C '${line}'`], { encoding: 'utf8', env });
    const words = (line: string) => fish(line).stdout.split('\n').map((l) => l.split('\t')[0]).filter(Boolean);
    expect(words('pcigate ke')).toContain('keys');
    expect(words('pcigate keys ')).toEqual(['init', 'rotate', 'show']);
    expect(words('pcigate connect ')).toEqual(['prod-db', 'reports']);
    expect(words('pcigate exec x --format ')).toEqual(['csv', 'json', 'table']);
  });
});
