#!/usr/bin/env node
// Regenerates completions/{pcigate.bash,_pcigate,pcigate.fish} and README.md's command table (between the
// `<!-- commands:begin -->` / `<!-- commands:end -->` markers) from the command registry.
// Run after the build: `npx tsc -p tsconfig.json && node scripts/gen-completions.mjs`
// (`--check` exits 1 listing the files that differ, without writing.)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { registry } = await import(path.join(root, 'dist/commands/index.js'));
const { buildCompletionModel } = await import(path.join(root, 'dist/src/completion/completion-model.js'));
const { renderCompletion, SHELLS, COMPLETION_FILES } = await import(path.join(root, 'dist/src/completion/render-completion.js'));

const check = process.argv.includes('--check');
const model = await buildCompletionModel(registry);
const drift = [];
for (const shell of SHELLS) {
  const file = path.join(root, 'completions', COMPLETION_FILES[shell]);
  const text = renderCompletion(shell, model);
  let old = '';
  try { old = readFileSync(file, 'utf8'); } catch { /* new */ }
  if (old === text) continue;
  drift.push(path.relative(root, file));
  if (!check) writeFileSync(file, text);
}
const readme = path.join(root, 'README.md');
const readmeText = readFileSync(readme, 'utf8');
const table = ['| command | what it does |', '| --- | --- |', ...registry.map((e) => `| \`pcigate ${e.name}\` | ${e.summary} |`)].join('\n');
const newReadme = readmeText.replace(/(<!-- commands:begin -->\n)[\s\S]*?(\n<!-- commands:end -->)/, `$1${table}$2`);
if (!readmeText.includes('<!-- commands:begin -->')) {
  drift.push('README.md (no <!-- commands:begin --> marker)');
} else if (newReadme !== readmeText) {
  drift.push('README.md');
  if (!check) writeFileSync(readme, newReadme);
}
if (check && drift.length) {
  process.stderr.write(`completions or README command table out of date: ${drift.join(', ')}\nrun: npx tsc -p tsconfig.json && node scripts/gen-completions.mjs\n`);
  process.exit(1);
}
process.stdout.write(drift.length ? `wrote ${drift.join(', ')}\n` : 'completions up to date\n');
