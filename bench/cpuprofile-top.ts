/**
 * Prints the functions with the most self time in a V8 .cpuprofile (from `node --cpu-prof`),
 * e.g. `node dist/bench/cpuprofile-top.js bench/results/profiles/flat-out.cpuprofile 25`.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeRow {
  fn: string;
  where: string;
  selfMs: number;
  selfPct: number;
}

/** Which part of the process a frame belongs to, for the per-area summary. */
export function areaOf(fn: string, url: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'V8/native (program)';
  if (url.includes('node_modules/kafkajs/')) return 'kafkajs';
  if (url.includes('node_modules/prom-client/')) return 'prom-client';
  if (url.includes('node_modules/')) return 'other node_modules';
  if (url.includes('/src/simulation/') || url.includes('/src/devices/'))
    return 'fleetsim simulation';
  if (url.includes('/src/producer/')) return 'fleetsim producer';
  if (url.includes('/bench/')) return 'bench hooks';
  if (url.includes('/src/')) return 'fleetsim other';
  if (url.startsWith('node:')) return 'node core (buffer, net, timers)';
  return 'native/builtins';
}

/** The areas of fleetsim's own code and of the libraries (not node core, builtins or V8). */
export const LIBRARY_AREAS = new Set([
  'kafkajs',
  'prom-client',
  'other node_modules',
  'fleetsim simulation',
  'fleetsim producer',
  'fleetsim other',
  'bench hooks',
]);

export interface ProfileSummary {
  totalMs: number;
  rows: SelfTimeRow[];
  /** Self time by area of the frame itself. */
  areas: Array<{ area: string; selfPct: number }>;
  /**
   * Self time charged to the nearest caller in a library area: node core and builtin frames
   * (Buffer allocation, copies, …) count for the kafkajs or fleetsim code that called them.
   */
  owners: Array<{ area: string; selfPct: number }>;
}

/** Self time per function (summed over call sites), largest first. */
export function topSelfTime(file: string, limit = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownerOf = (id: number): string => {
    const own = byId.get(id)!.callFrame;
    const area = areaOf(own.functionName, own.url);
    if (LIBRARY_AREAS.has(area) || area === 'GC' || area === 'idle') return area;
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const f = byId.get(p)!.callFrame;
      const a = areaOf(f.functionName, f.url);
      if (LIBRARY_AREAS.has(a)) return a;
    }
    return area;
  };
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const perFn = new Map<string, { fn: string; where: string; us: number }>();
  const perArea = new Map<string, number>();
  const perOwner = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    total += us;
    const area = areaOf(functionName, url);
    perArea.set(area, (perArea.get(area) ?? 0) + us);
    const owner = ownerOf(id);
    perOwner.set(owner, (perOwner.get(owner) ?? 0) + us);
    const fn = functionName || '(anonymous)';
    const where = url
      ? `${shorten(url)}:${lineNumber + 1}`
      : functionName.startsWith('(')
        ? ''
        : '(native)';
    const key = `${fn}@${where}`;
    const row = perFn.get(key) ?? { fn, where, us: 0 };
    row.us += us;
    perFn.set(key, row);
  }
  const rows = [...perFn.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((r) => ({
      fn: r.fn,
      where: r.where,
      selfMs: r.us / 1000,
      selfPct: (100 * r.us) / total,
    }));
  const share = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, selfPct: (100 * us) / total }));
  return { totalMs: total / 1000, rows, areas: share(perArea), owners: share(perOwner) };
}

function shorten(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

if (process.argv[1]?.endsWith('cpuprofile-top.js')) {
  const [file, limit] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node dist/bench/cpuprofile-top.js <file.cpuprofile> [rows]');
    process.exit(2);
  }
  const { totalMs, rows, areas, owners } = topSelfTime(file, Number(limit ?? 25));
  console.log(`${(totalMs / 1000).toFixed(1)} s of samples in ${file}\n\nself time by area:`);
  for (const a of areas) console.log(`${a.selfPct.toFixed(1).padStart(5)} %  ${a.area}`);
  console.log('\nnode core and builtins charged to their caller:');
  for (const a of owners) console.log(`${a.selfPct.toFixed(1).padStart(5)} %  ${a.area}`);
  console.log('\ntop functions by self time:');
  for (const r of rows) {
    console.log(
      `${r.selfPct.toFixed(1).padStart(5)} %  ${r.selfMs.toFixed(0).padStart(7)} ms  ${r.fn}  ${r.where}`,
    );
  }
}
