/**
 * `pcigate completion bash|zsh|fish`: prints a completion script generated from the command registry.
 * `pcigate completion --connections`: the connection names of the config, one a line — what the scripts
 * call at completion time (silent and exit 0 when there is no valid config: completion must never nag).
 */
import { registry } from './index.js';
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { buildCompletionModel } from '../src/completion/completion-model.js';
import { renderCompletion, SHELLS, type Shell } from '../src/completion/render-completion.js';
import { loadConfigOrDefaults } from '../src/config/load-config.js';
import { UsageError } from '../src/errors.js';

export const spec: CommandSpec = {
  description: [
    'Prints a shell completion script for bash, zsh or fish: commands, sub-commands, flags and their values,',
    'and connection names read from your pcigate.yaml each time you press Tab.',
  ].join('\n'),
  args: [{ name: 'shell', description: 'bash, zsh or fish' }],
  options: [{ flags: '--connections', description: 'print the connection names of the configuration (used by the scripts)' }],
  examples: [
    ['bash, for the current shell', 'source <(pcigate completion bash)'],
    ['zsh, installed in $fpath', 'pcigate completion zsh > "${fpath[1]}/_pcigate"'],
    ['fish', 'pcigate completion fish > ~/.config/fish/completions/pcigate.fish'],
  ],
  async run(ctx, { args, opts, global, out }) {
    if (opts.connections) {
      try {
        const { config } = await loadConfigOrDefaults(ctx, { path: global.config });
        const names = Object.keys(config.connections).sort();
        if (names.length) out.data(`${names.join('\n')}\n`);
      } catch { /* no valid config: nothing to offer */ }
      return EXIT.ok;
    }
    const shell = args[0];
    if (!shell || !(SHELLS as readonly string[]).includes(shell)) {
      throw new UsageError(shell ? `unknown shell ${shell}` : 'missing shell', { hint: `one of: ${SHELLS.join(', ')}` });
    }
    out.data(renderCompletion(shell as Shell, await buildCompletionModel(registry)));
    return EXIT.ok;
  },
};
