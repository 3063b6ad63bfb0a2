import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../../src/config/loopback.js';

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.0.0.2', '127.255.0.9', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback', (h) => {
    expect(isLoopbackHost(h)).toBe(true);
  });
  it.each(['0.0.0.0', '::', '10.0.0.5', '128.0.0.1', '1270.0.0.1', '127.0.0.1.example.com', 'localhost.example', '::ffff:10.0.0.1', ''])('%s is not', (h) => {
    expect(isLoopbackHost(h)).toBe(false);
  });
});
