/**
 * Numbers pcigate writes into audit records as readings of its own clock, in milliseconds since the epoch: an
 * approval's `expires_ms` (approval.request). Today's are 13-digit numbers, and one in ten is Luhn-valid, so under
 * `masking.networks: any_luhn` the bundle's scan of the log (req3/pan-sad-scan.csv) reported such a record as
 * holding a card number, and the samples left it out. A finding that is exactly such a member's value, where the
 * record's canonical line has it (`"expires_ms":<n>`, the member of `detail` of a record of that type), is not
 * account data: pcigate wrote it from its clock. The same digits anywhere else (a statement's text, a bind
 * parameter, another member) are still reported.
 */
const CLOCK_MEMBERS: Readonly<Record<string, readonly string[]>> = { 'approval.request': ['expires_ms'] };

/** Every member name CLOCK_MEMBERS lists, as it precedes its value in a canonical line (`"expires_ms":`). */
const KEYS = [...new Set(Object.values(CLOCK_MEMBERS).flat())].map((name) => ({ name, key: Buffer.from(`"${name}":`) }));

/**
 * Whether the number at line[at] of the record line `line` is a clock reading of pcigate's (see above). The line is
 * parsed only when such a member's name is right before the number: a finding elsewhere (a long line of many card
 * numbers, an exported page) costs no parse.
 */
export function isClockReading(line: Buffer, at: number): boolean {
  const named = KEYS.find(({ key }) => at >= key.length && line.compare(key, 0, key.length, at - key.length, at) === 0);
  if (!named) return false;
  let end = at;
  while (end < line.length && line[end]! >= 0x30 && line[end]! <= 0x39) end++;
  if (end === at) return false;
  let record: { type?: unknown; detail?: Record<string, unknown> };
  try {
    record = JSON.parse(line.toString('utf8')) as typeof record;
  } catch {
    return false;
  }
  const members = typeof record.type === 'string' ? CLOCK_MEMBERS[record.type] : undefined;
  const value = record.detail?.[named.name];
  return members?.includes(named.name) === true && typeof value === 'number' && String(value) === line.toString('latin1', at, end);
}
