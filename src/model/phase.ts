/** Device phases: when in its fleet's interval each device reports. */

/** Reverses the 32 bits of i. */
function reverseBits(i: number): number {
  i = ((i >>> 1) & 0x55555555) | ((i & 0x55555555) << 1);
  i = ((i >>> 2) & 0x33333333) | ((i & 0x33333333) << 2);
  i = ((i >>> 4) & 0x0f0f0f0f) | ((i & 0x0f0f0f0f) << 4);
  i = ((i >>> 8) & 0x00ff00ff) | ((i & 0x00ff00ff) << 8);
  return ((i >>> 16) | (i << 16)) >>> 0;
}

/**
 * The phase of device `index` within its fleet's interval, in [0, 1): the van der Corput
 * sequence (bit-reversed ordinal). Any first n devices are spread evenly (no gap wider than
 * 2/n of the interval), and a device's phase never depends on how many devices there are, so
 * scaling a fleet moves no existing device.
 */
export function phaseOf(index: number): number {
  return reverseBits(index) / 4294967296;
}

/** Ordinals below 2^17 reverse into the top 17 bits, which keeps sort keys exact. */
const MAX_DEVICES = 131072;

/** The device ordinals of a fleet of `n` in phase order, and their phases (0 … 1). */
export function phaseOrder(n: number): {
  order: Uint32Array<ArrayBuffer>;
  phases: Float64Array<ArrayBuffer>;
} {
  if (n > MAX_DEVICES) throw new Error(`a fleet holds at most ${MAX_DEVICES} devices`);
  // Sort ordinals by phase: key = top 17 bits of the reversed ordinal, then the ordinal.
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = (reverseBits(i) >>> 15) * MAX_DEVICES + i;
  keys.sort();
  const order = new Uint32Array(n);
  const phases = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const i = keys[j] % MAX_DEVICES;
    order[j] = i;
    phases[j] = phaseOf(i);
  }
  return { order, phases };
}

/**
 * The ordinals `from` … `to - 1` in phase order (as `phaseOrder` sorts them). A fleet makes its
 * devices in this order, so that the scheduler, which takes them in phase order, finds each
 * next device's state next to the previous one's in memory.
 */
export function phaseSorted(from: number, to: number): number[] {
  const all = Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);
  if (to > MAX_DEVICES) return all;
  return all
    .map((i) => (reverseBits(i) >>> 15) * MAX_DEVICES + i)
    .sort((a, b) => a - b)
    .map((key) => key % MAX_DEVICES);
}
