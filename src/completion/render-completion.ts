/** One entry point for the three shells (used by `pcigate completion` and scripts/gen-completions.mjs). */
import { bashCompletion } from './bash-completion.js';
import type { CompletionModel } from './completion-model.js';
import { fishCompletion } from './fish-completion.js';
import { zshCompletion } from './zsh-completion.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The file name each shell's copy has under completions/. */
export const COMPLETION_FILES: Record<Shell, string> = { bash: 'pcigate.bash', zsh: '_pcigate', fish: 'pcigate.fish' };

export function renderCompletion(shell: Shell, m: CompletionModel): string {
  return shell === 'bash' ? bashCompletion(m) : shell === 'zsh' ? zshCompletion(m) : fishCompletion(m);
}
