/**
 * Which settings are secret and how they are shown: anything named like a password, secret,
 * token or SASL setting, and TLS private keys (`key`). Used by GET /api/v1/config, change logs
 * and configuration errors, so that no secret value is ever echoed.
 */

import { isPlain } from './plain.js';

/** Keys whose values are never shown. */
export const SECRET_KEY = /password|secret|token|sasl|^key$/i;

/** What a secret value is shown as. Sending it back in a patch leaves the secret as it is. */
export const SECRET_MASK = '********';

export function isSecretPath(path: string): boolean {
  return path.split('.').some((part) => SECRET_KEY.test(part));
}

/** A copy of `value` with every value under a secret key replaced by the mask (unset stays unset). */
export function maskSecrets<T>(value: T, secret = false): T {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, secret)) as T;
  if (isPlain(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, maskSecrets(v, secret || SECRET_KEY.test(k))]),
    ) as T;
  }
  if (secret && value !== undefined && value !== null && value !== '') return SECRET_MASK as T;
  return value;
}
