import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackAddress, isLoopbackHost } from './loopback.js';

test('loopback peer addresses: 127.0.0.0/8, ::1 and IPv4-mapped 127.x', () => {
  for (const a of [
    '127.0.0.1',
    '127.0.0.2',
    '127.255.255.254',
    '::1',
    '::ffff:127.0.0.1',
    '::FFFF:127.1.2.3',
  ]) {
    assert.equal(isLoopbackAddress(a), true, a);
  }
  for (const a of [
    undefined,
    '',
    '192.0.2.2',
    '10.0.0.1',
    '0.0.0.0',
    '::',
    '::ffff:192.0.2.2',
    'fd00::2',
    '128.0.0.1',
    '1127.0.0.1',
    '::ffff:127.0.0.1.evil',
  ]) {
    assert.equal(isLoopbackAddress(a), false, String(a));
  }
});

test('loopback Host headers: localhost, 127.x and [::1], with or without a port', () => {
  for (const h of [
    'localhost',
    'localhost:3000',
    'LOCALHOST:1',
    'app.localhost:80',
    '127.0.0.1',
    '127.0.0.1:3000',
    '[::1]:3000',
    '[::1]',
  ]) {
    assert.equal(isLoopbackHost(h), true, h);
  }
  for (const h of [
    undefined,
    '',
    'evil.example:3000',
    'localhost.evil.example',
    '192.0.2.2:3000',
    '[fd00::2]:3000',
    '127.0.0.1.nip.io',
  ]) {
    assert.equal(isLoopbackHost(h), false, String(h));
  }
});
