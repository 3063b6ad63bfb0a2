/**
 * Parses and validates the text of a pcigate.yaml. YAML is parsed with source ranges (yaml's
 * LineCounter) so that every problem — syntax, schema, unknown key, literal secret — names
 * file:line:col and what was expected. All problems are collected and reported together, sorted by
 * position, in one ConfigInvalid (exit 2).
 */
import path from 'node:path';
import { LineCounter, isCollection, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node, Pair } from 'yaml';
import type { z } from 'zod';
import { ConfigInvalid } from '../errors.js';
import type { ConfigProblem } from '../errors.js';
import { suggest } from '../cli/suggest.js';
import { findLiteralSecrets } from './literal-secrets.js';
import { configSchema } from './schema.js';
import type { PcigateConfig } from './schema.js';
import { keysAt } from './schema-walk.js';
import { SECRET_REF_EXPECTED, isSecretRef } from './secret-ref.js';

/** Largest config file read; anything bigger is certainly not a hand-written pcigate.yaml. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_LISTED = 25;

/**
 * Validates `text` as the config file `file` (used only in messages and to resolve relative paths).
 * Returns the effective config (defaults applied); throws ConfigInvalid listing every problem.
 */
export function parseConfigText(text: string, file: string, opts: { homeDir?: string } = {}): PcigateConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const p = lc.linePos(offset);
    return { line: p.line, col: p.col };
  };

  if (doc.errors.length > 0) {
    // The message alone, without yaml's excerpt of the source line: that line may hold a secret.
    const problems = doc.errors.map((e): ConfigProblem => ({
      file, ...at(e.pos[0]), path: '', kind: 'yaml', message: `YAML syntax: ${firstLine(e.message)}`,
    }));
    throw invalid(file, problems);
  }

  const problems: ConfigProblem[] = [];
  for (const hit of findLiteralSecrets(doc)) {
    problems.push({ file, ...at(hit.offset), path: dotted(hit.path), kind: 'literal_secret', message: hit.message });
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    problems.push({ file, line: 1, col: 1, path: '', kind: 'yaml', message: `YAML: ${(e as Error).message}` });
    throw invalid(file, problems);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    problems.push({ file, ...at(nodeStart(doc.contents as Node | null)), path: '', kind: 'schema', message: 'expected a mapping of sections (connections, identity, audit, masking, policy) at the top level' });
    throw invalid(file, problems);
  }

  // `masking:` with every child commented out parses as null; mean "use the defaults", not "wrong type".
  for (const [k, v] of Object.entries(data)) if (v === null) delete (data as Record<string, unknown>)[k];

  const result = configSchema.safeParse(data);
  if (!result.success) {
    const scanned = new Set(problems.map((p) => p.path));
    for (const issue of result.error.issues) {
      for (const p of issueProblems(issue, doc, data, file, at)) {
        // The document scan already reported a literal secret here; the schema's "expected a secret
        // reference" about the same value would say it twice.
        const aboutSecret = p.kind === 'literal_secret' || p.message.startsWith(SECRET_REF_EXPECTED);
        if (aboutSecret && scanned.has(p.path)) continue;
        problems.push(p);
      }
    }
  }
  if (problems.length > 0) throw invalid(file, problems);
  const config = (result as { data: PcigateConfig }).data;
  anchor(config, path.dirname(file), opts.homeDir);
  return config;
}

function invalid(file: string, problems: ConfigProblem[]): ConfigInvalid {
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  const n = problems.length;
  // A file with hundreds of problems (a wrong file passed to --config) should not flood the terminal.
  const lines = problems.slice(0, MAX_LISTED).map(formatProblem);
  if (n > MAX_LISTED) lines.push(`… and ${n - MAX_LISTED} more (all of them in --json)`);
  return new ConfigInvalid(`invalid configuration ${file} (${n} problem${n === 1 ? '' : 's'}):\n${lines.map((l) => `  ${l}`).join('\n')}`, problems, {
    hint: "Fix the lines above, then run 'pcigate config check'. docs/pcigate.example.yaml shows every key.",
  });
}

/** `file:line:col: path: message`, the form editors and CI annotators recognise. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

type At = (offset: number) => { line: number; col: number };

function issueProblems(issue: z.core.$ZodIssue, doc: Document, data: unknown, file: string, at: At): ConfigProblem[] {
  const ipath = issue.path as Array<string | number>;
  if (issue.code === 'unrecognized_keys') {
    const candidates = keysAt(configSchema, ipath, data);
    return issue.keys.map((key) => {
      const pair = pairAt(doc, [...ipath, key]);
      // Suggest only keys not already present: `requre_mfa` next to an existing `require_mfa` is a duplicate, not a typo.
      const present = valueAt(data, ipath) as Record<string, unknown>;
      const guess = suggest(key, candidates.filter((c) => !(c in present)));
      const expected = candidates.length > 0 ? ` (expected one of: ${candidates.join(', ')})` : '';
      return {
        file, ...at(nodeStart(pair?.key as Node | undefined)), path: dotted([...ipath, key]), kind: 'unknown_key' as const,
        message: `unknown key '${key}'${guess ? `. Did you mean '${guess}'?` : expected}`,
      };
    });
  }
  const { node, found } = locate(doc, ipath);
  let message = issue.message.replace(/^Invalid input: /, '');
  if (!found && issue.code === 'invalid_type') {
    message = `missing required key '${String(ipath[ipath.length - 1])}' (${message.replace(/, received undefined$/, '')})`;
  } else if (issue.code === 'invalid_union' && 'discriminator' in issue && Array.isArray((issue as { options?: unknown }).options)) {
    const d = issue as { discriminator: string; options: unknown[] };
    message = `expected ${d.discriminator} to be one of: ${d.options.map(String).join(', ')}`;
  }
  const literal = (issue as { params?: { literalSecret?: boolean } }).params?.literalSecret === true;
  return [{ file, ...at(node), path: dotted(ipath), kind: literal ? 'literal_secret' : 'schema', message }];
}

/** The offset to report for `path`: the value of a scalar, the key of a collection, or the nearest ancestor. */
function locate(doc: Document, p: Array<string | number>): { node: number; found: boolean } {
  let node = doc.contents as Node | null;
  let keyNode: Node | undefined;
  for (let i = 0; i < p.length; i++) {
    const pair = childPair(node, p[i]!);
    if (pair === undefined) {
      if (isSeq(node) && typeof p[i] === 'number' && node.items[p[i] as number]) {
        node = node.items[p[i] as number] as Node;
        keyNode = undefined;
        continue;
      }
      return { node: keyNode ? nodeStart(keyNode) : nodeStart(node), found: false };
    }
    keyNode = pair.key as Node;
    node = pair.value as Node | null;
  }
  if (node && !isCollection(node)) return { node: nodeStart(node), found: true };
  return { node: keyNode ? nodeStart(keyNode) : nodeStart(node), found: node !== null || keyNode !== undefined };
}

function childPair(node: Node | null, seg: string | number): Pair | undefined {
  if (!isMap(node)) return undefined;
  return node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg)) as Pair | undefined;
}

function pairAt(doc: Document, p: Array<string | number>): Pair | undefined {
  let node = doc.contents as Node | null;
  let pair: Pair | undefined;
  for (const seg of p) {
    if (isSeq(node) && typeof seg === 'number') { node = node.items[seg] as Node | null; pair = undefined; continue; }
    pair = childPair(node, seg);
    if (!pair) return undefined;
    node = pair.value as Node | null;
  }
  return pair;
}

function valueAt(data: unknown, p: Array<string | number>): unknown {
  let v = data;
  for (const seg of p) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[seg] : undefined;
  return v ?? {};
}

function nodeStart(node: Node | null | undefined): number {
  return node?.range?.[0] ?? 0;
}

function dotted(p: ReadonlyArray<PropertyKey>): string {
  return p.map((s) => (typeof s === 'number' ? `[${s}]` : String(s))).join('.').replace(/\.\[/g, '[');
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/**
 * Relative paths in the file mean "relative to the file", not to wherever pcigate was started:
 * `file:` secret references get the config directory as base, and audit.dir, ca_file, tls cert/key files
 * and socket directories are made absolute (`~/` expands to HOME).
 */
function anchor(config: PcigateConfig, dir: string, homeDir: string | undefined): void {
  const visit = (v: unknown): void => {
    if (isSecretRef(v)) { v.base = dir; return; }
    if (v !== null && typeof v === 'object') for (const x of Object.values(v)) visit(x);
  };
  visit(config);
  const abs = (p: string): string => {
    if (homeDir !== undefined && (p === '~' || p.startsWith('~/'))) return path.join(homeDir, p.slice(1));
    return path.resolve(dir, p);
  };
  if (config.audit.dir !== undefined) config.audit.dir = abs(config.audit.dir);
  for (const c of Object.values(config.connections)) {
    if (c.kind !== 'postgres') continue;
    if (c.ca_file !== undefined) c.ca_file = abs(c.ca_file);
    if (c.socket !== undefined) c.socket = abs(c.socket);
    if (c.tls) c.tls = { cert_file: abs(c.tls.cert_file), key_file: abs(c.tls.key_file) };
  }
}
