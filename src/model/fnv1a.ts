const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a 32-bit hash of a string's UTF-8 bytes, as an unsigned number. */
export function fnv1a32(text: string): number {
  return fnv1a32Bytes(Buffer.from(text, 'utf8'));
}

/** FNV-1a 32-bit hash of bytes, as an unsigned number. */
export function fnv1a32Bytes(bytes: Uint8Array): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i];
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/** The partition a key with this hash goes to: hash modulo the topic's partition count. */
export function partitionFor(hash: number, partitionCount: number): number {
  return hash % partitionCount;
}
