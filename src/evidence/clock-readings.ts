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

/** Whether the number at line[at] of the record line `line` is a clock reading of pcigate's (see above). */
export function isClockReading(line: Buffer, at: number): boolean {
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
  const value = line.toString('latin1', at, end);
  return members?.some((name) => {
    const key = `"${name}":`;
    return typeof record.detail?.[name] === 'number' && String(record.detail[name]) === value && at >= key.length && line.toString('latin1', at - key.length, at) === key;
  }) ?? false;
}
