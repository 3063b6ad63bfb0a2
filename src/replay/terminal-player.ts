/**
 * Plays an asciicast v2 recording to a terminal with its original timing (issue 8 item 2): gaps between
 * output events are capped at the idle limit (asciinema's `idle_time_limit`, applied to recording time)
 * and then divided by the speed. A PlayerControl lets a TTY's keys pause, change speed and quit mid-play.
 */
import type { Cast } from './asciicast-reader.js';

export interface PlayerControl {
  speed: number;
  paused: boolean;
  quit: boolean;
  /** Wakes a paused player (set by the player; called by whoever unpauses). */
  wake?: () => void;
}

export interface PlayOptions {
  write(data: string): void;
  control: PlayerControl;
  /** Longest pause kept, in recording seconds (Infinity: as recorded). */
  idleLimit: number;
  /** false: write everything at once (not a terminal, and no --speed asked for). */
  timed: boolean;
  sleep?: (ms: number) => Promise<void>;
}

const SLICE_MS = 50;
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Plays `cast`; resolves with the recording time reached (its end, unless quit). */
export async function playCast(cast: Cast, o: PlayOptions): Promise<{ at: number; quit: boolean }> {
  const sleep = o.sleep ?? defaultSleep;
  const c = o.control;
  let prev = 0;
  for (const [t, code, data] of cast.events) {
    if (c.quit) return { at: prev, quit: true };
    if (o.timed) {
      let left = Math.min(Math.max(0, t - prev), o.idleLimit);
      while (left > 0 && !c.quit) {
        if (c.paused) {
          await new Promise<void>((r) => { c.wake = r; });
          c.wake = undefined;
          continue;
        }
        const ms = Math.min(SLICE_MS, (left * 1000) / c.speed);
        await sleep(ms);
        left -= (ms * c.speed) / 1000;
      }
      if (c.quit) return { at: prev, quit: true };
    }
    prev = t;
    if (code === 'o') o.write(data);
  }
  return { at: prev, quit: false };
}

/** Applies one key press to the control: space pauses/resumes, +/- change speed, q (or Ctrl-C) quits. */
export function applyKey(c: PlayerControl, key: string): void {
  if (key === ' ') {
    c.paused = !c.paused;
    if (!c.paused) c.wake?.();
  } else if (key === '+' || key === '=') {
    c.speed = Math.min(c.speed * 2, 1024);
  } else if (key === '-' || key === '_') {
    c.speed = Math.max(c.speed / 2, 1 / 16);
  } else if (key === 'q' || key === '\x03') {
    c.quit = true;
    c.paused = false;
    c.wake?.();
  }
}
