import { describe, expect, it } from 'vitest';
import { isClockReading } from '../../../src/evidence/clock-readings.js';
import { scanBytes } from '../../../src/mask/scan-files.js';
import { canonicalize } from '../../../recorder/canonical-json.js';

const MS = 1796662956012; // Luhn-valid, 13 digits: a card number under any_luhn
const line = (record: object) => Buffer.from(canonicalize(record));
const at = (l: Buffer) => l.indexOf(String(MS));

describe('isClockReading: pcigate\'s own clock readings in its audit records', () => {
  it('is the expires_ms of an approval.request, and nothing else with the same digits', () => {
    const request = line({ type: 'approval.request', seq: 3, detail: { id: 'A-1', expires_ms: MS } });
    expect(isClockReading(request, at(request))).toBe(true);
    for (const other of [
      { type: 'approval.request', seq: 3, detail: { id: 'A-1', rule: `x ${MS}`, expires_ms: 1 } },
      { type: 'approval.request', seq: 3, detail: { id: 'A-1', other_ms: MS } },
      { type: 'pg.query', seq: 3, detail: { expires_ms: MS } },
      { type: 'approval.request', seq: 3, detail: { params: { expires_ms: MS }, expires_ms: 1 } },
    ]) {
      const l = line(other);
      expect(isClockReading(l, at(l)), JSON.stringify(other)).toBe(false);
    }
    expect(isClockReading(Buffer.from(`"expires_ms":${MS}`), 13)).toBe(false);
  });

  it('keeps the scan from reporting it under any_luhn; the finding stands without the hook', () => {
    const text = Buffer.concat([line({ type: 'pg.query', detail: { sql: 'select 1' } }), Buffer.from('\n'), line({ type: 'approval.request', detail: { expires_ms: MS } }), Buffer.from('\n')]);
    expect(scanBytes(text, 'log', { anyLuhn: true }).length).toBe(1);
    expect(scanBytes(text, 'log', { anyLuhn: true, notAccountData: isClockReading })).toEqual([]);
  });
});
