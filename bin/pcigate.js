#!/usr/bin/env node
// Runs the compiled CLI; main() owns every exit code (src/cli/exit-codes.ts).
import { main } from '../dist/src/cli/main.js';
import { processCtx } from '../dist/src/cli/ctx.js';
import { capYoungGeneration } from '../dist/src/cli/young-generation.js';

// Before any command runs: V8 grows its young generation within the first quarter second of a start.
capYoungGeneration();

// A reader that stops early (`pcigate … | head`) is not an error.
process.stdout.on('error', (e) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
main(process.argv.slice(2), processCtx()).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`pcigate: internal error: ${err?.message ?? err}\n`); process.exitCode = 1; },
);
