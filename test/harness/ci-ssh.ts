/**
 * startCiSsh(): a real sshd and an in-process OIDC provider for CLI tests in which a CI job (`pcigate exec` with
 * a workload token) runs commands on SSH connections while a person logged in with that provider approves them
 * from a second process (`pcigate approve` / `pcigate deny`, runAsApprover).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ciWorkloadYaml, execAsCiJob, runAsApprover } from './ci-job.js';
import type { CiRun } from './ci-job.js';
import { tempDir } from './cli.js';
import type { CliResult } from './cli.js';
import { startOidcProvider } from './oidc.js';
import type { OidcHarness } from './oidc.js';
import { sshConnectionYaml, startSshd } from './sshd.js';
import type { Sshd } from './sshd.js';

export interface CiSsh {
  sshd: Sshd;
  oidc: OidcHarness;
  /** A temp dir for the test's configs (and the sshd client key). */
  dir: string;
  /**
   * Config lines of an ssh connection `name` to the sshd (sshConnectionYaml): echo and sleep allowed, `sh -c`
   * held, rm denied; the CI job (a token of the provider for org/payments) let in as a workload.
   */
  conn(name: string): string[];
  /** Writes `dir`/pcigate.yaml: local identity allowed, a connection (conn) for each of `names`, then `rest`; returns its path. */
  writeConfig(names: string[], rest: string[]): string;
  /** Runs `pcigate exec --config CONFIG --home HOME CONN -- COMMAND…` as the CI job (execAsCiJob). */
  exec(config: string, home: string, conn: string, command: string[]): Promise<CiRun>;
  /** Runs `pcigate ARGS --home HOME` as the approver (runAsApprover: logged in, the approver's copy of CONFIG). */
  approver(config: string, home: string, args: string[]): Promise<CliResult>;
  close(): Promise<void>;
}

/** Starts the sshd and the OIDC provider; `dirPrefix` names the temp dir. */
export async function startCiSsh(dirPrefix: string): Promise<CiSsh> {
  const sshd = await startSshd();
  const oidc = await startOidcProvider().catch(async (err: unknown) => { await sshd.stop(); throw err; });
  const dir = tempDir(dirPrefix);
  const conn = (name: string) => sshConnectionYaml(sshd, dir, name, {
    extra: ['allow:', '  exec: { allow: ["echo *", "sleep *"], hold: ["sh -c *"], deny: ["rm *"] }', ...ciWorkloadYaml(oidc)],
  });
  return {
    sshd, oidc, dir, conn,
    writeConfig(names, rest) {
      const config = path.join(dir, 'pcigate.yaml');
      writeFileSync(config, ['identity:', '  allow_local: true', 'connections:', ...names.flatMap(conn), ...rest, ''].join('\n'), { mode: 0o600 });
      return config;
    },
    exec: (config, home, conn, command) => execAsCiJob(oidc, { config, home, args: [conn, '--', ...command] }),
    approver: (config, home, args) => runAsApprover(oidc, config, home, args),
    async close() {
      await oidc.close();
      await sshd.stop();
    },
  };
}
