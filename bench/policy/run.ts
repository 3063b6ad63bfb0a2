/**
 * Policy micro-benchmark: decide() on a repeated statement (decision-cache hit), a repeated statement with
 * a cold decision cache (classification cached), and a cold parse + classification of distinct statements.
 * Run after the build: `node dist/bench/policy/run.js [iterations]`. Prints µs per operation as JSON.
 */
import { policySection } from '../../src/config/sections/policy.js';
import { classify, clearClassifyCache } from '../../src/policy/classify.js';
import { loadParser } from '../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../src/policy/policy-engine.js';

const N = Number(process.argv[2] ?? 200_000);
const policy = policySection.parse({
  roles: { support: { groups: ['support'] } },
  connections: {
    'prod-db': {
      roles: {
        support: {
          classes: ['read', 'transaction', 'utility'],
          tables: { allow: ['public.*'], deny: ['public.secrets'] },
          columns: { deny: ['cards.pan', 'cvv'] },
          require_approval: ['write_without_where', 'ddl', 'copy_out'],
        },
      },
    },
  },
});
const identity = { sub: 'u-1', groups: ['support'], via: 'oidc', mfa: true };
const SQL = 'SELECT o.id, o.total, c.name FROM public.orders o JOIN public.customers c ON c.id = o.customer_id WHERE o.id = $1';

let next = 0;

function time(label: string, n: number, fn: (i: number) => void): { op: string; n: number; us_per_op: number } {
  // Warm-up and timed runs get distinct indexes, so "distinct statement" cases never hit a cache.
  for (let i = 0; i < Math.min(n, 1000); i++) fn(next++);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(next++);
  const ns = Number(process.hrtime.bigint() - t0);
  return { op: label, n, us_per_op: Math.round((ns / n / 1000) * 1000) / 1000 };
}

await loadParser();
const engine = new PolicyEngine(policy, {});
const results = [
  time('decide, repeated statement (cache hit)', N, () => { engine.decide(identity, 'prod-db', SQL); }),
  time('decide, cold decision cache (classification cached)', Math.max(1, Math.floor(N / 20)), () => {
    new PolicyEngine(policy, {}).decide(identity, 'prod-db', SQL);
  }),
  time('classify, cold parse of a distinct statement', Math.max(1, Math.floor(N / 100)), (i) => {
    clearClassifyCache();
    classify(`${SQL} AND o.total > ${i}`);
  }),
  time('decide, cold parse + evaluate', Math.max(1, Math.floor(N / 100)), (i) => {
    engine.decide(identity, 'prod-db', `${SQL} AND o.total > ${i + 1_000_000}`);
  }),
];
process.stdout.write(`${JSON.stringify({ node: process.version, results }, null, 2)}\n`);
