/** The terminal player's timing (speed, idle limit), its keys (pause, speed, quit) and the cast parser. */
import { describe, expect, it } from 'vitest';
import { castOutput, parseCast } from '../../../src/replay/asciicast-reader.js';
import type { Cast } from '../../../src/replay/asciicast-reader.js';
import { applyKey, playCast } from '../../../src/replay/terminal-player.js';
import type { PlayerControl } from '../../../src/replay/terminal-player.js';

const cast: Cast = parseCast([
  JSON.stringify({ version: 2, width: 80, height: 24 }),
  JSON.stringify([0.5, 'o', 'a']),
  JSON.stringify([0.6, 'm', 'marker']),
  JSON.stringify([1.0, 'i', 'typed']),
  JSON.stringify([11.0, 'o', 'b']),
  JSON.stringify([11.5, 'r', '100x30']),
  JSON.stringify([12.0, 'o', 'c']),
  '',
].join('\n'));

/** A virtual clock: sleep() advances it and records each wait. */
function virtual() {
  let now = 0;
  const writes: Array<[number, string]> = [];
  return {
    writes,
    now: () => now,
    sleep: async (ms: number) => { now += ms; },
    write: (d: string) => { writes.push([Math.round(now), d]); },
  };
}

describe('playCast', () => {
  it('keeps the recorded timing: output only, at recording time / speed', async () => {
    const v = virtual();
    const control: PlayerControl = { speed: 1, paused: false, quit: false };
    const r = await playCast(cast, { write: v.write, control, idleLimit: Infinity, timed: true, sleep: v.sleep });
    expect(v.writes).toEqual([[500, 'a'], [11_000, 'b'], [12_000, 'c']]);
    expect(r).toEqual({ at: 12, quit: false });
  });

  it('caps idle gaps (in recording time) and then applies the speed', async () => {
    const v = virtual();
    await playCast(cast, { write: v.write, control: { speed: 2, paused: false, quit: false }, idleLimit: 2, timed: true, sleep: v.sleep });
    // gaps 0.5, 0.1, 0.4, 10→2, 0.5, 0.5 → a at 0.25 s; b at (0.5+0.1+0.4+2)/2 = 1.5 s; c at 1.5 + 0.5 = 2 s.
    expect(v.writes).toEqual([[250, 'a'], [1_500, 'b'], [2_000, 'c']]);
  });

  it('writes everything at once when untimed', async () => {
    const v = virtual();
    await playCast(cast, { write: v.write, control: { speed: 1, paused: false, quit: false }, idleLimit: Infinity, timed: false, sleep: v.sleep });
    expect(v.writes).toEqual([[0, 'a'], [0, 'b'], [0, 'c']]);
    expect(castOutput(cast)).toBe('abc');
  });

  it('pauses on space, resumes on space, changes speed with + and -, quits on q', async () => {
    const control: PlayerControl = { speed: 1, paused: false, quit: false };
    const writes: string[] = [];
    let sleeps = 0;
    const sleep = async () => {
      sleeps++;
      if (sleeps === 2) {
        applyKey(control, ' ');
        // Resume a little later, from "outside".
        setTimeout(() => { applyKey(control, '+'); applyKey(control, '+'); applyKey(control, ' '); }, 5);
      }
      if (writes.length === 2) applyKey(control, 'q');
      await new Promise((r) => setImmediate(r));
    };
    const r = await playCast(cast, { write: (d) => writes.push(d), control, idleLimit: Infinity, timed: true, sleep });
    expect(control.speed).toBe(4);
    expect(writes).toEqual(['a', 'b']);
    expect(r.quit).toBe(true);
    applyKey(control, '-');
    expect(control.speed).toBe(2);
  });

  it('rejects what is not asciicast v2', () => {
    expect(() => parseCast('{"version":1}\n')).toThrow(/version 1/);
    expect(() => parseCast('{"version":2,"width":1,"height":1}\nnot json\n')).toThrow(/line 2/);
  });
});
