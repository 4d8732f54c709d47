import type { OutgoingRecord } from './outgoing.record.js';

/**
 * A FIFO of records with O(1) push, shift of a run, and unshift of a returned run, kept in a
 * growable ring so a long queue costs no array copying on the hot path.
 */
export class RecordQueue {
  private items: Array<OutgoingRecord | undefined> = new Array(1024);
  private head = 0;
  private count = 0;
  bytes = 0;

  get length(): number {
    return this.count;
  }

  push(record: OutgoingRecord, bytes: number): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = record;
    this.count++;
    this.bytes += bytes;
  }

  /** Takes up to `maxCount` records and about `maxBytes` value bytes (at least one record). */
  take(maxCount: number, maxBytes: number): OutgoingRecord[] {
    const out: OutgoingRecord[] = [];
    let bytes = 0;
    while (this.count > 0 && out.length < maxCount) {
      const rec = this.items[this.head]!;
      const size = rec.key.length + rec.value.length;
      if (out.length > 0 && bytes + size > maxBytes) break;
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.items.length;
      this.count--;
      bytes += size;
      out.push(rec);
    }
    this.bytes -= bytes;
    return out;
  }

  /** Puts records back at the front, in their order (used when a send must be retried later). */
  unshift(records: OutgoingRecord[], bytes: number): void {
    while (this.count + records.length > this.items.length) this.grow();
    for (let i = records.length - 1; i >= 0; i--) {
      this.head = (this.head - 1 + this.items.length) % this.items.length;
      this.items[this.head] = records[i];
      this.count++;
    }
    this.bytes += bytes;
  }

  /** Empties the queue and returns what it held. */
  clear(): OutgoingRecord[] {
    return this.take(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  }

  private grow(): void {
    const next = new Array<OutgoingRecord | undefined>(this.items.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}
