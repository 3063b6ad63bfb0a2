/** partitionStartupParams: only harmless client settings reach upstream; replication is flagged. */
import { describe, expect, it } from 'vitest';
import { partitionStartupParams } from '../../../src/pg/protocol/startup-params.js';

describe('partitionStartupParams', () => {
  it('forwards allow-listed settings case-insensitively and protocol options, drops the rest', () => {
    const p = partitionStartupParams({
      user: 'alice', database: 'prod', application_name: 'psql', DateStyle: 'ISO', client_encoding: 'UTF8',
      options: '-c session_replication_role=replica', work_mem: '1GB', '_pq_.command_tag': 'x',
    });
    expect(p.forward).toEqual({ application_name: 'psql', DateStyle: 'ISO', client_encoding: 'UTF8', '_pq_.command_tag': 'x' });
    expect(p.dropped.sort()).toEqual(['options', 'work_mem']);
    expect(p.replication).toBe(false);
  });

  it('flags replication connections unless explicitly off', () => {
    for (const v of ['database', 'true', 'on', '1', 'yes']) expect(partitionStartupParams({ user: 'u', replication: v }).replication).toBe(true);
    for (const v of ['false', 'off', '0', 'no']) expect(partitionStartupParams({ user: 'u', replication: v }).replication).toBe(false);
  });

  it('takes a custom allow-list', () => {
    expect(partitionStartupParams({ user: 'u', work_mem: '64MB', application_name: 'x' }, ['work_mem'])).toEqual({
      forward: { work_mem: '64MB' }, dropped: ['application_name'], replication: false,
    });
  });
});
