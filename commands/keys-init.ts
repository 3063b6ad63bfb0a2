/** `pcigate keys init`: create the root key and the first epoch key of a new data home. */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { resolveHomeWithConfig } from '../src/config/resolve-home.js';
import { certKeyId, initKeys } from '../recorder/keys.js';

export const spec: CommandSpec = {
  description:
    'Creates HOME/keys: a root Ed25519 key that certifies epoch keys, and epoch 0\'s signing key. The root private key is written only to --root-key-out (keep it offline); without that flag it is discarded after certifying epoch 0. Refuses a home that already has keys.',
  options: [
    { flags: '--root-key-out <file>', description: 'write the root private key (PKCS#8 PEM, 0600) to this new file' },
    { flags: '--origin <name>', description: 'the log origin (default: audit.origin, else <host>/pcigate/<random>); no spaces or "+"' },
  ],
  examples: [
    ['initialise the default data home, keeping the root key offline', 'pcigate keys init --root-key-out /media/usb/pcigate-root.pem'],
    ['initialise a given home with a chosen origin', 'pcigate keys init --home /var/lib/pcigate --origin db-gw.example.com/pcigate'],
  ],
  async run(ctx, { opts, global, out }) {
    const { home, loaded } = await resolveHomeWithConfig(ctx, global);
    const origin = typeof opts.origin === 'string' ? opts.origin : loaded?.config.audit.origin;
    const r = await initKeys(ctx, home, {
      ...(origin !== undefined ? { origin } : {}),
      ...(typeof opts.rootKeyOut === 'string' ? { rootKeyOut: opts.rootKeyOut } : {}),
    });
    const rootPub = r.rootPub.toString('base64');
    if (out.json) {
      out.printJson({
        home, origin: r.origin, root_pub: rootPub, epoch: 0, epoch_pub: r.cert.cert.pub,
        key_id: certKeyId(r.origin, r.cert.cert), root_key_out: r.rootKeyOut ?? null,
      });
    } else {
      out.data(`origin    ${r.origin}\nroot key  ed25519 ${rootPub}\nepoch 0   ${r.cert.cert.pub} (key ID ${certKeyId(r.origin, r.cert.cert)})`);
      out.say(r.rootKeyOut
        ? `Root private key written to ${r.rootKeyOut}: move it offline; auditors verify with the root public key above.`
        : 'The root private key was discarded; auditors verify with the root public key above (also in keys/root.pub).');
    }
    return EXIT.ok;
  },
};
