/**
 * Flags fleetsim's Node process is started with: `npm start`, the Docker image's CMD, the
 * bench's server processes and the tests' (test/support/server.ts). Workers of
 * FLEETSIM_WORKERS inherit them (cluster.fork passes process.execArgv on).
 *
 * `--no-allocation-site-pretenuring`: V8 watches each allocation site (here: the record object
 * the pipeline offers, the value Buffer the serializer makes) and, when most of a site's
 * objects survived a young-generation collection while the young generation was at its largest,
 * has the site allocate in the old generation from then on, for the life of the process.
 * fleetsim's per-reading objects live a few milliseconds, but they pile up for a moment whenever
 * the producer waits (its first connection, an open circuit breaker, a broker failover), which
 * is enough for V8 to tenure their sites: from then on every record and value is garbage in the
 * old generation, freed only by full (mark-compact) collections. In the bench at 50,000 msg/s
 * that was a full collection every 1.1–1.4 s with pauses of up to 35 ms, the event-loop delay
 * and send latency p99 followed them; with the flag the same run had 0–3 in its 20 s window
 * instead of 15 (bench/README.md, "GC and the event loop").
 *
 * NODE_OPTIONS does not accept this V8 flag, and `v8.setFlagsFromString` once the process runs
 * did not help (V8 reads it when the heap is set up), so it is a command-line flag.
 */
export const NODE_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** The name of a flag without `--`, `no-` and `=…`, `_` read as `-`. */
const flagName = (arg: string) =>
  arg
    .split('=')[0]
    .replace(/^--(no-)?/, '')
    .replace(/_/g, '-');

/**
 * Flags of NODE_FLAGS that `execArgv` leaves to their default: neither given nor countermanded
 * (`--allocation-site-pretenuring` asks for V8's default on purpose).
 */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  const named = new Set(execArgv.filter((a) => a.startsWith('--')).map(flagName));
  return NODE_FLAGS.filter((f) => !named.has(flagName(f)));
}
