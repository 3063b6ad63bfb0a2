/** `pcigate scan PATH…`: find unmasked PAN and sensitive authentication data in stored files (issue 4 item 8). */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { UsageError } from '../src/errors.js';
import { archiveLimits, expandedLimitOption } from '../src/mask/scan-archive.js';
import { scanPaths } from '../src/mask/scan-files.js';

export const spec: CommandSpec = {
  description: [
    'Scans files and directories (recursively; symlinks are not followed) for card numbers (13–19 digits,',
    'Luhn-valid, issuer range of a major network) and sensitive authentication data (track data, labelled',
    'CVV/PIN values). Each finding is printed as file:line:column with the value masked; a full PAN is never',
    'printed. Zip and gzip files (known by their content, not their name) are looked into: each zip entry is',
    'reported as archive.zip!entry/path, a gzip under its own name. An archive inside an archive is opened,',
    'one more level is not; encrypted entries cannot be read; zips larger than 512 MiB are scanned as raw',
    'bytes only. Against decompression bombs, one file with all it holds may expand to 1 GiB, a zip entry to a',
    'quarter of that (it is held in memory while scanned); --max-expanded sets the per-file limit (and so the',
    'per-entry one): a gzip is streamed, so a large pg_dump | gzip needs no more memory when it is raised.',
    'Each of these, and a damaged archive, is reported as an error naming what was not scanned (a gzip stopped',
    'at the limit: how far it got). Exit 0 when clean, 1 when anything was found or anything could not be',
    'scanned (PCI DSS 3.5.1, 3.3.1).',
  ].join('\n'),
  args: [{ name: 'paths', description: 'files or directories to scan', required: true, variadic: true }],
  options: [
    { flags: '--any-luhn', description: 'report any Luhn-valid 13–19 digit number, not only major card networks' },
    {
      flags: '--max-expanded <size>',
      description: 'most bytes one file may expand to, archives inside included, e.g. 512M or 4G (default 1G; 0 or unlimited: no limit); a zip entry may expand to a quarter of it',
    },
  ],
  examples: [
    ['check the data home and an export before they are archived', 'pcigate scan ~/.local/share/pcigate ./export.csv'],
    ['scan a plain-text pg_dump, findings as JSON', 'pcigate scan --json dump.sql'],
    ['scan inside a compressed dump and an evidence bundle', 'pcigate scan dump.sql.gz evidence-2026-q4.zip'],
    ['scan a pg_dump | gzip that expands to more than 1 GiB', 'pcigate scan --max-expanded 8G dump.sql.gz'],
  ],
  async run(ctx, { args, opts, out }) {
    if (args.length === 0) throw new UsageError('scan needs at least one PATH');
    const max = expandedLimitOption(opts.maxExpanded);
    const limits = max === undefined ? undefined : archiveLimits(max);
    const report = await scanPaths(ctx, args, { anyLuhn: opts.anyLuhn === true, limits });
    const clean = report.findings.length === 0 && report.errors.length === 0;
    if (out.json) {
      out.printJson({ clean, files: report.files, bytes: report.bytes, findings: report.findings, errors: report.errors });
    } else {
      for (const f of report.findings) out.data(`${f.file}:${f.line}:${f.column}: ${f.kind}${f.network ? ` (${f.network})` : ''} ${f.masked}`);
      for (const e of report.errors) out.warn(`error: ${e.file}: ${e.message}`);
      out.say(`${report.findings.length} finding${report.findings.length === 1 ? '' : 's'} in ${report.files} file${report.files === 1 ? '' : 's'} (${report.bytes} bytes)${report.errors.length ? `; ${report.errors.length} not scanned (unreadable, damaged, encrypted or over a limit)` : ''}`);
    }
    return clean ? EXIT.ok : EXIT.error;
  },
};
