/**
 * A search_path sent as a startup parameter (pgjdbc currentSchema, postgres.js, Npgsql SearchPath) is forwarded
 * (src/pg/protocol/startup-params.ts), so policy must start from it as from a SET at the start of the session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { policySection } from '../../../src/config/sections/policy.js';
import { optionsSetSearchPath, partitionStartupParams, startupSetting } from '../../../src/pg/protocol/startup-params.js';
import type { PolicyIdentity } from '../../../src/policy/evaluate.js';
import { loadParser } from '../../../src/policy/pg-parser.js';
import { PolicyEngine } from '../../../src/policy/policy-engine.js';

beforeAll(async () => { await loadParser(); });

const eng: PolicyIdentity = { sub: 'eng', via: 'local' };
const engine = new PolicyEngine(policySection.parse({
  roles: { eng: { subjects: ['eng'] } },
  connections: { db: { roles: { eng: { classes: ['read'], tables: { allow: ['public.*'] } } } } },
}), {});

describe('search_path from the startup packet', () => {
  it('is forwarded upstream, and found whatever its case', () => {
    expect(partitionStartupParams({ search_path: 'app', options: '-c work_mem=1MB' })).toMatchObject({ forward: { search_path: 'app' }, dropped: ['options'] });
    expect(startupSetting({ Search_Path: 'app' }, 'search_path')).toBe('app');
  });

  it('policy resolves unqualified names in it from the first statement', () => {
    expect(engine.openSession(eng, 'db', 0).decide('SELECT * FROM items', 0).action).toBe('allow');
    const app = engine.openSession(eng, 'db', 0, { searchPath: 'app' });
    expect(app.searchPath).toEqual(['app']);
    expect(app.decide('SELECT * FROM items', 0)).toMatchObject({ action: 'deny', rule: 'policy.connections.db.roles.eng.tables.allow' });
    expect(app.decide('SELECT * FROM public.items', 0).action).toBe('allow');
  });

  it('startup options that set search_path are recognised (the session is refused, not silently re-pathed)', () => {
    for (const o of ['-c search_path=app', '-csearch_path=app', '--search_path=app', '-c work_mem=1MB -c SEARCH_PATH = app']) expect(optionsSetSearchPath(o), o).toBe(true);
    for (const o of [undefined, '', '-c work_mem=1MB', '-c statement_timeout=5s']) expect(optionsSetSearchPath(o), String(o)).toBe(false);
  });
});
