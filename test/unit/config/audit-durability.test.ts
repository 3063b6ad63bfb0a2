import { describe, expect, it } from 'vitest';
import { auditLogOptionsFromConfig } from '../../../recorder/index.js';
import { parseConfigText } from '../../../src/config/parse-config.js';

describe('audit.durability and audit.sync_interval', () => {
  it('default to fsync and 50ms, and reach the recorder', () => {
    const c = parseConfigText('audit: {}\n', '/c.yaml');
    expect(c.audit).toMatchObject({ durability: 'fsync', sync_interval: 50 });
    expect(auditLogOptionsFromConfig('/h', c.audit)).toMatchObject({ durability: 'fsync', syncIntervalMs: 50 });
  });

  it('parse os with a sync interval', () => {
    const c = parseConfigText('audit:\n  durability: os\n  sync_interval: 20ms\n', '/c.yaml');
    expect(c.audit).toMatchObject({ durability: 'os', sync_interval: 20 });
    expect(auditLogOptionsFromConfig('/h', c.audit, { createIfMissing: true })).toMatchObject({ home: '/h', durability: 'os', syncIntervalMs: 20, createIfMissing: true });
  });

  it('reject anything else', () => {
    expect(() => parseConfigText('audit:\n  durability: none\n', '/c.yaml')).toThrow(/durability/);
    expect(() => parseConfigText('audit:\n  sync_interval: 1m\n', '/c.yaml')).toThrow(/sync_interval/);
  });
});
