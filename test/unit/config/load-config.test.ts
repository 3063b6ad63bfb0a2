import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, loadConfigOrDefaults } from '../../../src/config/load-config.js';
import { resolveHomeWithConfig } from '../../../src/config/resolve-home.js';
import { hasCode } from '../../../src/errors.js';
import { testCtx } from '../../harness/test-ctx.js';

/** A config whose audit.origin names the file it came from, so each test can tell which file was read. */
function write(file: string, origin: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `audit:\n  origin: ${origin}\n  dir: ./data-${origin}\n`);
  return file;
}

function world() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pcigate-cfg-'));
  const cwd = path.join(root, 'work');
  const home = path.join(root, 'home');
  const xdg = path.join(root, 'xdg');
  mkdirSync(cwd, { recursive: true });
  mkdirSync(home, { recursive: true });
  const files = {
    flag: write(path.join(root, 'flag.yaml'), 'flag'),
    env: write(path.join(root, 'env.yaml'), 'env'),
    cwd: write(path.join(cwd, 'pcigate.yaml'), 'cwd'),
    xdg: write(path.join(xdg, 'pcigate', 'config.yaml'), 'xdg'),
    home: write(path.join(home, '.config', 'pcigate', 'config.yaml'), 'home'),
  };
  return { root, cwd, home, xdg, files };
}

describe('config search order', () => {
  it('prefers --config, then PCIGATE_CONFIG, then ./pcigate.yaml, then XDG, then ~/.config', async () => {
    const w = world();
    const env = { HOME: w.home, XDG_CONFIG_HOME: w.xdg, PCIGATE_CONFIG: w.files.env };
    const ctx = testCtx({ cwd: w.cwd, env });

    let r = await loadConfig(ctx, { path: w.files.flag });
    expect([r.source, r.path, r.config.audit.origin]).toEqual(['flag', w.files.flag, 'flag']);

    r = await loadConfig(ctx);
    expect([r.source, r.path, r.config.audit.origin]).toEqual(['env', w.files.env, 'env']);

    delete (env as Record<string, string | undefined>).PCIGATE_CONFIG;
    r = await loadConfig(testCtx({ cwd: w.cwd, env }));
    expect([r.source, r.config.audit.origin]).toEqual(['cwd', 'cwd']);

    const elsewhere = path.join(w.root, 'elsewhere');
    mkdirSync(elsewhere);
    r = await loadConfig(testCtx({ cwd: elsewhere, env }));
    expect([r.source, r.config.audit.origin]).toEqual(['xdg', 'xdg']);

    r = await loadConfig(testCtx({ cwd: elsewhere, env: { HOME: w.home } }));
    expect([r.source, r.config.audit.origin]).toEqual(['home', 'home']);
  });

  it('ignores a relative XDG_CONFIG_HOME, as the XDG spec requires', async () => {
    const w = world();
    const elsewhere = path.join(w.root, 'elsewhere');
    mkdirSync(elsewhere);
    const r = await loadConfig(testCtx({ cwd: elsewhere, env: { HOME: w.home, XDG_CONFIG_HOME: 'xdg' } }));
    expect(r.source).toBe('home');
  });

  it('does not fall through when the file named by --config or PCIGATE_CONFIG is missing', async () => {
    const w = world();
    const ctx = testCtx({ cwd: w.cwd, env: { HOME: w.home } });
    await expect(loadConfig(ctx, { path: 'nope.yaml' })).rejects.toSatisfy((e) => hasCode(e, 'ERR_CONFIG_NOT_FOUND') && /--config/.test((e as Error).message));
    const ctx2 = testCtx({ cwd: w.cwd, env: { HOME: w.home, PCIGATE_CONFIG: path.join(w.root, 'missing.yaml') } });
    await expect(loadConfig(ctx2)).rejects.toSatisfy((e) => hasCode(e, 'ERR_CONFIG_NOT_FOUND') && /PCIGATE_CONFIG/.test((e as Error).message));
    // Even a command that can run without a config must not silently ignore an explicit, missing file.
    await expect(loadConfigOrDefaults(ctx, { path: 'nope.yaml' })).rejects.toSatisfy((e) => hasCode(e, 'ERR_CONFIG_NOT_FOUND'));
  });

  it('reports every place it looked when no config exists, or gives defaults when optional', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'pcigate-cfg-'));
    const ctx = testCtx({ cwd: root, env: { HOME: path.join(root, 'h'), XDG_CONFIG_HOME: path.join(root, 'x') } });
    const err = await loadConfig(ctx).catch((e: unknown) => e);
    expect(hasCode(err, 'ERR_CONFIG_NOT_FOUND')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain(path.join(root, 'pcigate.yaml'));
    expect(msg).toContain(path.join(root, 'x', 'pcigate', 'config.yaml'));
    expect(msg).toContain(path.join(root, 'h', '.config', 'pcigate', 'config.yaml'));
    expect((err as { exit: number }).exit).toBe(2);

    const d = await loadConfigOrDefaults(ctx);
    expect(d.source).toBe('defaults');
    expect(d.path).toBeUndefined();
    expect(d.config.audit.epoch).toBe(24 * 3_600_000);
    expect(d.config.identity.allow_local).toBe(false);
  });

  it('resolves audit.dir relative to the config file and feeds it into the data home below --home and PCIGATE_HOME', async () => {
    const w = world();
    const ctx = testCtx({ cwd: w.cwd, env: { HOME: w.home } });
    const r = await resolveHomeWithConfig(ctx, {});
    expect(r.home).toBe(path.join(w.cwd, 'data-cwd'));
    expect(r.loaded?.source).toBe('cwd');

    expect((await resolveHomeWithConfig(ctx, { home: '/srv/flag' })).home).toBe('/srv/flag');
    const ctxEnv = testCtx({ cwd: w.cwd, env: { HOME: w.home, PCIGATE_HOME: '/srv/env' } });
    expect((await resolveHomeWithConfig(ctxEnv, {})).home).toBe('/srv/env');

    const bare = mkdtempSync(path.join(os.tmpdir(), 'pcigate-cfg-'));
    const none = await resolveHomeWithConfig(testCtx({ cwd: bare, env: { HOME: bare, XDG_DATA_HOME: '/srv/xdg' } }), {});
    expect(none.home).toBe('/srv/xdg/pcigate');
  });
});

describe('config file safety', () => {
  it('refuses a world-writable config (anyone could change what cmd: secrets run)', async () => {
    const { chmodSync } = await import('node:fs');
    const w = world();
    chmodSync(w.files.cwd, 0o666);
    const err = await loadConfig(testCtx({ cwd: w.cwd, env: { HOME: w.home } })).then(
      () => { throw new Error('expected the world-writable config to be refused'); },
      (e: unknown) => e as Error & { hint?: string; exit: number },
    );
    expect(hasCode(err, 'ERR_CONFIG')).toBe(true);
    expect(err.message).toMatch(/writable by any user \(mode 0666\)/);
    expect(err.hint).toContain('chmod o-w');
    expect(err.exit).toBe(2);
    chmodSync(w.files.cwd, 0o664);
    expect((await loadConfig(testCtx({ cwd: w.cwd, env: { HOME: w.home } }))).source).toBe('cwd');
  });
});
