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
 * sfc32, a small fast generator with 128 bits of state, kept in an Int32Array at `o`
 * (a, b, c, d, then 1 when a second normal is cached), with the cached normal in a
 * Float64Array at `so`. Devices keep theirs in their state slot (Device), so that a reading
 * touches one block of memory instead of a generator object and its boxed fields; Rng wraps
 * the same functions around arrays of its own.
 */
export const RNG_WORDS = 5;

/** Seeds the sfc32 state at `o` as Rng's constructor does. */
export function sfcSeed(w: Int32Array, o: number, seed: number): void {
  const a = mix32(seed);
  const b = mix32(a ^ 0x5bd1e995);
  const c = mix32(b ^ 0x27d4eb2f);
  w[o] = a;
  w[o + 1] = b;
  w[o + 2] = c;
  w[o + 3] = 1;
  w[o + 4] = 0;
  for (let i = 0; i < 12; i++) sfcNext(w, o);
}

/** The next 32-bit output of the sfc32 state at `o` (unsigned). */
export function sfcNext(w: Int32Array, o: number): number {
  const a = w[o];
  const b = w[o + 1];
  const c = w[o + 2];
  const d = w[o + 3];
  const t = (((a + b) | 0) + d) | 0;
  w[o + 3] = (d + 1) | 0;
  w[o] = b ^ (b >>> 9);
  w[o + 1] = (c + (c << 3)) | 0;
  w[o + 2] = (((c << 21) | (c >>> 11)) + t) | 0;
  return t >>> 0;
}

/** Uniform in [0, 1) from the state at `o`. */
export function sfcUniform(w: Int32Array, o: number): number {
  return sfcNext(w, o) / 4294967296;
}

/**
 * Standard normal from the state at `o` (Marsaglia's polar method, caching the second value
 * at `f[so]`).
 */
export function sfcNormal(w: Int32Array, o: number, f: Float64Array, so: number): number {
  if (w[o + 4] !== 0) {
    w[o + 4] = 0;
    return f[so];
  }
  let u: number;
  let v: number;
  let s: number;
  do {
    u = sfcUniform(w, o) * 2 - 1;
    v = sfcUniform(w, o) * 2 - 1;
    s = u * u + v * v;
  } while (s >= 1 || s === 0);
  const k = Math.sqrt((-2 * Math.log(s)) / s);
  f[so] = v * k;
  w[o + 4] = 1;
  return u * k;
}

/** An sfc32 generator of its own (see sfcSeed … sfcNormal). */
export class Rng {
  private readonly w = new Int32Array(RNG_WORDS);
  private readonly f = new Float64Array(1);

  constructor(seed: number) {
    sfcSeed(this.w, 0, seed);
  }

  nextUint32(): number {
    return sfcNext(this.w, 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return sfcUniform(this.w, 0);
  }

  /** Standard normal (Marsaglia's polar method, caching the second value). */
  normal(): number {
    return sfcNormal(this.w, 0, this.f, 0);
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
