import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** What a key may do: `read` (GET and HEAD) or `operate` (everything). */
export const API_KEY_ROLES = ['read', 'operate'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** A key as the rest of fleetsim sees it: its id and role, never its secret. */
export interface ApiKeyIdentity {
  id: string;
  role: ApiKeyRole;
}

interface StoredKey extends ApiKeyIdentity {
  digest: Buffer;
}

/** Shortest secret accepted: guessing one must be hopeless. */
export const MIN_SECRET_LENGTH = 16;

const ID = /^[A-Za-z0-9._-]{1,64}$/;
const SECRET = /^[\x21-\x7e]+$/;

const digestOf = (secret: string) => createHash('sha256').update(secret, 'utf8').digest();

/**
 * The API keys fleetsim accepts. Secrets are kept only as SHA-256 digests, and a presented
 * secret is compared with every key's digest in constant time (fixed-length digests, no early
 * exit), so neither a key's length nor how much of it matched shows in the answer time.
 */
export class ApiKeys {
  private readonly keys: StoredKey[];

  constructor(keys: Array<ApiKeyIdentity & { secret: string }> = []) {
    this.keys = keys.map(({ id, role, secret }) => ({ id, role, digest: digestOf(secret) }));
  }

  /** True when at least one key is configured, so the API requires one. */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** Ids and roles, for logs (never the secrets). */
  get identities(): ApiKeyIdentity[] {
    return this.keys.map(({ id, role }) => ({ id, role }));
  }

  /** The key whose secret this is, if any. */
  find(secret: string): ApiKeyIdentity | undefined {
    const presented = digestOf(secret);
    let found: StoredKey | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(presented, key.digest) && !found) found = key;
    }
    return found && { id: found.id, role: found.role };
  }
}

/**
 * Parses `id:role:secret` entries (the secret is everything after the second colon). Problems
 * name the entry by where it came from, its position and its id, never by its secret.
 */
export function parseApiKeys(
  entries: Array<{ text: string; where: string }>,
  problems: string[],
): Array<ApiKeyIdentity & { secret: string }> {
  const keys: Array<ApiKeyIdentity & { secret: string }> = [];
  const ids = new Set<string>();
  const secrets = new Set<string>();
  for (const { text, where } of entries) {
    const first = text.indexOf(':');
    const second = first < 0 ? -1 : text.indexOf(':', first + 1);
    if (second < 0) {
      problems.push(`${where}: must look like id:role:secret`);
      continue;
    }
    const id = text.slice(0, first).trim();
    const role = text.slice(first + 1, second).trim();
    const secret = text.slice(second + 1).trim();
    const name = ID.test(id) ? `${where} (key "${id}")` : where;
    const before = problems.length;
    if (!ID.test(id))
      problems.push(`${where}: the id must be 1-64 letters, digits, ".", "_" or "-"`);
    else if (ids.has(id)) problems.push(`${name}: the id is used by another key`);
    if (!(API_KEY_ROLES as readonly string[]).includes(role)) {
      problems.push(`${name}: the role must be read or operate, not "${role.slice(0, 20)}"`);
    }
    if (secret.length < MIN_SECRET_LENGTH) {
      problems.push(`${name}: the secret must be at least ${MIN_SECRET_LENGTH} characters long`);
    } else if (!SECRET.test(secret)) {
      problems.push(`${name}: the secret must be printable ASCII without spaces`);
    } else if (secrets.has(secret)) {
      problems.push(`${name}: the secret is the same as another key's`);
    }
    if (problems.length > before) continue;
    ids.add(id);
    secrets.add(secret);
    keys.push({ id, role: role as ApiKeyRole, secret });
  }
  return keys;
}

/**
 * Reads the API keys from FLEETSIM_API_KEYS (comma-separated) and the file named by
 * FLEETSIM_API_KEYS_FILE (one a line; blank lines and lines starting with # are skipped).
 * Both may be set; the keys of both count.
 */
export function loadApiKeys(env: NodeJS.ProcessEnv, problems: string[]): ApiKeys {
  const entries: Array<{ text: string; where: string }> = [];
  const inline = env.FLEETSIM_API_KEYS?.trim();
  if (inline) {
    inline.split(',').forEach((text, i) => {
      if (text.trim()) entries.push({ text, where: `FLEETSIM_API_KEYS entry ${i + 1}` });
    });
  }
  const file = env.FLEETSIM_API_KEYS_FILE?.trim();
  if (file) {
    let content: string | undefined;
    try {
      content = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(
        `FLEETSIM_API_KEYS_FILE=${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    content?.split(/\r?\n/).forEach((line, i) => {
      const text = line.trim();
      if (text && !text.startsWith('#')) {
        entries.push({ text, where: `FLEETSIM_API_KEYS_FILE=${file} line ${i + 1}` });
      }
    });
    if (content !== undefined && entries.length === 0 && !inline) {
      problems.push(`FLEETSIM_API_KEYS_FILE=${file}: holds no key (one id:role:secret a line)`);
    }
  }
  return new ApiKeys(parseApiKeys(entries, problems));
}
