/** Escaping in the self-contained replay page: HTML text, script and style bodies, embedded JSON. */
import { describe, expect, it } from 'vitest';
import { castPage, escapeHtml, jsonForScript, scriptBody, styleBody, transcriptPage } from '../../../src/replay/html-page.js';

const header = { title: 'session <x>', fields: [['who', '<img src=x onerror=alert(1)>']] as Array<[string, string]>, verified: false, verdict: 'WARNING: "changed" & <bad>' };

describe('replay HTML page', () => {
  it('escapes text, and neutralises element ends inside script, style and JSON', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(scriptBody('x="</script><script>alert(1)</script>"; <!-- y')).not.toMatch(/<\/script|<!--/i);
    expect(styleBody('a{}</STYLE><script>')).not.toMatch(/<\/style/i);
    const json = jsonForScript('</script>\u2028&');
    expect(json).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(json)).toBe('</script>\u2028&');
  });

  it('embeds a cast that cannot break out of its element, and a failed verification in red', () => {
    const data = `{"version":2,"width":80,"height":24}\n[0.1,"o","</script><script>alert(1)</script>"]\n`;
    const page = castPage(header, [{ title: '<t>', data }], { js: 'var AsciinemaPlayer={create(){}};', css: 'a{}' }, { speed: 2, idleLimit: 1 });
    expect(page.match(/<\/script>/g)).toHaveLength(3);
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).toContain('class="verdict bad"');
    expect(page).toContain('"idleTimeLimit":1');
    const embedded = /<script type="application\/json" id="cast-0">([\s\S]*?)<\/script>/.exec(page)![1]!;
    expect(JSON.parse(embedded)).toBe(data);
  });

  it('renders a transcript page with escaped statements and values', () => {
    const page = transcriptPage({ ...header, verified: true }, [
      { n: 1, time: '2026-11-22T12:00:00.000000Z', sql: "select '<b>'", decision: 'allowed', result: 'success', rows: 1, columns: ['<c>'], sample: [['</td><script>', null]] },
      { n: 2, time: null, sql: 'drop table t', decision: 'denied', rule: 'no-drop', sample: [] },
    ]);
    expect(page).not.toContain('<script');
    expect(page).toContain('select &#39;&lt;b&gt;&#39;');
    expect(page).toContain('&lt;/td&gt;&lt;script&gt;');
    expect(page).toContain('<i>NULL</i>');
    expect(page).toContain('denied (no-drop)');
  });
});
