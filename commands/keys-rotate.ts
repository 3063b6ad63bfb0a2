/** `pcigate keys rotate`: end the current key epoch now (the broker also does this every audit.epoch_hours). */
import type { CommandSpec } from '../src/cli/command.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { loadConfigOrDefaults } from '../src/config/load-config.js';
import { resolveHomeWithConfig } from '../src/config/resolve-home.js';
import { auditLogOptionsFromConfig, openAuditLog } from '../recorder/index.js';
import { certKeyId, loadPublicKeys } from '../recorder/keys.js';

export const spec: CommandSpec = {
  description:
    'Checkpoints the log with the current epoch key, certifies a new epoch key with it, logs key.rotate, checkpoints with the new key and deletes the old private key. Needs the audit log: it fails while another process (a running broker) holds it.',
  examples: [
    ['start a new key epoch in the default data home', 'pcigate keys rotate'],
    ['as JSON', 'pcigate keys rotate --home /var/lib/pcigate --json'],
  ],
  async run(ctx, { global, out }) {
    const { home, loaded } = await resolveHomeWithConfig(ctx, global);
    const config = (loaded ?? (await loadConfigOrDefaults(ctx, { path: global.config }))).config;
    const log = await openAuditLog(ctx, auditLogOptionsFromConfig(home, config.audit));
    let r: { from_epoch: number; to_epoch: number };
    try {
      r = await log.rotate({ actor: { sub: ctx.user.name, via: 'local' } });
    } finally {
      await log.close();
    }
    const keys = await loadPublicKeys(ctx, home);
    const cert = keys.certs[r.to_epoch]?.cert;
    const keyId = cert ? certKeyId(keys.origin, cert) : '';
    if (out.json) {
      out.printJson({ home, origin: keys.origin, from_epoch: r.from_epoch, to_epoch: r.to_epoch, pub: cert?.pub ?? null, key_id: keyId, not_before: cert?.not_before ?? null });
    } else {
      out.data(`epoch ${r.from_epoch} → ${r.to_epoch}  key ID ${keyId}  ${cert?.pub ?? ''}`);
      out.say(`The private key of epoch ${r.from_epoch} has been deleted.`);
    }
    return EXIT.ok;
  },
};
