#!/usr/bin/env node
// Runs the compiled CLI; main() owns every exit code (src/cli/exit-codes.ts).
import { main } from '../dist/src/cli/main.js';
import { processCtx } from '../dist/src/cli/ctx.js';

// A reader that stops early (`pcigate … | head`) is not an error.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
main(process.argv.slice(2), processCtx()).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`pcigate: internal error: ${err?.message ?? err}\n`); process.exitCode = 1; },
);
