/** `p`, or a rejection naming `what` once `ms` have passed: a hang fails the test instead of timing it out. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s (hung)`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}
