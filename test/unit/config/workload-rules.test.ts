/**
 * A connection's workload rule must narrow which tokens of its issuer it trusts (src/config/sections/connections.ts):
 * a rule with no claim, or only `*` ones, would let in every token the issuer signs (for GitHub Actions, any
 * repository's job), so the config is refused with the rule's place and issuer named, unless the rule says
 * `any_subject: true`; `any_subject` with claims is refused as contradictory. A rule's `reuse` is `once` (the
 * default) or `until_expiry`, anything else refused with both choices explained.
 */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/parse-config.js';
import { ConfigInvalid } from '../../../src/errors.js';

const FILE = '/etc/pcigate/pcigate.yaml';
const GH = 'https://token.actions.githubusercontent.com';
const config = (rules: string) => [
  'connections:', '  prod-db:', '    kind: postgres', '    host: db.example.com', '    database: payments', '    user: broker',
  '    workload:', rules, '',
].join('\n');

function refusal(text: string): ConfigInvalid {
  try {
    parseConfigText(text, FILE);
  } catch (e) {
    if (e instanceof ConfigInvalid) return e;
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

describe('workload rules need a claim constraint', () => {
  it.each([
    ['no claims key', `      - issuer: ${GH}`],
    ['empty claims', `      - { issuer: ${GH}, claims: {} }`],
    ['only a * claim', `      - { issuer: ${GH}, claims: { repository: "*" } }`],
    ['a list holding *', `      - { issuer: ${GH}, claims: { repository: [org/app, "*"] } }`],
  ])('refuses a rule with %s, naming the rule and its issuer', (_what, rule) => {
    const e = refusal(config(`      - { issuer: ${GH}, claims: { repository: org/payments } }\n${rule}`));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatchObject({ kind: 'schema', path: 'connections.prod-db.workload[1]', line: 9 });
    expect(e.message).toContain(`connections.prod-db.workload[1]: the workload rule for ${GH} names no claim that narrows it`);
    expect(e.message).toContain('any_subject: true');
  });

  it('accepts a rule with a claim (globs with more than * are constraints), or any_subject: true said on purpose', () => {
    const c = parseConfigText(config([
      `      - { issuer: ${GH}, claims: { repository: "org/*" } }`,
      '      - { issuer: "https://ci.internal.example", any_subject: true }',
    ].join('\n')), FILE);
    const rules = c.connections['prod-db']!.workload;
    expect(rules.map((r) => r.any_subject)).toEqual([false, true]);
  });

  it('refuses any_subject: true together with claims', () => {
    const e = refusal(config(`      - { issuer: ${GH}, any_subject: true, claims: { repository: org/payments } }`));
    expect(e.message).toContain('says any_subject: true and also names claims');
  });
});

describe('workload rules for a shared issuer (GitHub.com Actions, GitLab.com) must name their tenant', () => {
  const GL = 'https://gitlab.com';
  it.each([
    ['a branch only', `{ issuer: ${GH}, claims: { ref: refs/heads/main } }`],
    ['an environment only', `{ issuer: ${GH}, claims: { environment: production } }`],
    ['a sub of every repository', `{ issuer: ${GH}, claims: { sub: "repo:*" } }`],
    ['an owner glob', `{ issuer: ${GH}, claims: { repository_owner: "acme*" } }`],
    ['a repository glob before its owner', `{ issuer: ${GH}, claims: { repository: "*/payments" } }`],
    ['one unbound value in a list', `{ issuer: ${GH}, claims: { repository: [org/app, "*/app"] } }`],
    ['any_subject', `{ issuer: ${GH}, any_subject: true }`],
    ['GitLab.com with a branch only', `{ issuer: "${GL}", claims: { ref: main } }`],
  ])('refuses %s', (_what, rule) => {
    const e = refusal(config(`      - ${rule}`));
    expect(e.problems).toHaveLength(1);
    expect(e.message).toContain('connections.prod-db.workload[0]: the workload rule for');
    expect(e.message).toContain('does not name the tenant whose jobs it trusts');
  });

  it('accepts a literal owner: repository, owner id, a sub naming the owner, GitLab project path; other issuers as before', () => {
    const c = parseConfigText(config([
      `      - { issuer: ${GH}, claims: { repository: "org/*", ref: refs/heads/main } }`,
      `      - { issuer: ${GH}, claims: { repository_owner_id: "123456" } }`,
      `      - { issuer: ${GH}, claims: { sub: "repo:org/payments:ref:refs/heads/main" } }`,
      `      - { issuer: "${GL}", claims: { project_path: group/app } }`,
      '      - { issuer: "https://ci.internal.example", claims: { ref: main } }',
    ].join('\n')), FILE);
    expect(c.connections['prod-db']!.workload).toHaveLength(5);
  });
});

describe('workload rule reuse', () => {
  it('is once by default, or until_expiry when said', () => {
    const c = parseConfigText(config([
      `      - { issuer: ${GH}, claims: { repository: org/payments } }`,
      `      - { issuer: ${GH}, claims: { repository: org/deploy }, reuse: until_expiry }`,
    ].join('\n')), FILE);
    expect(c.connections['prod-db']!.workload.map((r) => r.reuse)).toEqual(['once', 'until_expiry']);
  });

  it.each([['a boolean', 'true'], ['another word', 'always']])('refuses %s, naming the place and both choices', (_what, value) => {
    const e = refusal(config(`      - { issuer: ${GH}, claims: { repository: org/payments }, reuse: ${value} }`));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatchObject({ kind: 'schema', path: 'connections.prod-db.workload[0].reuse' });
    expect(e.message).toContain('connections.prod-db.workload[0].reuse: expected once (the default: each token is good for one pcigate run) or until_expiry');
    expect(e.message).toContain(`not ${JSON.stringify(value === 'true' ? true : value)}`);
  });
});
