/**
 * Token validation throughput with a warm JWKS cache (what the broker pays per new session), for RS256 and
 * ES256. Run after the build: `node dist/bench/identity/validate.js [count]`. Prints one JSON line per alg.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { processCtx } from '../../src/cli/ctx.js';
import { createValidator } from '../../src/identity/validate.js';

const count = Number(process.argv[2] ?? 2000);

async function main(): Promise<void> {
  const keys = { RS256: await jose.generateKeyPair('RS256'), ES256: await jose.generateKeyPair('ES256') };
  const jwks = { keys: await Promise.all(Object.entries(keys).map(async ([alg, k]) => ({ ...(await jose.exportJWK(k.publicKey)), kid: alg, alg }))) };
  let fetches = 0;
  const srv = createServer((req, res) => {
    const iss = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') return void res.end(JSON.stringify({ issuer: iss, jwks_uri: `${iss}/jwks` }));
    fetches++;
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const ctx = processCtx();
  try {
    for (const alg of ['RS256', 'ES256'] as const) {
      const v = createValidator(ctx, { issuer, audience: 'pcigate', algorithms: ['RS256', 'ES256'], clockSkewMs: 60_000, groupsClaim: 'groups', mfaAmr: ['mfa'], via: 'oidc' });
      const now = Math.floor(Date.now() / 1000);
      const token = await new jose.SignJWT({ iss: issuer, aud: 'pcigate', sub: 'u-1', groups: ['g'], amr: ['pwd', 'otp'], iat: now, exp: now + 3600 })
        .setProtectedHeader({ alg, kid: alg, typ: 'at+jwt' }).sign(keys[alg].privateKey);
      await v.validate(token); // warm the JWKS cache
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) await v.validate(token);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      process.stdout.write(`${JSON.stringify({ bench: 'identity.validate', alg, count, ms: Math.round(ms), per_sec: Math.round((count / ms) * 1000), us_each: Math.round((ms * 1000) / count), jwks_fetches: fetches })}\n`);
    }
  } finally {
    srv.closeAllConnections();
    srv.close();
  }
}

await main();
