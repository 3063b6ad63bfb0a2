/**
 * A tiny form-following HTTP client that plays the person at an OpenID provider's device-verification
 * pages (RFC 8628 §3.3): keeps cookies, follows redirects by hand (fetch drops Set-Cookie on redirects),
 * and submits a page's form with its hidden fields. The demo uses it to sign its people in; the test
 * harness (test/harness/oidc.ts) uses it to play the browser.
 */
export interface Page {
  url: string;
  body: string;
}

export interface FormBrowser {
  go(target: string, init?: RequestInit): Promise<Page>;
  /** Submits the page's form: its hidden fields, then `fields`. */
  submit(page: Page, fields: Record<string, string>): Promise<Page>;
}

export function formBrowser(fetch: typeof globalThis.fetch, base: string, label = 'browser'): FormBrowser {
  const jar = new Map<string, string>();
  const go = async (target: string, init: RequestInit = {}): Promise<Page> => {
    let url = new URL(target, base).toString();
    let req: RequestInit = init;
    for (let hops = 0; hops < 20; hops++) {
      const headers = new Headers(req.headers);
      if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
      const r = await fetch(url, { ...req, headers, redirect: 'manual' });
      for (const c of r.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair!.indexOf('=');
        jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      const loc = r.headers.get('location');
      if (r.status >= 300 && r.status < 400 && loc) {
        await r.arrayBuffer();
        url = new URL(loc, url).toString();
        req = {};
        continue;
      }
      const body = await r.text();
      if (r.status >= 400) throw new Error(`${label}: HTTP ${r.status} at ${url}: ${body.slice(0, 300)}`);
      return { url, body };
    }
    throw new Error(`${label}: too many redirects`);
  };
  const submit = (page: Page, fields: Record<string, string>): Promise<Page> => {
    const f = parseForm(page.body, label);
    return go(new URL(f.action, page.url).toString(), {
      method: 'POST',
      body: new URLSearchParams({ ...f.hidden, ...fields }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  };
  return { go, submit };
}

function parseForm(html: string, label: string): { action: string; hidden: Record<string, string> } {
  const form = /<form[^>]*action="([^"]*)"[^>]*>/i.exec(html);
  if (!form) throw new Error(`${label}: no form in page: ${html.slice(0, 300)}`);
  const hidden: Record<string, string> = {};
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1] ?? '';
    if (name) hidden[name] = value;
  }
  return { action: form[1]!.replace(/&amp;/g, '&'), hidden };
}
