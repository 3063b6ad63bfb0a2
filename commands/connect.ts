/**
 * `pcigate connect NAME [--port N] [--bind ADDR] [--tls] [--exec PROGRAM [ARGS…]]`: a local listener in
 * front of a postgres connection. Prints a ready-to-paste connection string and psql command (stderr, or
 * stdout with --json), runs until Ctrl-C; with --exec runs the program against it and exits with its code.
 */
import type { CommandSpec } from '../src/cli/command.js';
import { connectPg, type ConnectInfo } from '../src/broker/pg-connect.js';
import { UsageError } from '../src/errors.js';
import { findConnection, loadConfig } from '../src/config/index.js';
import { connectSsh } from '../src/broker/ssh-connect.js';
import type { SshListenInfo } from '../src/broker/ssh-connect.js';

interface Parsed { port?: number; bind?: string; tls: boolean; json: boolean; listen: boolean; exec?: string[] }

/**
 * Options after NAME arrive unparsed (the command passes --exec's program through untouched), so they are
 * read here: --port, --bind, --tls, --json, then --exec (or --) and everything after it.
 */
function parseRest(rest: string[], opts: Record<string, unknown>, json: boolean): Parsed {
  const p: Parsed = { tls: Boolean(opts.tls), json, listen: Boolean(opts.listen) };
  if (opts.port !== undefined) p.port = portOf(String(opts.port));
  if (typeof opts.bind === 'string') p.bind = opts.bind;
  if (Array.isArray(opts.exec) && opts.exec.length) p.exec = opts.exec.map(String);
  else if (typeof opts.exec === 'string') p.exec = [opts.exec];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? rest[++i] ?? (() => { throw new UsageError(`${flag} needs a value`); })();
    if (flag === '--port') p.port = portOf(value());
    else if (flag === '--bind') p.bind = value();
    else if (flag === '--tls') p.tls = true;
    else if (flag === '--listen') p.listen = true;
    else if (flag === '--json') p.json = true;
    else if (flag === '--exec' || flag === '--') {
      const prog = [...(inline !== undefined ? [inline] : []), ...rest.slice(i + 1)];
      if (prog.length === 0) throw new UsageError('--exec needs a program');
      p.exec = [...(p.exec ?? []), ...prog];
      break;
    } else throw new UsageError(`unexpected argument ${a}`, { hint: 'use --exec PROGRAM [ARGS…] to run a program' });
  }
  return p;
}

function portOf(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`invalid port ${s}`);
  return n;
}

export const spec: CommandSpec = {
  description:
    'Opens a loopback listener in front of a postgres connection from pcigate.yaml. Clients authenticate with a\n' +
    'fresh per-listener secret (never the database password, which pcigate holds); every statement is recorded\n' +
    'in the audit log before it reaches the database. Stop with Ctrl-C: open sessions are closed and recorded.',
  args: [
    { name: 'name', description: 'the connection name in pcigate.yaml', required: true },
    { name: 'program', description: 'with --exec: the program and its arguments', variadic: true },
  ],
  options: [
    { flags: '--port <n>', description: 'listen on this port (default: the config, else a free port)' },
    { flags: '--bind <addr>', description: 'listen on this address (default 127.0.0.1; any other than loopback needs --tls)' },
    { flags: '--tls', description: 'require TLS from clients (a generated or configured certificate)' },
    { flags: '--listen', description: 'ssh connections: serve OpenSSH clients on a local port instead of opening a shell here' },
    { flags: '--exec', description: 'run PROGRAM [ARGS…] against the listener and exit with its exit code' },
  ],
  passThrough: true,
  examples: [
    ['open a listener and print the psql command', 'pcigate connect prod-db'],
    ['run psql through pcigate and exit with its exit code', "pcigate connect prod-db --exec psql -c 'select 1'"],
    ['print the connection details as JSON', 'pcigate connect prod-db --port 6543 --json'],
    ['open a recorded, masked shell on an SSH host in this terminal', 'pcigate connect prod-ssh'],
    ['serve OpenSSH clients (ssh -p PORT pcigate@127.0.0.1)', 'pcigate connect prod-ssh --listen'],
  ],
  async run(ctx, { args, opts, global, out }) {
    const [name, ...rest] = args;
    if (!name) throw new UsageError('missing connection name');
    const p = parseRest(rest, opts, global.json);
    const { config } = await loadConfig(ctx, { path: global.config });
    const conn = findConnection(config, name);
    if (conn.kind === 'ssh') {
      if (p.exec || p.tls) throw new UsageError(`${name} is an ssh connection: --exec and --tls apply to postgres connections`);
      return connectSsh(ctx, {
        config, name, conn, ...(global.home ? { home: global.home } : {}),
        ...(p.listen ? {
          listen: {
            ...(p.port !== undefined ? { port: p.port } : {}), ...(p.bind ? { bind: p.bind } : {}),
            ready(info: SshListenInfo) {
              if (p.json) out.printJson(info);
              else {
                out.say(`pcigate: ${info.connection} is listening on ${info.host}:${info.port} (host key ${info.fingerprint})`);
                out.say(`  ${info.ssh}    password: ${info.password}`);
                out.say('  (Ctrl-C to stop; every open session is closed and recorded)');
              }
            },
          },
        } : {}),
      });
    }
    return connectPg(ctx, {
      config, name, conn, home: global.home, tls: p.tls,
      ...(p.port !== undefined ? { port: p.port } : {}), ...(p.bind ? { bind: p.bind } : {}), ...(p.exec ? { exec: p.exec } : {}),
      ready(info: ConnectInfo) {
        if (p.json) {
          out.printJson({ connection: info.connection, host: info.host, port: info.port, user: info.user, database: info.database, password: info.password, url: info.url, psql: info.psql, env: info.env });
        }
        if (!p.json || p.exec) {
          out.say(`pcigate: ${info.connection} is listening on ${info.host}:${info.port}`);
          out.say(`  connection string: ${info.url}`);
          out.say(`  psql:              ${info.psql}`);
          if (!p.exec) out.say('  (Ctrl-C to stop; every open session is closed and recorded)');
        }
      },
    });
  },
};
