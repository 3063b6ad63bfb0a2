/**
 * Tokens known by their form (KNOWN_TOKEN: GitHub, GitLab, Slack, Stripe, OpenAI/Anthropic, npm, Google, Vault, PyPI,
 * JSON Web Tokens) shown in a terminal — `cat .env`, `vault kv get`, `kubectl get secret … | base64 -d`, a token
 * pasted at a prompt — are hidden in the session's recording (asciicast), as they are on command lines, in SQL
 * records and in transcripts. The user still sees them: the terminal is theirs, and only card numbers are masked on
 * the way to it (by the masker before this). What goes to disk does not hold them.
 *
 * An HTTP credential (redact-content.ts HTTP_CREDENTIAL: the `Authorization:` header `curl -v` prints, a Bearer token)
 * is hidden the same way.
 *
 * Streamed: the run of characters a token may be part of at the end of what came (letters, digits, `_-.=+/`, and `\`
 * and `%`, which may start one: `\nghp_…`, `%3DeyJ…`), with a terminal control sequence right before it (beforeRun)
 * or what a credential follows (`Authorization: Bearer `: beforeCredential), is held until a character that ends it
 * follows, so a token cut across chunks is read whole. What is held goes to the recording when the stream has been
 * idle IDLE_MS (a prompt waits for the user), at flush, and beyond HOLD_MAX characters (a base64 blob streaming) all
 * of it but its last HOLD_KEEP. A token is hidden keeping its length (`[redacted]****…`), so the recording's screen is
 * laid out as the user's was. A private key's body is hidden as well (recorded-keys.ts).
 */
import { StringDecoder } from 'node:string_decoder';
import { HTTP_CREDENTIAL_PREFIX, HTTP_HINT, httpCredentials, KNOWN_TOKEN, replaceSpans, TOKEN_HINT } from '../policy/redact-content.js';
import { RecordedKeys } from './recorded-keys.js';

/** How long what is held waits for more before it is recorded as it is (a token printed in pieces, a slow link). */
export const IDLE_MS = 250;
/** Longest run held: a JSON Web Token's three parts are at most 16 KiB each (KNOWN_TOKEN). */
export const HOLD_MAX = 64 * 1024;
/** What is kept of a run held past HOLD_MAX. */
const HOLD_KEEP = 50 * 1024;
const MARK = '[redacted]';

/** Whether the UTF-16 code unit `c` may be part of a token's run (see above). */
function inRun(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d || c === 0x2e
    || c === 0x3d || c === 0x2b || c === 0x2f || c === 0x5c || c === 0x25;
}

/** A mark as long as `t`. */
function sameLength(t: string): string {
  return t.length > MARK.length ? MARK + '*'.repeat(t.length - MARK.length) : '*'.repeat(t.length);
}

/** `text` with each known token and HTTP credential (`> Authorization: Bearer …` of `curl -v`) replaced by a mark of its length. */
export function recordedText(text: string): string {
  const t = TOKEN_HINT.test(text) ? text.replace(KNOWN_TOKEN, sameLength) : text;
  return replaceSpans(t, httpCredentials(t), sameLength);
}

/**
 * Where a run starting at `cut` is held from when what stands right before it may be an HTTP credential's prefix
 * (`Authorization: Bearer `, a credential cut from it across chunks is read with it), else `cut`.
 */
function beforeCredential(text: string, cut: number): number {
  const w = text.slice(Math.max(0, cut - 80), cut);
  if (!HTTP_HINT.test(w)) return cut;
  const m = HTTP_CREDENTIAL_PREFIX.exec(w);
  return m ? cut - w.length + m.index : cut;
}

/**
 * Where a run starting at `cut` is held from: before the terminal control sequence that stands right before it, whole
 * or not yet whole (`ESC[01;31m`, `ESC[`, `ESC(B`: KNOWN_TOKEN reads a token after one), else at `cut`.
 */
function beforeRun(text: string, cut: number): number {
  if (cut === text.length && text[cut - 1] === '\x1b') return cut - 1; // (a sequence's first byte, the rest to come)
  let i = cut;
  while (i > 0 && cut - i < 40 && text.charCodeAt(i - 1) >= 0x20 && text.charCodeAt(i - 1) <= 0x3f) i--;
  if (i >= 2 && text[i - 1] === '[' && text[i - 2] === '\x1b') return i - 2;
  // (a character set's, `ESC(B`, whose last byte is the run's first)
  return i >= 1 && text[i - 1] === '\x1b' && '()*+'.includes(text[i] ?? '') ? i - 1 : cut;
}

/**
 * Where a run held past HOLD_MAX is cut: at the last `/`, `=`, `+`, `%`, `\` or `.` before its last HOLD_KEEP
 * characters (a base64 line's, a path's: no token holds one, so none is cut in two there), or there.
 */
function heldCut(text: string): number {
  const at = text.length - HOLD_KEEP;
  for (let i = at; i > at - 4096 && i > 0; i--) if ('/=+%\\.'.includes(text[i - 1]!)) return i;
  return at;
}

export class RecordedTokens {
  readonly #decoder = new StringDecoder('utf8');
  /** Private keys shown are hidden too (recorded-keys.ts), in what this releases, in order. */
  readonly #keys = new RecordedKeys();
  #held = '';
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param sink writes to the recording (`cast.output`, `cast.input`).
   * @param onError given what the sink threw from the idle timer (where nothing else would catch it).
   */
  constructor(private readonly sink: (b: Buffer) => void, private readonly onError: (e: unknown) => void, private readonly idleMs = IDLE_MS) {}

  /** What is held, in characters (decoded). */
  get held(): number {
    return this.#held.length;
  }

  write(b: Uint8Array): void {
    this.#stopTimer();
    const fresh = this.#decoder.write(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    // (what is held is one run, with what may stand before a token: only the fresh text is read back, and where it is
    // all run characters the run goes on from what was held, appended without reading what was held: a run sent a
    // byte at a time read it all again for each byte)
    let k = fresh.length;
    while (k > 0 && inRun(fresh.charCodeAt(k - 1))) k--;
    if (k === 0 && this.#held.length + fresh.length <= HOLD_MAX) {
      this.#held += fresh;
    } else {
      const text = this.#held + fresh;
      let cut = k === 0 ? 0 : beforeCredential(text, beforeRun(text, this.#held.length + k));
      if (text.length - cut > HOLD_MAX) cut = heldCut(text);
      this.#held = text.slice(cut);
      if (cut > 0) this.sink(Buffer.from(this.#keys.text(recordedText(text.slice(0, cut))), 'utf8'));
    }
    if (this.#held !== '') {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        try {
          this.#release();
        } catch (e) {
          this.onError(e);
        }
      }, this.idleMs);
      this.#timer.unref?.();
    }
  }

  /** Records what is held, and the end of a character cut short (as the recording's own decoder would). */
  flush(): void {
    this.#stopTimer();
    this.#held += this.#decoder.end();
    this.#release();
  }

  /** Records what is held (before an event of another kind: a resize); a character cut short waits for the rest. */
  release(): void {
    this.#stopTimer();
    this.#release();
  }

  #release(): void {
    const text = this.#held;
    this.#held = '';
    if (text !== '') this.sink(Buffer.from(this.#keys.text(recordedText(text)), 'utf8'));
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
