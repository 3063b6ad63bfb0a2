/** `pcigate keys show`: the root public key and the chain of epoch keys of a data home. */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { resolveHomeWithConfig } from '../src/config/resolve-home.js';
import { table } from '../src/cli/output.js';
import { certKeyId, loadPublicKeys } from '../recorder/keys.js';
import { epochKeyName } from '../recorder/signed-note.js';

export const spec: CommandSpec = {
  description: 'Prints the log origin, the root public key and every epoch key with its key ID and start time. Private keys are never printed. The chain of certificates is checked while reading.',
  examples: [
    ['show the keys of the default data home', 'pcigate keys show'],
    ['as JSON', 'pcigate keys show --json'],
  ],
  async run(ctx, { global, out }) {
    const { home } = await resolveHomeWithConfig(ctx, global);
    const k = await loadPublicKeys(ctx, home);
    const current = k.certs.length - 1;
    const epochs = k.certs.map((c) => ({
      epoch: c.cert.epoch,
      name: epochKeyName(k.origin, c.cert.epoch),
      pub: c.cert.pub,
      key_id: certKeyId(k.origin, c.cert),
      not_before: c.cert.not_before,
      current: c.cert.epoch === current,
    }));
    if (out.json) {
      out.printJson({ home, origin: k.origin, root_pub: k.rootPub.toString('base64'), current_epoch: current, epochs });
      return EXIT.ok;
    }
    out.data(`origin    ${k.origin}\nroot key  ed25519 ${k.rootPub.toString('base64')}\n`);
    out.data(table(['EPOCH', 'KEY ID', 'NOT BEFORE', 'PUBLIC KEY'], epochs.map((e) => [
      `${e.epoch}${e.current ? '*' : ''}`, e.key_id, e.not_before, e.pub,
    ])));
    return EXIT.ok;
  },
};
