/**
 * `pcigate doctor [--json]`: checks the installation end to end and prints one line per check with ✓, ! or ✗
 * and a fix hint. Exit 1 when any check failed (a warning does not fail).
 */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { runDoctor } from '../src/doctor/run-doctor.js';

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const;

export const spec: CommandSpec = {
  description: [
    'Checks, one line each: the configuration is valid; the OS keychain answers (or the file fallback is in use);',
    'the data home is yours and closed to others; the signing keys are intact and the key epoch current; the',
    'approval key (approvals/.key) is yours and 0600 and its directory not writable by everyone; the',
    'clock is plausible; every connection is reachable with the broker credential (TCP, TLS, authentication,',
    'and for SSH the pinned host key); the identity provider answers discovery. Exit 1 if anything failed.',
  ].join('\n'),
  options: [],
  examples: [
    ['check everything', 'pcigate doctor'],
    ['as JSON, for monitoring', 'pcigate doctor --json'],
  ],
  async run(ctx, { global, out }) {
    const results = await runDoctor(ctx, { configPath: global.config, home: global.home });
    const failed = results.some((r) => r.status === 'fail');
    if (out.json) {
      out.printJson({ ok: !failed, checks: results });
    } else {
      const paint = { ok: 'green', warn: 'yellow', fail: 'red' } as const;
      for (const r of results) {
        out.data(`${out.paint(paint[r.status], MARK[r.status])} ${r.message}\n`);
        if (r.hint) out.data(`    ${out.paint('dim', `fix: ${r.hint}`)}\n`);
      }
      const f = results.filter((r) => r.status === 'fail').length;
      const w = results.filter((r) => r.status === 'warn').length;
      out.say(failed ? `${f} check${f === 1 ? '' : 's'} failed${w ? `, ${w} warning${w === 1 ? '' : 's'}` : ''}` : `all checks passed${w ? ` (${w} warning${w === 1 ? '' : 's'})` : ''}`);
    }
    return failed ? EXIT.error : EXIT.ok;
  },
};
