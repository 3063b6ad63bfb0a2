/**
 * `pcigate config check [--resolve] [--json]`: validates the configuration found by the search order and
 * prints the effective config (defaults applied, durations in milliseconds, sizes in bytes) with every
 * secret reference redacted. Exit 0 when valid, 2 when invalid or missing; with --resolve, 1 when a
 * secret reference does not resolve.
 */
import { stringify } from 'yaml';
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { checkSecrets } from '../src/config/check-secrets.js';
import type { SecretCheck } from '../src/config/check-secrets.js';
import { loadConfig } from '../src/config/load-config.js';
import { redact } from '../src/config/redact.js';
import { ConfigError, ConfigInvalid } from '../src/errors.js';

export const spec: CommandSpec = {
  description:
    'Looks for the configuration in --config, $PCIGATE_CONFIG, ./pcigate.yaml, $XDG_CONFIG_HOME/pcigate/config.yaml\n' +
    'and ~/.config/pcigate/config.yaml. Every problem is reported as file:line:col. Secrets are shown only as\n' +
    'their reference (<redacted: env:NAME>); --resolve checks that each one resolves, without printing it.',
  options: [
    { flags: '--resolve', description: 'also check that every secret reference resolves (runs cmd: references; never prints values)' },
  ],
  examples: [
    ['validate the configuration and show it with defaults filled in', 'pcigate config check'],
    ['check a specific file, machine-readable', 'pcigate config check --config /etc/pcigate/pcigate.yaml --json'],
    ['make sure every password and key reference can be fetched', 'pcigate config check --resolve'],
  ],
  async run(ctx, { opts, global, out }) {
    try {
      const loaded = await loadConfig(ctx, { path: global.config });
      const config = redact(loaded.config);
      const secrets: SecretCheck[] | undefined = opts.resolve ? await checkSecrets(ctx, loaded.config) : undefined;
      const failed = secrets?.filter((s) => !s.ok) ?? [];
      if (out.json) {
        out.printJson({ valid: true, path: loaded.path ?? null, source: loaded.source, config, ...(secrets ? { secrets } : {}) });
      } else {
        out.say(`configuration ${loaded.path} is valid (found via ${loaded.source})`);
        out.data(stringify(config, { lineWidth: 0 }));
      }
      for (const s of secrets ?? []) {
        if (s.ok) out.say(`secret ${s.path} ${s.ref}: resolves`);
        else out.warn(`pcigate: secret ${s.path} ${s.ref}: ${s.error}`);
      }
      return failed.length > 0 ? EXIT.error : EXIT.ok;
    } catch (e) {
      if (!(e instanceof ConfigError) || !out.json) throw e;
      // --json: the verdict is data too, so CI can annotate the problems; the talk still goes to stderr.
      out.printJson({
        valid: false,
        error: { code: e.code, message: e.message },
        problems: e instanceof ConfigInvalid ? e.problems : [],
      });
      out.warn(`pcigate: ${e.message}`);
      return e.exit;
    }
  },
};
