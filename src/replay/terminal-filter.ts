/**
 * What a recorded terminal session may do to the auditor's terminal when `pcigate replay` plays it (issue 8
 * item 2). The recording holds whatever the target host printed — a compromised host, or a user who printed a
 * crafted file, controls those bytes — and a terminal obeys escape sequences: OSC 52 writes the clipboard, a
 * title set and then a title report types text into the auditor's shell, DECRQSS/DSR/DA make the terminal
 * answer on stdin, OSC 8 disguises links, iTerm2's OSC 1337 writes files, `CSI 3 J` wipes the scrollback that
 * holds the replay's verification verdict, mouse and paste modes outlive the replay.
 *
 * So the stream is parsed (ECMA-48 §5: C0, ESC Fe/Fs, CSI parameter/intermediate/final bytes, control
 * strings ended by ST, BEL for OSC) and only text and an allowlist of display sequences pass: SGR (without
 * 8, conceal), cursor movement and save/restore, erase in display (not 3: scrollback) and line, insert and
 * delete, scroll and scroll region, tab stops, insert mode, charset designation of G0/G1 to ASCII, DEC
 * graphics or UK, and the private modes cursor keys, origin, autowrap, blink, cursor visibility and the
 * alternate screen. Everything else is removed. Routine sequences a shell prints on every prompt — window
 * titles (OSC 0/1/2), the working directory (OSC 7), shell integration marks (OSC 133/633) and hyperlinks
 * (OSC 8, whose text stays) — are removed silently; any other control string, a query that makes the
 * terminal answer, and a full reset are replaced by a visible marker, so the auditor sees that the session
 * tried. A control string also ends at a newline (or CAN/SUB), so an unterminated one cannot hide the rest of
 * the recording. At the end, every mode the recording turned on is turned off again (`reset()`).
 *
 * The filter is streaming: a sequence split across events is handled as one.
 */

/** Private (DEC) modes that may pass, with the state each is reset to at the end (true: on). */
const PRIVATE_MODES: ReadonlyMap<number, boolean> = new Map([
  [1, false], // DECCKM: application cursor keys
  [6, false], // DECOM: origin mode
  [7, true], // DECAWM: autowrap
  [12, false], // blinking cursor
  [25, true], // DECTCEM: cursor visible
  [47, false], // alternate screen
  [1047, false], // alternate screen
  [1048, false], // save/restore cursor
  [1049, false], // alternate screen, saving the cursor
]);

/** CSI finals that only draw or move (no answer from the terminal, nothing that outlives the screen). */
// Not REP (b: repeat the last character N times, a billion if asked) nor TBC (g: clears the auditor's tab
// stops for good).
const DRAW_FINALS = new Set('@ABCDEFGHIJKLMPSTXZ`adefmrsu'.split(''));
/** CSI finals that make the terminal answer or act on its window: worth a marker. */
const QUERY_FINALS: ReadonlyMap<string, string> = new Map([
  ['n', 'device status report (the terminal answers)'],
  ['c', 'device attributes query (the terminal answers)'],
  ['t', 'window manipulation or report'],
  ['x', 'terminal parameters request (the terminal answers)'],
]);
const SILENT_OSC = new Set(['0', '1', '2', '7', '8', '133', '633']);
const OSC_NAMES: ReadonlyMap<string, string> = new Map([
  ['4', 'palette change'],
  ['10', 'colour query or change'],
  ['11', 'colour query or change'],
  ['12', 'colour query or change'],
  ['50', 'font change'],
  ['52', 'clipboard access'],
  ['1337', 'iTerm2 command (file transfer, …)'],
]);
const STRING_NAMES: Readonly<Record<string, string>> = { P: 'DCS', X: 'SOS', '^': 'PM', _: 'APC' };
/** A CSI longer than this is not a display sequence: dropped whole. */
const MAX_CSI = 64;

type State = 'ground' | 'esc' | 'esc-charset' | 'esc-hash' | 'csi' | 'string' | 'string-esc';

export class TerminalFilter {
  private state: State = 'ground';
  private csi = '';
  private charsetSlot = '';
  /** The kind of control string being skipped ('OSC', 'DCS', …) and its first characters. */
  private strKind = '';
  private strHead = '';
  private readonly modesOn = new Map<number, boolean>();
  private sgrUsed = false;
  private scrollRegion = false;
  private insertMode = false;
  private charsetChanged = false;
  /** Application keypad mode (DECKPAM, `ESC =`) set and not reset (`ESC >`). */
  private keypadApp = false;
  /** How many sequences were removed, by what they were (for a summary line). */
  readonly removed = new Map<string, number>();

  constructor(private readonly marker: (what: string) => string = (w) => `⟦pcigate removed: ${w}⟧`) {}

  /** Filters one chunk of terminal output; a sequence cut at the end of it continues in the next. */
  push(data: string): string {
    let out = '';
    for (const ch of data) {
      const c = ch.codePointAt(0)!;
      switch (this.state) {
        case 'ground':
          if (c === 0x1b) this.state = 'esc';
          else if (c >= 0x20 && c !== 0x7f && !(c >= 0x80 && c <= 0x9f)) out += ch;
          else if (c === 0x0a || c === 0x0d || c === 0x09 || c === 0x08) out += ch;
          // Other C0 (BEL, SO/SI shifting to another charset, …), DEL and C1 controls (which some
          // terminals read as CSI, OSC, DCS …) are dropped.
          break;
        case 'esc':
          out += this.escape(ch);
          break;
        case 'esc-charset':
          this.state = 'ground';
          if ('0AB'.includes(ch) && '()'.includes(this.charsetSlot)) {
            out += `\x1b${this.charsetSlot}${ch}`;
            if (ch !== 'B') this.charsetChanged = true;
          }
          break;
        case 'esc-hash':
          this.state = 'ground'; // DEC line size and screen alignment test (fills the screen): dropped
          break;
        case 'csi':
          if (c >= 0x40 && c <= 0x7e) {
            this.state = 'ground';
            out += this.finishCsi(this.csi, ch);
          } else if (c >= 0x20 && c <= 0x3f && this.csi.length < MAX_CSI) {
            this.csi += ch;
          } else {
            // Cancelled (CAN, SUB), interrupted by another ESC, overlong or broken: dropped whole.
            this.state = c === 0x1b ? 'esc' : 'ground';
            if (c === 0x0a || c === 0x0d) out += ch;
          }
          break;
        case 'string':
        case 'string-esc':
          out += this.inString(ch, c);
          break;
      }
    }
    return out;
  }

  /** What turns off everything the recording turned on; call once after the last push. */
  reset(): string {
    let out = '';
    if (this.state === 'string' || this.state === 'string-esc') out += this.endString(true);
    this.state = 'ground';
    for (const [mode, on] of this.modesOn) {
      const dflt = PRIVATE_MODES.get(mode)!;
      if (on !== dflt) out += `\x1b[?${mode}${dflt ? 'h' : 'l'}`;
    }
    if (this.modesOn.get(1) === true || this.keypadApp) out += '\x1b>'; // keypad back to normal (with the cursor keys)
    if (this.scrollRegion) out += '\x1b[r';
    if (this.insertMode) out += '\x1b[4l';
    if (this.charsetChanged) out += '\x1b(B\x1b)B';
    if (this.sgrUsed) out += '\x1b[0m';
    this.modesOn.clear();
    this.scrollRegion = this.insertMode = this.charsetChanged = this.sgrUsed = this.keypadApp = false;
    return out;
  }

  private note(what: string): string {
    this.removed.set(what, (this.removed.get(what) ?? 0) + 1);
    return this.marker(what);
  }

  private escape(ch: string): string {
    this.state = 'ground';
    if (ch === '[') { this.state = 'csi'; this.csi = ''; return ''; }
    if (ch === ']') return this.startString('OSC');
    if (ch in STRING_NAMES) return this.startString(STRING_NAMES[ch]!);
    if ('()*+'.includes(ch)) { this.state = 'esc-charset'; this.charsetSlot = ch; return ''; }
    if (ch === '#') { this.state = 'esc-hash'; return ''; }
    if ('78MDE'.includes(ch)) return `\x1b${ch}`;
    if (ch === '=' || ch === '>') { this.keypadApp = ch === '='; return `\x1b${ch}`; } // keypad mode: reset at the end
    if (ch === 'c') return this.note('full terminal reset (RIS)');
    if (ch === '\x1b') { this.state = 'esc'; return ''; }
    if (ch === '\n' || ch === '\r') return ch;
    return ''; // any other ESC sequence: dropped
  }

  private startString(kind: string): string {
    this.state = 'string';
    this.strKind = kind;
    this.strHead = '';
    return '';
  }

  private inString(ch: string, c: number): string {
    if (this.state === 'string-esc') {
      this.state = 'string';
      if (ch === '\\') return this.endString(false); // ST
      // ESC inside a control string that is not ST: it ends the string and starts a new sequence.
      const done = this.endString(false);
      return done + this.escape(ch);
    }
    if (c === 0x1b) { this.state = 'string-esc'; return ''; }
    if (c === 0x9c || (c === 0x07 && this.strKind === 'OSC')) return this.endString(false);
    if (c === 0x18 || c === 0x1a) return this.endString(false);
    // Not how a terminal reads it, but what an auditor needs: a control string left open cannot swallow
    // the rest of the recording.
    if (c === 0x0a) return `${this.endString(true)}\n`;
    if (this.strHead.length < 16) this.strHead += ch;
    return '';
  }

  private endString(unterminated: boolean): string {
    this.state = 'ground';
    const kind = this.strKind;
    if (kind === 'OSC') {
      const num = /^\d+/.exec(this.strHead)?.[0] ?? '';
      if (SILENT_OSC.has(num) && !unterminated) {
        this.removed.set(`OSC ${num}`, (this.removed.get(`OSC ${num}`) ?? 0) + 1);
        return '';
      }
      const name = OSC_NAMES.get(num);
      return this.note(`OSC ${num || '?'}${name ? ` ${name}` : ''}${unterminated ? ', unterminated' : ''}`);
    }
    return this.note(`${kind} control string${unterminated ? ', unterminated' : ''}`);
  }

  private finishCsi(body: string, final: string): string {
    const m = /^([<=>?]?)([0-9;:]*)([ -/]*)$/.exec(body);
    if (!m) return '';
    const [, priv, params, inter] = m as unknown as [string, string, string, string];
    if (inter !== '') return ''; // DECSCUSR, DECRQM, DECSTR …: none is needed to show a session
    if (priv === '?') {
      if (final !== 'h' && final !== 'l') return QUERY_FINALS.has(final) ? this.note(`CSI ? ${final} ${QUERY_FINALS.get(final)!}`) : '';
      const kept: number[] = [];
      for (const p of params.split(';')) {
        const mode = Number(p);
        if (p !== '' && PRIVATE_MODES.has(mode)) {
          kept.push(mode);
          this.modesOn.set(mode, final === 'h');
        }
      }
      return kept.length > 0 ? `\x1b[?${kept.join(';')}${final}` : '';
    }
    if (priv !== '') return QUERY_FINALS.has(final) || final === 'q' ? this.note(`CSI ${priv} ${final} query (the terminal answers)`) : '';
    if (QUERY_FINALS.has(final)) return this.note(`CSI ${final} ${QUERY_FINALS.get(final)!}`);
    if (final === 'h' || final === 'l') {
      if (params !== '4') return ''; // only insert mode (IRM); LNM and the rest change input handling
      this.insertMode = final === 'h';
      return `\x1b[4${final}`;
    }
    if (!DRAW_FINALS.has(final)) return '';
    if (final === 'J' && params.split(';').includes('3')) return ''; // erase the scrollback: the verdict is there
    if (final === 'r') this.scrollRegion = params !== '';
    if (final === 'm') return this.sgr(params);
    return `\x1b[${params}${final}`;
  }

  /** SGR without 8 (concealed text: shown to nobody, so hidden from the auditor); colours kept. */
  private sgr(params: string): string {
    const ps = params.split(/[;]/);
    const kept: string[] = [];
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i]!;
      const head = p.split(':')[0];
      if ((head === '38' || head === '48' || head === '58') && !p.includes(':')) {
        // Extended colour: 5;n or 2;r;g;b follow as their own parameters.
        const n = ps[i + 1] === '5' ? 2 : ps[i + 1] === '2' ? 4 : 0;
        kept.push(...ps.slice(i, i + 1 + n));
        i += n;
        continue;
      }
      if (head === '8' || head === '08') continue;
      kept.push(p);
    }
    if (ps.length > 0 && kept.length === 0) return '';
    // Attributes left set when the recording ends are reset then; a final reset leaves nothing to do.
    this.sgrUsed = kept[kept.length - 1] !== '' && kept[kept.length - 1] !== '0' ? true : kept.length > 1;
    return `\x1b[${kept.join(';')}m`;
  }
}

/** The recording's output filtered for a terminal in one go (tests, and a replay written to a pipe). */
export function filterTerminal(data: string): string {
  const f = new TerminalFilter();
  return f.push(data) + f.reset();
}
