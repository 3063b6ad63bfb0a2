/**
 * `pcigate login`: the OAuth 2.0 device authorization grant (RFC 8628) against the configured OpenID
 * provider; works the same on a laptop, over SSH on a jump host, and in a container. Tokens go to the OS
 * keychain (or a 0600 file); never to stdout, logs or argv.
 */
import { spawn } from 'node:child_process';
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { identityCommandContext } from '../src/identity/command-context.js';
import { inkLoginView, plainLoginView } from '../src/identity/login-view.js';
import { login } from '../src/identity/session.js';
import { whoamiReport } from './whoami.js';

export const spec: CommandSpec = {
  description:
    'Shows a URL and a code; open the URL on any device, enter the code and sign in. pcigate polls the provider ' +
    'until you approve, then keeps the tokens in the OS keychain (service "pcigate"), or in a 0600 file in the ' +
    'data home where no keychain service answers. Issuer and client id default from identity.* in the config.',
  options: [
    { flags: '--issuer <url>', description: 'OpenID provider (default: identity.issuer)' },
    { flags: '--client-id <id>', description: 'OAuth client id (default: identity.client_id)' },
    { flags: '--scope <scope>', description: 'scope to request; repeat for several (default: identity.scopes)', repeatable: true },
    { flags: '--browser', description: 'open the verification URL in a browser' },
    { flags: '--no-browser', description: 'never open a browser (default without a display)' },
    { flags: '--token-store <kind>', description: 'where to keep tokens', choices: ['auto', 'keychain', 'file'] },
  ],
  examples: [
    ['log in with the provider from pcigate.yaml', 'pcigate login'],
    ['log in on a headless jump host, keeping tokens in a file', 'pcigate login --no-browser --token-store file'],
    ['log in to a specific provider', 'pcigate login --issuer https://login.example.com --client-id pcigate-cli'],
  ],
  async run(ctx, { opts, global, out }) {
    const scopes = opts.scope as string[] | undefined;
    const ic = await identityCommandContext(ctx, global, {
      ...(typeof opts.issuer === 'string' ? { issuer: opts.issuer } : {}),
      ...(typeof opts.clientId === 'string' ? { clientId: opts.clientId } : {}),
      ...(scopes && scopes.length ? { scopes: scopes.flatMap((s) => s.split(/[\s,]+/).filter(Boolean)) } : {}),
      ...(typeof opts.tokenStore === 'string' ? { tokenStore: opts.tokenStore as 'auto' | 'keychain' | 'file' } : {}),
    }, (l) => out.warn(`warning: ${l}`));
    const tty = Boolean(ctx.stderr.isTTY) && !out.quiet;
    const view = tty ? inkLoginView(ctx) : plainLoginView((l) => out.warn(l), ctx.clock);
    const wantBrowser = opts.browser === true || (opts.browser === undefined && tty && Boolean(ctx.env.DISPLAY || ctx.env.WAYLAND_DISPLAY));
    try {
      const result = await login(ctx, {
        settings: ic.settings,
        store: ic.store,
        home: ic.home,
        ...(ic.audit ? { audit: ic.audit } : {}),
        onPrompt: (p) => {
          view.prompt(p);
          if (wantBrowser) openBrowser(p.verificationUriComplete ?? p.verificationUri);
        },
        onEvent: (e) => view.event(e),
        signal: ctx.interrupt,
      });
      view.close();
      const report = whoamiReport(result.identity, result.tokens, ic.store.where);
      if (out.json) out.printJson(report);
      else {
        out.say(`Logged in as ${report.email ?? report.subject} (${report.issuer}).`);
        out.say(`MFA: ${report.mfa ? 'yes' : 'no'} (amr ${report.amr.join(', ') || 'none'}); groups: ${report.groups.join(', ') || 'none'}.`);
        out.say(`Tokens kept in ${ic.store.where}.`);
      }
      return EXIT.ok;
    } finally {
      view.close();
      await ic.close();
    }
  },
};

/** Best effort: the URL is on screen anyway. xdg-open / open get the URL as one argv element, no shell. */
function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No opener installed: the user follows the printed URL.
  }
}
