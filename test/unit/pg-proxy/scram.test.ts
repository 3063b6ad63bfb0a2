/** SCRAM-SHA-256 both halves (RFC 5802/7677): a round trip, a wrong password, tampered messages. */
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/errors.js';
import { makeScramVerifier, ScramClient, ScramServer } from '../../../src/pg/proxy/scram.js';

describe('SCRAM-SHA-256', () => {
  const verifier = makeScramVerifier('listener-secret', 4096);

  it('authenticates the right password and the client verifies the server signature', () => {
    const server = new ScramServer(verifier);
    const client = new ScramClient('listener-secret');
    const serverFirst = server.first(client.first());
    const serverFinal = server.final(client.final(serverFirst));
    expect(serverFinal).toMatch(/^v=/);
    expect(() => client.verify(serverFinal!)).not.toThrow();
  });

  it('refuses a wrong password without throwing', () => {
    const server = new ScramServer(verifier);
    const client = new ScramClient('wrong');
    const serverFirst = server.first(client.first());
    expect(server.final(client.final(serverFirst))).toBeNull();
  });

  it('rejects a changed nonce, a missing proof and a channel-binding request', () => {
    const server = new ScramServer(verifier);
    const client = new ScramClient('listener-secret');
    const serverFirst = server.first(client.first());
    const final = client.final(serverFirst);
    expect(() => server.final(final.replace(/r=[^,]+/, 'r=other'))).toThrow(ProtocolError);
    expect(() => new ScramServer(verifier).final('c=biws,r=x')).toThrow(ProtocolError);
    expect(() => new ScramServer(verifier).first('p=tls-server-end-point,,n=,r=abc')).toThrow(ProtocolError);
  });

  it('a client refuses a server that does not know the password', () => {
    const fake = new ScramServer(makeScramVerifier('something else'));
    const client = new ScramClient('listener-secret');
    const serverFirst = fake.first(client.first());
    client.final(serverFirst);
    expect(() => client.verify('v=AAAA')).toThrow(ProtocolError);
  });
});
