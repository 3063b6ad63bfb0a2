/**
 * Parses asciicast v2 (docs.asciinema.org/manual/asciicast/v2): a JSON header line, then one
 * `[seconds, code, data]` event per line. The file is the one whose hash was just checked, so a line that
 * does not parse is reported, never skipped silently.
 */
import { VerificationError } from '../errors.js';

export interface CastHeader {
  version: number;
  width: number;
  height: number;
  timestamp?: number;
  title?: string;
  env?: Record<string, string>;
}

export type CastEvent = [number, string, string];

export interface Cast {
  header: CastHeader;
  events: CastEvent[];
}

export function parseCast(text: string, name = 'recording'): Cast {
  const lines = text.split('\n');
  let header: CastHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as CastHeader;
  } catch (e) {
    throw new VerificationError(`${name}: the first line is not an asciicast header`, { cause: e });
  }
  if (header.version !== 2) throw new VerificationError(`${name}: asciicast version ${String(header.version)} is not supported (2 is)`);
  const events: CastEvent[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch (e) {
      throw new VerificationError(`${name}: line ${i + 1} is not an asciicast event`, { cause: e });
    }
    if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[1] !== 'string' || typeof ev[2] !== 'string') {
      throw new VerificationError(`${name}: line ${i + 1} is not an asciicast event`);
    }
    events.push(ev as CastEvent);
  }
  return { header, events };
}

/** What the terminal showed: the concatenated output (`o`) events. */
export function castOutput(cast: Cast): string {
  let s = '';
  for (const [, code, data] of cast.events) if (code === 'o') s += data;
  return s;
}
