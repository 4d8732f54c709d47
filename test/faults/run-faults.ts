/**
 * `npm run faults`: the fault-injection suite of issue 10. A 3-broker embedded Kafka
 * (replication factor 3, min.insync.replicas=2) and the real fleetsim server producing at a
 * steady rate; for each fault a fresh topic, the fault, the recovery, then a consumer reads the
 * topic and checks it against fleetsim's books. Prints the table.
 *
 *   npm run faults -- [--rate 20000] [--idempotent true|false|both] [--only <substring>[,<substring>…]]
 *                     [--steady 5] [--json <file>]
 */
import { writeFileSync } from 'node:fs';
import { ALL_FAULTS, FaultHarness, type FaultResult, faultTable } from '../support/faults.js';
import { flag, log, startCluster } from './cli.js';

async function main(): Promise<number> {
  const rate = Number(flag('rate', '20000'));
  const mode = flag('idempotent', 'true');
  const only = flag('only', '');
  const steadySeconds = Number(flag('steady', '5'));
  const json = flag('json', '');
  const wanted = only
    .toLowerCase()
    .split(',')
    .filter((w) => w);
  const faults = ALL_FAULTS.filter(
    (f) => wanted.length === 0 || wanted.some((w) => f.name.toLowerCase().includes(w)),
  );
  if (faults.length === 0) throw new Error(`no fault matches ${only}`);
  const modes = mode === 'both' ? [true, false] : [mode !== 'false'];

  const cluster = await startCluster(6);
  const results: FaultResult[] = [];
  try {
    for (const idempotent of modes) {
      const harness = new FaultHarness(cluster, {
        rate,
        idempotent,
        partitions: 6,
        steadySeconds,
        recoveryTimeoutMs: 90_000,
        log,
      });
      for (const fault of faults) {
        log(`── ${fault.name} (idempotent ${idempotent}) at ${rate} msg/s`);
        try {
          const r = await harness.run(fault);
          results.push(r);
          log(
            `${fault.name}: acknowledged ${r.acknowledged}, lost ${r.lost}, duplicated ${r.duplicated}, reordered ${r.reordered}; ${r.notes.join('; ')}`,
          );
        } catch (err) {
          log(`${fault.name}: the run itself failed: ${(err as Error).stack ?? err}`);
          results.push({
            fault: fault.name,
            idempotent,
            acknowledged: 0,
            lost: 0,
            duplicated: 0,
            reordered: 0,
            audit: { messages: 0, distinct: 0, duplicated: 0, reordered: 0, gaps: 0, devices: 0 },
            error: (err as Error).message,
            notes: [`harness error: ${(err as Error).message}`],
          });
        }
      }
    }
  } finally {
    await cluster.stop();
  }
  console.log(
    `\nFaults at ${rate} msg/s, 3 brokers, replication factor 3, min.insync.replicas=2:\n`,
  );
  console.log(faultTable(results));
  console.log('\nNotes:');
  for (const r of results) {
    if (r.notes.length)
      console.log(`- ${r.fault} (idempotent ${r.idempotent}): ${r.notes.join('; ')}`);
  }
  if (json) writeFileSync(json, JSON.stringify(results, null, 2));
  const bad = results.filter(
    (r) =>
      r.error !== undefined ||
      r.lost > 0 ||
      r.reordered > 0 ||
      (r.idempotent && r.duplicated > 0) ||
      r.balanced === false,
  );
  return bad.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
