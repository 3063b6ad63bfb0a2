/**
 * One use per workload token. A CI job's OIDC token is a bearer credential valid until its `exp`: copied from a
 * job log, an artifact or a compromised step, it would let anyone run `pcigate exec` as that job again. Each
 * token is claimed once, by issuer and `jti` (RFC 7519 §4.1.7; Microsoft Entra ID's `uti` when there is no jti),
 * in `workload-jti.json` in the data home (0600, replaced atomically under an O_EXCL lock: file-lock.ts, as
 * approvals are), and a second process presenting it is refused. An entry is dropped once its token has expired
 * (exp plus the tolerated clock skew), when the validator would refuse the token anyway, so the file holds at
 * most the tokens still alive.
 *
 * A token with neither is refused: pcigate could not tell its replay from a fresh token (GitHub Actions,
 * GitLab and oidc-provider tokens carry a jti, Entra ID's a uti). The key is a SHA-256 of issuer and
 * identifier, so the file holds no token text.
 *
 * A workload rule with `reuse: until_expiry` (GitLab `id_tokens:` hand every step of a job the same token) lets
 * its token be presented again until it expires: its first use is still recorded, so a `once` rule of another
 * connection in the same data home refuses it afterwards, but nothing is refused; a token without an identifier
 * has nothing to record and is let through.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Clock, Fs } from '../cli/ctx.js';
import type { TokenReuse } from '../config/sections/connections.js';
import { HomeError } from '../errors.js';
import { useRegularFile } from '../../recorder/regular-file.js';
import type { RegularFileUse } from '../../recorder/regular-file.js';
import { withFileLock, writeFileAtomic } from '../policy/file-lock.js';
import type { JwtClaims } from './types.js';
import { untrustedText } from './untrusted-text.js';
import { refused } from './validate.js';

export const REPLAY_FILE = 'workload-jti.json';

/** The file: hashed issuer+jti → [when the entry may go (ms), when the token was first used (ms)]. */
interface ReplayFile {
  v: 1;
  used: Record<string, [number, number]>;
}

/**
 * Tokens claimed, by the broker that claimed them (its validator cache, one per sessionActor): a broker
 * resolves its job's one token again for every session it opens, which is the same use, not a replay.
 */
const claimedBy = new WeakMap<object, Set<string>>();

/**
 * How the rules a token's verified claims matched let it be reused, set by verifyWorkloadToken (workload.ts) on
 * the claims object it returns, read by claimWorkloadToken: the broker seam (resolve.ts) passes only the claims
 * from one to the other. Claims not marked are `once` (fail closed).
 */
const reuseOf = new WeakMap<JwtClaims, TokenReuse>();

/** A copy of `claims` marked with `reuse` (a copy: the validator's own object is never marked). */
export function withReuse(claims: JwtClaims, reuse: TokenReuse): JwtClaims {
  const marked = { ...claims };
  reuseOf.set(marked, reuse);
  return marked;
}

/** The token's unique identifier: `jti`, or Entra ID's `uti` when there is no jti (a non-empty string either way). */
function tokenId(claims: JwtClaims): { name: 'jti' | 'uti'; value: string } | undefined {
  for (const name of ['jti', 'uti'] as const) {
    const value = claims[name];
    if (typeof value === 'string' && value !== '') return { name, value };
  }
  return undefined;
}

/**
 * Claims the use of a validated workload token (`claims`: its verified iss, jti or uti, and exp) in data home
 * `home`; `owner` (the broker's cache object) may present it again, anyone else is refused unless `reuse` (by
 * default what verifyWorkloadToken marked on `claims`, else `once`) is `until_expiry`.
 * Throws TokenRefused `replayed` when another process claimed it before, `no_jti` without a jti or uti; HomeError
 * when the file cannot be read or is open to group or others (fail closed: nothing is claimed).
 */
export async function claimWorkloadToken(deps: { fs: Fs; clock: Clock }, home: string, claims: JwtClaims, clockSkewMs: number, owner?: object,
  reuse: TokenReuse = reuseOf.get(claims) ?? 'once'): Promise<void> {
  const { iss, exp } = claims;
  const id = tokenId(claims);
  if (!id) {
    if (reuse === 'until_expiry') return;
    throw refused('no_jti', 'the workload token carries no jti claim (nor uti): pcigate uses each workload token once and cannot tell a replay of this one '
      + 'from a fresh token; use a token source whose tokens carry jti (GitHub Actions, GitLab id_tokens and most providers do), '
      + 'or allow its reuse until it expires with reuse: until_expiry on the connection\'s workload rule');
  }
  const key = createHash('sha256').update(`${iss ?? ''}\0${id.value}`, 'utf8').digest('hex');
  const mine = owner ? claimedBy.get(owner) ?? new Set<string>() : undefined;
  if (mine?.has(key)) return;
  const file = path.join(home, REPLAY_FILE);
  await deps.fs.mkdir(home, { recursive: true, mode: 0o700 });
  await withFileLock(deps.fs, `${file}.lock`, async () => {
    const now = deps.clock.now();
    const used = Object.fromEntries(Object.entries((await readReplayFile(deps.fs, file)).used).filter(([, [until]]) => until > now));
    const before = used[key];
    if (before && reuse === 'until_expiry') return;
    if (before) {
      throw refused('replayed', `this workload token (${id.name} ${untrustedText(id.value)}) was already used at ${new Date(before[1]).toISOString()}; `
        + 'a workload token is good for one pcigate run: the job asks its platform for a fresh one (a replayed token may have leaked), '
        + 'or, where the platform gives a job one token for all its steps, the connection\'s workload rule says reuse: until_expiry');
    }
    used[key] = [(typeof exp === 'number' ? exp * 1000 : now) + clockSkewMs, now];
    await writeFileAtomic(deps.fs, file, JSON.stringify({ v: 1, used } satisfies ReplayFile));
  });
  if (owner && mine) claimedBy.set(owner, mine.add(key));
}

async function readReplayFile(fs: Fs, file: string): Promise<ReplayFile> {
  let r: RegularFileUse<ReplayFile>;
  try {
    r = await useRegularFile(fs, file, { follow: true }, async (fh) => {
      // Checked on the opened file: whoever may write it could delete an entry and replay that token.
      const mode = (await fh.stat()).mode & 0o777;
      if ((mode & 0o077) !== 0) throw notOwnersOnly(file, `mode ${mode.toString(8)}`);
      const parsed = JSON.parse(await fh.readFile('utf8')) as Partial<ReplayFile>;
      const entries = parsed.v === 1 && typeof parsed.used === 'object' && parsed.used !== null ? Object.values(parsed.used) : undefined;
      if (!entries?.every((e) => Array.isArray(e) && e.length === 2 && e.every((n) => typeof n === 'number'))) throw new Error('not a version 1 replay cache');
      return { v: 1, used: parsed.used! };
    });
  } catch (e) {
    if (e instanceof HomeError) throw e;
    throw new HomeError(`the workload token replay cache ${file} is unreadable (${(e as Error).message}); refusing workload tokens until it is removed`, { cause: e });
  }
  if (r.status === 'used') return r.value;
  if (r.status === 'not_file') throw notOwnersOnly(file, r.kind);
  if (r.code === 'ENOENT') return { v: 1, used: {} };
  throw new HomeError(`cannot read the workload token replay cache ${file}`, { cause: r.cause });
}

function notOwnersOnly(file: string, what: string): HomeError {
  return new HomeError(`the workload token replay cache ${file} is not a regular file readable by its owner only (${what}); refusing workload tokens until it is`, {
    hint: `Remove it (tokens still alive may then be used once more) or chmod 600 ${file}`,
  });
}
