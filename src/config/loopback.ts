import net from 'node:net';

/**
 * Whether a host (a listen address, a URL's hostname) is one only this machine reaches: 127.0.0.0/8, ::1
 * (also bracketed, and IPv4-mapped 127/8) or localhost.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.replace(/^::ffff:/, '');
  return net.isIPv4(v4) && v4.startsWith('127.');
}
