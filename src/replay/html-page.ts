/**
 * `pcigate replay ID --html FILE` (issue 8 item 3): one self-contained HTML page that opens from disk with
 * no network. Terminal sessions embed asciinema-player's bundle (JS and CSS inlined from the installed
 * package) and the recording, passed as `AsciinemaPlayer.create({data: …})`; Postgres sessions are a
 * transcript page. Everything inserted is escaped for its context: HTML text and attributes, `<script>`
 * and `<style>` bodies (a `</script>` inside embedded data would end the element early).
 */
import { createRequire } from 'node:module';
import type { Fs } from '../cli/ctx.js';
import type { StatementView } from './pg-transcript-view.js';

export interface PageHeader {
  title: string;
  /** Label → value rows (who, target, times, verification, log record, hash). */
  fields: Array<[string, string]>;
  /** false: the verification failed; the page says so in red at the top. */
  verified: boolean;
  verdict: string;
}

export interface PlayerAssets {
  js: string;
  css: string;
}

/** asciinema-player's browser bundle (an IIFE defining `AsciinemaPlayer`) and stylesheet. */
export async function loadPlayerAssets(fs: Fs): Promise<PlayerAssets> {
  const req = createRequire(import.meta.url);
  const js = await fs.readFile(req.resolve('asciinema-player/dist/bundle/asciinema-player.min.js'), 'utf8');
  const css = await fs.readFile(req.resolve('asciinema-player/dist/bundle/asciinema-player.css'), 'utf8');
  return { js, css };
}

/** HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A script body that cannot end its element or open a comment state (HTML §4.12.1.3). */
export function scriptBody(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** A stylesheet body that cannot end its element (`\/` is `/` in CSS). */
export function styleBody(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

/** JSON safe inside `<script type="application/json">`: no `<`, `>`, `&`, U+2028/9 left literal. */
export function jsonForScript(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const PAGE_CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #d9dde4}
h1{font-size:18px;margin:0 0 8px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dt{color:#5a6272}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
.verdict{margin:8px 0 0;padding:8px 12px;border-radius:4px;font-weight:600}
.ok{background:#e3f5e8;color:#135c2a}.bad{background:#fde2e1;color:#8a1010;border:2px solid #c62828}
main{padding:16px 24px}section{margin-bottom:24px}h2{font-size:15px}
.stmt{background:#fff;border:1px solid #d9dde4;border-radius:4px;padding:8px 12px;margin-bottom:8px}
.stmt pre{margin:4px 0;white-space:pre-wrap;font-family:ui-monospace,monospace}
.denied{border-left:4px solid #c62828}.allowed{border-left:4px solid #2e7d32}
.meta{color:#5a6272;font-size:12px}
table{border-collapse:collapse;font-family:ui-monospace,monospace;font-size:12px;margin-top:4px}
td,th{border:1px solid #d9dde4;padding:2px 6px;text-align:left}th{background:#eef0f4}
`;

function headerHtml(h: PageHeader): string {
  const rows = h.fields.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  return `<header><h1>${escapeHtml(h.title)}</h1><dl>${rows}</dl><p class="verdict ${h.verified ? 'ok' : 'bad'}" id="verdict">${escapeHtml(h.verdict)}</p></header>`;
}

function shell(title: string, head: string, body: string): string {
  // The CSP forbids every network fetch: the page must work from disk, and must not phone home.
  const csp = "default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:; worker-src blob: data:";
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title>${head}</head><body>${body}</body></html>\n`;
}

export interface CastEmbed {
  title: string;
  /** The asciicast v2 file as recorded (and verified). */
  data: string;
}

/** The page for terminal recordings: one player per recording, auto-playing. */
export function castPage(h: PageHeader, casts: CastEmbed[], assets: PlayerAssets, o: { speed: number; idleLimit?: number }): string {
  const head = `<style>${styleBody(assets.css)}</style><style>${PAGE_CSS}</style><script>${scriptBody(assets.js)}</script>`;
  const sections = casts.map((c, i) =>
    `<section><h2>${escapeHtml(c.title)}</h2><div class="player" id="player-${i}"></div><script type="application/json" id="cast-${i}">${jsonForScript(c.data)}</script></section>`).join('');
  const opts = jsonForScript({ autoPlay: true, speed: o.speed, fit: 'width', ...(o.idleLimit !== undefined && Number.isFinite(o.idleLimit) ? { idleTimeLimit: o.idleLimit } : {}) });
  const boot = `(function(){document.addEventListener('securitypolicyviolation',function(e){document.body.setAttribute('data-blocked',String(e.blockedURI));});var opts=${opts};var n=${casts.length};var ended=0;for(var i=0;i<n;i++){(function(i){var data=JSON.parse(document.getElementById('cast-'+i).textContent);var p=AsciinemaPlayer.create({data:data},document.getElementById('player-'+i),opts);p.addEventListener('ended',function(){ended++;if(ended===n)document.body.setAttribute('data-ended','true');});})(i);}})();`;
  return shell(h.title, head, `${headerHtml(h)}<main>${sections}</main><script>${scriptBody(boot)}</script>`);
}

/** The page for a Postgres session: the statements with decision, outcome and masked sample rows. */
export function transcriptPage(h: PageHeader, views: StatementView[]): string {
  const items = views.map((v) => {
    const meta = [v.time ?? '?', `#${v.n}`, v.decision + (v.rule ? ` (${v.rule})` : '')];
    if (v.result !== undefined) meta.push(v.result + (v.sqlstate ? ` ${v.sqlstate}` : ''));
    if (v.rows !== null && v.rows !== undefined) meta.push(`${v.rows} rows`);
    if (v.duration_ms !== undefined) meta.push(`${v.duration_ms} ms`);
    let rows = '';
    if (v.sample.length > 0) {
      const width = Math.max(v.columns?.length ?? 0, ...v.sample.map((r) => r.length));
      const headers = Array.from({ length: width }, (_, i) => v.columns?.[i] ?? `col${i + 1}`);
      rows = `<table><tr>${headers.map((x) => `<th>${escapeHtml(x)}</th>`).join('')}</tr>${v.sample.map((r) => `<tr>${headers.map((_, i) => `<td>${r[i] === null || r[i] === undefined ? '<i>NULL</i>' : escapeHtml(r[i]!)}</td>`).join('')}</tr>`).join('')}</table>`;
    }
    return `<div class="stmt ${v.decision}"><div class="meta">${escapeHtml(meta.join(' · '))}</div><pre>${escapeHtml(v.sql)}</pre>${rows}</div>`;
  }).join('');
  return shell(h.title, `<style>${PAGE_CSS}</style>`, `${headerHtml(h)}<main>${items || '<p>No statements.</p>'}</main>`);
}
