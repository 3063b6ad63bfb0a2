import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseSize } from '../../../src/config/duration.js';
import { parseConfigText } from '../../../src/config/parse-config.js';
import { ConfigInvalid } from '../../../src/errors.js';

describe('durations', () => {
  it('parses the units people write', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('1.5s')).toBe(1500);
  });

  it('refuses bare numbers, unknown units and junk', () => {
    for (const bad of ['30', '', 's', '10 sec', '1y', '-5s', '5s garbage']) expect(parseDuration(bad)).toBeUndefined();
  });

  it('formats milliseconds back', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(1500)).toBe('1s500ms');
  });

  it('parses sizes', () => {
    expect(parseSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(parseSize('100MB')).toBe(100_000_000);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('lots')).toBeUndefined();
  });

  it('lands in the audit section as milliseconds and bytes, with bounds checked at line:col', () => {
    const c = parseConfigText('audit:\n  checkpoint:\n    interval: 15m\n  epoch: 12h\n  max_unsealed_age: 30m\n  segment_bytes: 1MiB\n', '/c.yaml');
    expect(c.audit).toMatchObject({ checkpoint: { interval: 900_000, records: 1000 }, epoch: 43_200_000, max_unsealed_age: 1_800_000, segment_bytes: 1_048_576 });
    try {
      parseConfigText('audit:\n  epoch: 10s\n  max_unsealed_age: 30\n', '/c.yaml');
      expect.unreachable();
    } catch (e) {
      const p = (e as ConfigInvalid).problems;
      expect(p.map((x) => [x.path, x.line, x.col])).toEqual([['audit.epoch', 2, 10], ['audit.max_unsealed_age', 3, 21]]);
      expect(p[0]!.message).toMatch(/at least 1m/);
      expect(p[1]!.message).toMatch(/expected a duration such as 30s/);
    }
    // verify reads a segment as one buffer: a segment size it would have to refuse is refused here.
    expect(parseConfigText('audit:\n  segment_bytes: 1GiB\n', '/c.yaml').audit.segment_bytes).toBe(1024 ** 3);
    expect(() => parseConfigText('audit:\n  segment_bytes: 5GiB\n', '/c.yaml')).toThrow(ConfigInvalid);
    try {
      parseConfigText('audit:\n  segment_bytes: 5GiB\n', '/c.yaml');
    } catch (e) {
      expect((e as ConfigInvalid).problems.map((x) => [x.path, x.message])).toEqual([['audit.segment_bytes', 'expected at most 1073741824 bytes, got 5GiB']]);
    }
  });
});
