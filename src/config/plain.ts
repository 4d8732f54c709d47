/** A JSON object: what configuration files, patches and views are made of. */
export type Plain = Record<string, unknown>;

export const isPlain = (v: unknown): v is Plain =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at a dotted path ("producer.lingerMs"), or undefined. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (!isPlain(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Sets the value at a dotted path, creating the objects on the way. */
export function setPath(obj: Plain, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isPlain(cur[part])) cur[part] = {};
    cur = cur[part] as Plain;
  }
  cur[parts[parts.length - 1]] = value;
}

/** Dotted paths of every leaf (a value that is not an object). */
export function leafPaths(obj: Plain, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    isPlain(v) ? leafPaths(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

/**
 * Merges `patch` onto `target` without changing either, as a JSON merge patch (RFC 7396)
 * does: members of `patch` replace those of `target`, objects merge recursively, arrays and
 * scalars are replaced whole. With `nulls: 'delete'` (a JSON merge patch, RFC 7396) a null removes the key;
 * with `nulls: 'keep'` (a configuration file over the defaults) it is kept as a value, for
 * validation to judge.
 */
export function applyMergePatch(
  target: unknown,
  patch: unknown,
  nulls: 'delete' | 'keep' = 'delete',
): unknown {
  if (!isPlain(patch)) return patch;
  const out: Plain = isPlain(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null && nulls === 'delete') delete out[key];
    else out[key] = applyMergePatch(out[key], value, nulls);
  }
  return out;
}
