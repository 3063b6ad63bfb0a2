import { describe, expect, it } from 'vitest';
import { allowedAt, describeWindow, windowEnd } from '../../../src/policy/time-window.js';
import type { AllowedHours } from '../../../src/policy/time-window.js';

const T = (iso: string) => Date.parse(iso);
const WEEK = ['mon', 'tue', 'wed', 'thu', 'fri'] as const;
const office: AllowedHours = { from: '07:00', to: '19:00', days: WEEK, tz: 'Europe/Berlin' };
const night = (days: AllowedHours['days'] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']): AllowedHours => ({ from: '22:00', to: '06:00', days, tz: 'Europe/Berlin' });

describe('allowed_hours: office hours in Europe/Berlin', () => {
  it('reads the wall clock in the zone: CET in winter, CEST in summer', () => {
    // Wed 2026-01-14: CET (UTC+1). 07:00 local = 06:00Z.
    expect(allowedAt(office, T('2026-01-14T05:59:00Z'))).toBe(false);
    expect(allowedAt(office, T('2026-01-14T06:00:00Z'))).toBe(true);
    expect(allowedAt(office, T('2026-01-14T17:59:00Z'))).toBe(true);
    expect(allowedAt(office, T('2026-01-14T18:00:00Z'))).toBe(false);
    // Wed 2026-07-15: CEST (UTC+2). 07:00 local = 05:00Z.
    expect(allowedAt(office, T('2026-07-15T04:59:00Z'))).toBe(false);
    expect(allowedAt(office, T('2026-07-15T05:00:00Z'))).toBe(true);
    expect(allowedAt(office, T('2026-07-15T16:59:00Z'))).toBe(true);
    expect(allowedAt(office, T('2026-07-15T17:00:00Z'))).toBe(false);
  });

  it('refuses days not listed (the weekday of the zone, not of UTC)', () => {
    expect(allowedAt(office, T('2026-01-17T10:00:00Z'))).toBe(false); // Saturday
    expect(allowedAt(office, T('2026-01-18T10:00:00Z'))).toBe(false); // Sunday
    // Sunday 23:30Z is Monday 00:30 in Berlin; still outside 07:00–19:00. Monday 06:30Z is 07:30.
    expect(allowedAt({ ...office, from: '00:00', to: '01:00' }, T('2026-01-18T23:30:00Z'))).toBe(true);
    expect(allowedAt({ ...office, from: '00:00', to: '01:00', days: ['sun'] }, T('2026-01-18T23:30:00Z'))).toBe(false);
  });

  it('ends the session at the window close, in local time across DST', () => {
    expect(windowEnd(office, T('2026-01-14T09:00:00Z'))).toBe(T('2026-01-14T18:00:00Z'));
    expect(windowEnd(office, T('2026-07-15T09:00:00Z'))).toBe(T('2026-07-15T17:00:00Z'));
    expect(windowEnd(office, T('2026-01-14T20:00:00Z'))).toBeUndefined();
  });

  it('rejects an unknown time zone (fail closed)', () => {
    expect(() => allowedAt({ ...office, tz: 'Mars/Olympus' }, T('2026-01-14T09:00:00Z'))).toThrow(/unknown time zone/);
  });

  it('describes itself', () => {
    expect(describeWindow(office)).toBe('mon,tue,wed,thu,fri 07:00–19:00 Europe/Berlin');
    expect(describeWindow(night())).toBe('daily 22:00–06:00 Europe/Berlin');
  });
});

describe('allowed_hours: windows across midnight', () => {
  it('22:00–06:00 covers late evening and early morning', () => {
    const h = night();
    expect(allowedAt(h, T('2026-01-14T20:59:00Z'))).toBe(false); // 21:59 CET
    expect(allowedAt(h, T('2026-01-14T21:00:00Z'))).toBe(true); // 22:00
    expect(allowedAt(h, T('2026-01-14T23:30:00Z'))).toBe(true); // 00:30
    expect(allowedAt(h, T('2026-01-15T04:59:00Z'))).toBe(true); // 05:59
    expect(allowedAt(h, T('2026-01-15T05:00:00Z'))).toBe(false); // 06:00
    expect(allowedAt(h, T('2026-01-15T11:00:00Z'))).toBe(false);
  });

  it('the day list names the day the window opens: Friday night runs into Saturday morning', () => {
    const h = night(['fri']);
    expect(allowedAt(h, T('2026-01-16T21:30:00Z'))).toBe(true); // Fri 22:30
    expect(allowedAt(h, T('2026-01-17T01:00:00Z'))).toBe(true); // Sat 02:00, Friday's window
    expect(allowedAt(h, T('2026-01-16T01:00:00Z'))).toBe(false); // Fri 02:00 is Thursday's window
    expect(allowedAt(h, T('2026-01-17T21:30:00Z'))).toBe(false); // Sat 22:30
    expect(windowEnd(h, T('2026-01-16T21:30:00Z'))).toBe(T('2026-01-17T05:00:00Z'));
  });

  it('spring forward (2026-03-29 02:00 CET → 03:00 CEST): the night is an hour shorter', () => {
    const h = night();
    expect(allowedAt(h, T('2026-03-28T21:00:00Z'))).toBe(true); // Sat 22:00 CET
    expect(allowedAt(h, T('2026-03-29T01:30:00Z'))).toBe(true); // 03:30 CEST
    expect(windowEnd(h, T('2026-03-28T21:00:00Z'))).toBe(T('2026-03-29T04:00:00Z')); // 06:00 CEST: 7 h
  });

  it('fall back (2026-10-25 03:00 CEST → 02:00 CET): the night is an hour longer', () => {
    const h = night();
    expect(windowEnd(h, T('2026-10-24T20:00:00Z'))).toBe(T('2026-10-25T05:00:00Z')); // 22:00 CEST → 06:00 CET: 9 h
  });

  it('a close inside the spring-forward gap is the end of the gap', () => {
    const h: AllowedHours = { from: '20:00', to: '02:30', days: ['sat'], tz: 'Europe/Berlin' };
    expect(windowEnd(h, T('2026-03-28T22:00:00Z'))).toBe(T('2026-03-29T01:00:00Z')); // 02:00 CET becomes 03:00 CEST
    expect(allowedAt(h, T('2026-03-29T00:59:00Z'))).toBe(true); // 01:59 CET
    expect(allowedAt(h, T('2026-03-29T01:00:00Z'))).toBe(false); // 03:00 CEST
  });

  it('an ambiguous close in the fall-back hour is its first occurrence', () => {
    const h: AllowedHours = { from: '20:00', to: '02:30', days: ['sat'], tz: 'Europe/Berlin' };
    expect(windowEnd(h, T('2026-10-24T20:00:00Z'))).toBe(T('2026-10-25T00:30:00Z')); // 02:30 CEST
  });

  it('from == to is a whole day; whole days in a row run on until the first day not listed', () => {
    const h: AllowedHours = { from: '00:00', to: '00:00', days: ['mon', 'tue'], tz: 'UTC' };
    expect(allowedAt(h, T('2026-01-12T12:00:00Z'))).toBe(true); // Monday
    expect(allowedAt(h, T('2026-01-14T12:00:00Z'))).toBe(false); // Wednesday
    expect(windowEnd(h, T('2026-01-12T12:00:00Z'))).toBe(T('2026-01-14T00:00:00Z'));
    expect(windowEnd({ ...h, days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] }, T('2026-01-12T12:00:00Z'))).toBeUndefined();
  });

  it('works in zones with 45-minute offsets (Asia/Kathmandu, UTC+5:45)', () => {
    const h: AllowedHours = { from: '09:00', to: '17:00', days: WEEK, tz: 'Asia/Kathmandu' };
    expect(allowedAt(h, T('2026-01-14T03:14:00Z'))).toBe(false); // 08:59
    expect(allowedAt(h, T('2026-01-14T03:15:00Z'))).toBe(true); // 09:00
    expect(windowEnd(h, T('2026-01-14T05:00:00Z'))).toBe(T('2026-01-14T11:15:00Z'));
  });
});
