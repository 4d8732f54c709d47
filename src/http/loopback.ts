import { isIPv4 } from 'node:net';

/**
 * Whether a peer address is this machine's loopback: 127.0.0.0/8, ::1, or an IPv4 loopback
 * address mapped into IPv6 (::ffff:127.x.y.z, as a dual-stack socket reports it).
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const lower = address.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const v4 = lower.startsWith('::ffff:') ? lower.slice('::ffff:'.length) : lower;
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * Whether a Host header names this machine by a loopback name (localhost, *.localhost,
 * 127.x.y.z or [::1]), with or without a port. A browser page that rebinds its own DNS name
 * to 127.0.0.1 still sends its own name here, so this stops DNS rebinding.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const lower = host.trim().toLowerCase();
  const name = lower.startsWith('[')
    ? lower.slice(1, lower.indexOf(']'))
    : lower.replace(/:\d+$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return isLoopbackAddress(name);
}
