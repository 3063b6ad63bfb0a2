/**
 * Exec commands read as the remote user's shell reads them, for the SSH policy (docs/ssh.md): the text a
 * pattern's wildcard matched may not be shell syntax that runs another command (smuggledSyntax), and deny and
 * hold patterns meet the command as the shell will run it (readAsShell).
 */
export { MAX_READ_CHARS, readAsShell } from './read-as-shell.js';
export type { ShellReading } from './read-as-shell.js';
export { shellCommands } from './shell-words.js';
export type { ShellWord } from './shell-words.js';
export { shellSyntaxOffsets, smuggledSyntax } from './smuggled-syntax.js';
