/**
 * Prints where a sampled allocation profile (V8's HeapProfiler.startSampling, as the bench's
 * BENCH_PROFILE=alloc writes it) allocated its bytes: by allocating function, each with the
 * nearest caller in fleetsim's or a library's code, and by area. E.g.
 * `node dist/bench/allocprofile-top.js bench/results/profiles/x.heapprofile 25`.
 */
import { readFileSync } from 'node:fs';
import { areaOf, LIBRARY_AREAS } from './cpuprofile-top.js';

interface AllocNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: AllocNode[];
}

export interface AllocRow {
  fn: string;
  /** The allocating function's nearest caller outside node core and the builtins. */
  caller: string;
  bytes: number;
  pct: number;
}

export interface AllocSummary {
  totalBytes: number;
  rows: AllocRow[];
  /** Bytes by area of the nearest caller in fleetsim's or a library's code. */
  owners: Array<{ area: string; pct: number }>;
}

const frameName = (f: AllocNode['callFrame']) => {
  const url = f.url.replace(/^file:\/\//, '');
  const nm = url.lastIndexOf('node_modules/');
  const short = nm >= 0 ? url.slice(nm + 13) : url.replace(/^.*\/(dist|src)\//, '$1/');
  return `${f.functionName || '(anonymous)'}${short ? ` ${short}:${f.lineNumber + 1}` : ''}`;
};

/** Allocated bytes per function (with its nearest own caller), largest first. */
export function topAllocations(file: string, limit = 25): AllocSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: AllocNode };
  const rows = new Map<string, AllocRow>();
  const owners = new Map<string, number>();
  let total = 0;
  const walk = (node: AllocNode, owner: AllocNode | undefined) => {
    const f = node.callFrame;
    const own = LIBRARY_AREAS.has(areaOf(f.functionName, f.url)) ? node : owner;
    if (node.selfSize > 0) {
      total += node.selfSize;
      const fn = frameName(f);
      const caller = own && own !== node ? frameName(own.callFrame) : '';
      const key = `${fn}|${caller}`;
      const row = rows.get(key) ?? { fn, caller, bytes: 0, pct: 0 };
      row.bytes += node.selfSize;
      rows.set(key, row);
      const area = own
        ? areaOf(own.callFrame.functionName, own.callFrame.url)
        : areaOf(f.functionName, f.url);
      owners.set(area, (owners.get(area) ?? 0) + node.selfSize);
    }
    for (const c of node.children) walk(c, own);
  };
  walk(profile.head, undefined);
  const top = [...rows.values()].sort((a, b) => b.bytes - a.bytes).slice(0, limit);
  for (const r of top) r.pct = (100 * r.bytes) / total;
  return {
    totalBytes: total,
    rows: top,
    owners: [...owners.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, bytes]) => ({ area, pct: (100 * bytes) / total })),
  };
}

if (process.argv[1]?.endsWith('allocprofile-top.js')) {
  const [file, limit] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node dist/bench/allocprofile-top.js <file.heapprofile> [rows]');
    process.exit(2);
  }
  const { totalBytes, rows, owners } = topAllocations(file, Number(limit ?? 25));
  console.log(`${(totalBytes / 2 ** 20).toFixed(0)} MiB sampled in ${file}\n\nby owner:`);
  for (const a of owners) console.log(`${a.pct.toFixed(1).padStart(5)} %  ${a.area}`);
  console.log('\ntop allocating functions (nearest own caller):');
  for (const r of rows) {
    console.log(
      `${r.pct.toFixed(1).padStart(5)} %  ${(r.bytes / 2 ** 20).toFixed(1).padStart(7)} MiB  ${r.fn}${r.caller ? `  ← ${r.caller}` : ''}`,
    );
  }
}
