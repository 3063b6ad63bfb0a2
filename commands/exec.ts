/**
 * `pcigate exec CONN --sql SQL | -f FILE [--format table|csv|json]` and `pcigate exec CONN -- CMD [ARGS…]`:
 * the broker for CI steps and agents, with the job's workload identity (issue 7 items 5–6).
 */
import type { CommandSpec } from '../src/cli/command.js';
import { findConnection, loadConfig } from '../src/config/index.js';
import { UsageError } from '../src/errors.js';
import { execPg } from '../src/broker/pg-exec.js';
import { RESULT_FORMATS } from '../src/broker/result-format.js';
import type { ResultFormat } from '../src/broker/result-format.js';
import { connectSsh, shellJoin } from '../src/broker/ssh-connect.js';

interface Parsed { sql?: string; file?: string; format: ResultFormat; reason?: string; tokenEnv?: string; command?: string[] }

/** Flags after CONN arrive unparsed (everything after `--` is the child's), so they are read here. */
function parseRest(rest: string[], opts: Record<string, unknown>): Parsed {
  const p: Parsed = { format: 'table' };
  const take = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
  const set = (flag: string, v: string) => {
    if (flag === '--sql') p.sql = v;
    else if (flag === '-f' || flag === '--file') p.file = v;
    else if (flag === '--format') {
      if (!(RESULT_FORMATS as readonly string[]).includes(v)) throw new UsageError(`--format must be one of ${RESULT_FORMATS.join(', ')}`);
      p.format = v as ResultFormat;
    } else if (flag === '--reason') p.reason = v;
    else if (flag === '--id-token-env') p.tokenEnv = v;
  };
  for (const [k, f] of [['sql', '--sql'], ['file', '--file'], ['format', '--format'], ['reason', '--reason'], ['idTokenEnv', '--id-token-env']] as const) {
    const v = take(k);
    if (v !== undefined) set(f, v);
  }
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--') { p.command = rest.slice(i + 1); break; }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (['--sql', '-f', '--file', '--format', '--reason', '--id-token-env'].includes(flag)) {
      const v = eq > 0 ? a.slice(eq + 1) : rest[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      set(flag, v);
    } else if (flag === '--json' || flag === '-q' || flag === '--quiet') {
      continue; // global flags, already seen by main()
    } else {
      p.command = rest.slice(i);
      break;
    }
  }
  return p;
}

export const spec: CommandSpec = {
  description:
    'Runs SQL or a program through the broker without an interactive login: identity comes from the job\'s\n' +
    'workload token ($PCIGATE_ID_TOKEN, GitHub Actions OIDC, GitLab id_tokens, or client credentials), every\n' +
    'statement passes policy and is recorded, and output is masked. Exit codes: the program\'s own; for --sql\n' +
    '0 ok, 1 SQL error, 5 denied by policy, 6 approval timed out.',
  args: [
    { name: 'conn', description: 'the connection name in pcigate.yaml', required: true },
    { name: 'command', description: 'after --: the program (postgres) or remote command (ssh) and its arguments', variadic: true },
  ],
  options: [
    { flags: '--sql <sql>', description: 'SQL to run (postgres connections)' },
    { flags: '-f, --file <path>', description: 'read the SQL from a file' },
    { flags: '--format <fmt>', description: 'result format for --sql', choices: RESULT_FORMATS, default: 'table' },
    { flags: '--reason <text>', description: 'why this runs (recorded, shown to approvers)' },
    { flags: '--id-token-env <name>', description: 'environment variable holding the workload token (default PCIGATE_ID_TOKEN)' },
  ],
  passThrough: true,
  examples: [
    ['run a query from a CI step and print CSV', "pcigate exec prod-db --sql 'select id, pan from cards limit 5' --format csv"],
    ['run a migration script against an ephemeral listener', 'pcigate exec prod-db --reason "release 42" -- ./migrate.sh'],
    ['run a command on an SSH host and exit with its status', 'pcigate exec prod-ssh -- systemctl status app'],
  ],
  async run(ctx, { args, opts, global }) {
    const [name, ...rest] = args;
    if (!name) throw new UsageError('missing connection name');
    const p = parseRest(rest, opts);
    const { config } = await loadConfig(ctx, { path: global.config });
    const conn = findConnection(config, name);
    const workload = { ...(p.tokenEnv ? { tokenEnv: p.tokenEnv } : {}) };
    if (conn.kind === 'ssh') {
      if (p.sql !== undefined || p.file !== undefined) throw new UsageError(`${name} is an ssh connection: give a command after --`);
      if (!p.command?.length) throw new UsageError('missing command: pcigate exec CONN -- COMMAND [ARGS…]');
      return connectSsh(ctx, { config, name, conn, ...(global.home ? { home: global.home } : {}), command: shellJoin(p.command), workload, ...(p.reason ? { reason: p.reason } : {}) });
    }
    if (p.file !== undefined) {
      if (p.sql !== undefined) throw new UsageError('give --sql or -f, not both');
      p.sql = await ctx.fs.readFile(p.file, 'utf8');
    }
    if (p.sql === undefined && !p.command?.length) throw new UsageError('give --sql SQL, -f FILE, or -- COMMAND');
    if (p.sql !== undefined && p.command?.length) throw new UsageError('give --sql/-f or a command, not both');
    return execPg(ctx, {
      config, name, conn, format: p.format, workload,
      ...(global.home ? { home: global.home } : {}),
      ...(p.sql !== undefined ? { sql: p.sql } : { program: p.command! }),
      ...(p.reason ? { reason: p.reason } : {}),
    });
  },
};
