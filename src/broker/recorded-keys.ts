/**
 * Private keys shown in a terminal (`cat ~/.ssh/id_ed25519`, `kubectl get secret tls -o jsonpath=… | base64 -d`, a
 * key pasted into `cat > key`) are hidden in the session's recording, as tokens are (recorded-tokens.ts): from a PEM
 * or PGP private key's BEGIN line (redact-content.ts PEM_BEGIN) on, every character of the base64 alphabet is
 * recorded as `*` — line breaks, blanks and punctuation as they are, so the recording's screen is laid out as the
 * user's was — until a line that starts with five dashes (the key's END line, recorded as it is), or KEY_MAX
 * characters (a key cut short, and the prompt after it, are not hidden for ever).
 *
 * Fed the recording's text in order, cut anywhere: what a BEGIN line needs of earlier text is kept (the current
 * line's last LINE_KEEP characters). Text that holds no `PRIVATE KEY` passes as it is, without a read character by
 * character.
 */

/** What is kept of the current line: a BEGIN line and some text before it on the same line. */
const LINE_KEEP = 128;
/** The most characters hidden after one BEGIN line: a PGP private key block of an RSA 4096 key is about 7 KiB. */
export const KEY_MAX = 32 * 1024;
/** A private key's BEGIN line, at the end of the text (PEM_BEGIN's, anchored). */
const BEGIN_LINE = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----$/;

/** Whether the UTF-16 code unit `c` is one of base64's (a key body's characters: A–Z, a–z, 0–9, `+`, `/`, `=`). */
function base64(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || c === 0x3d;
}

export class RecordedKeys {
  /** The current line's last characters (outside a key). */
  #line = '';
  #inKey = false;
  /** Characters hidden since the BEGIN line. */
  #hidden = 0;
  /** Dashes the current line has started with, or -1 once it has another character (inside a key). */
  #lead = 0;

  /** `s`, the recording's next text, with what is a private key's body hidden. */
  text(s: string): string {
    if (!this.#inKey && !s.includes('PRIVATE KEY') && !(this.#line + s.slice(0, 16)).includes('PRIVATE KEY')) {
      const nl = Math.max(s.lastIndexOf('\n'), s.lastIndexOf('\r'));
      this.#line = nl >= 0 ? s.slice(nl + 1).slice(-LINE_KEEP) : (this.#line + s.slice(-LINE_KEEP)).slice(-LINE_KEEP);
      return s;
    }
    let out = '';
    for (let i = 0; i < s.length; i++) {
      const ch = s[i]!;
      const c = s.charCodeAt(i);
      if (!this.#inKey) {
        out += ch;
        if (c === 0x0a || c === 0x0d) {
          this.#line = '';
          continue;
        }
        this.#line = (this.#line + ch).slice(-LINE_KEEP);
        if (c === 0x2d && BEGIN_LINE.test(this.#line)) {
          this.#inKey = true;
          this.#hidden = 0;
          this.#lead = -1; // (the rest of the BEGIN line is not its END line)
        }
        continue;
      }
      if (c === 0x0a || c === 0x0d) {
        this.#lead = 0;
        out += ch;
      } else if (c === 0x2d) {
        out += ch;
        if (this.#lead >= 0 && ++this.#lead === 5) this.#leave('-----');
      } else {
        this.#lead = -1;
        if (base64(c)) {
          out += '*';
          if (++this.#hidden >= KEY_MAX) this.#leave('');
        } else {
          out += ch;
        }
      }
    }
    return out;
  }

  #leave(line: string): void {
    this.#inKey = false;
    this.#line = line;
  }
}
