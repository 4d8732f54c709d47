/** SplitMix32 step: a good 32-bit mixer for deriving seeds. */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A seed for stream `stream` of a fleet seeded with `seed` (e.g. one per device ordinal). */
export function deriveSeed(seed: number, stream: number, salt = 0): number {
  return mix32(mix32(mix32(seed >>> 0) ^ stream) ^ salt);
}

/** Hashes integers to a uniform number in [0, 1); pure, for time-indexed noise. */
export function hashUnit(a: number, b: number, c = 0): number {
  return mix32(mix32(mix32(a >>> 0) ^ (b >>> 0)) ^ (c >>> 0)) / 4294967296;
}

/**
 * sfc32, a small fast generator with 128 bits of state. Each device owns one, seeded from
 * the fleet seed and the device's ordinal, so its stream never depends on other devices.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    this.a = mix32(seed);
    this.b = mix32(this.a ^ 0x5bd1e995);
    this.c = mix32(this.b ^ 0x27d4eb2f);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Marsaglia's polar method, caching the second value). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = this.next() * 2 - 1;
      v = this.next() * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * f;
    this.hasSpare = true;
    return u * f;
  }
}

/**
 * Smooth noise of time in [-1, 1]: random values at knots `periodMs` apart, blended with a
 * smoothstep. A pure function of (seed, stream, time), so every device that asks for the
 * same stream at the same time gets the same value, in any order.
 */
export function smoothNoise(
  seed: number,
  stream: number,
  timeMs: number,
  periodMs: number,
): number {
  const x = timeMs / periodMs;
  const k = Math.floor(x);
  const f = x - k;
  const s = f * f * (3 - 2 * f);
  const a = hashUnit(seed, stream, k) * 2 - 1;
  const b = hashUnit(seed, stream, k + 1) * 2 - 1;
  return a + (b - a) * s;
}
