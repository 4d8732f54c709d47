/**
 * `npm run soak`: fleetsim at 50,000 msg/s for 10 minutes against the 3-broker embedded Kafka,
 * with every broker SIGKILLed for 2 minutes in the middle. Prints peak RSS (against
 * bufferMemory + 256 MB), what was lost, the books and the recovery. Not part of CI.
 *
 *   npm run soak -- [--minutes 10] [--rate 50000] [--outage-seconds <minutes × 12>]
 *                   [--node-options="<NODE_OPTIONS of fleetsim; default the Docker image's>"]
 */
import { imageNodeOptions } from '../../scripts/image-node-options.js';
import { FaultHarness, type Fault, faultTable } from '../support/faults.js';
import { flag, log, startCluster } from './cli.js';

const MB = 1024 * 1024;

async function main(): Promise<number> {
  const minutes = Number(flag('minutes', '10'));
  const rate = Number(flag('rate', '50000'));
  const outageSeconds = Number(flag('outage-seconds', String(minutes * 12)));
  const sideSeconds = Math.max(5, Math.round((minutes * 60 - outageSeconds) / 2));
  const cluster = await startCluster(6);
  const outage: Fault = {
    name: `soak: ${minutes} min, all brokers down ${outageSeconds} s`,
    async inject(ctx) {
      await Promise.all(ctx.cluster.nodes.map((n) => n.kill()));
      await new Promise((r) => setTimeout(r, outageSeconds * 1000)); // the outage itself
      await Promise.all(ctx.cluster.nodes.map((n) => n.start()));
      await ctx.cluster.waitForBrokers(ctx.cluster.nodes.length);
      const returnedAt = Date.now();
      return { returnedAt };
    },
  };
  try {
    const harness = new FaultHarness(cluster, {
      rate,
      idempotent: flag('idempotent', 'true') !== 'false',
      partitions: 6,
      steadySeconds: sideSeconds,
      recoveryTimeoutMs: 300_000,
      log,
      // As the Docker image runs it (its NODE_OPTIONS); --node-options tries other V8 settings.
      env: { NODE_OPTIONS: flag('node-options', imageNodeOptions()) },
    });
    log(`soak: ${minutes} min at ${rate} msg/s, outage ${outageSeconds} s after ~${sideSeconds} s`);
    const r = await harness.run(outage);
    console.log(`\n${faultTable([r])}\n`);
    const peakRss = r.peakRssBytes ?? 0;
    const bufferMemory = r.books?.bufferMemory ?? 0;
    const limit = bufferMemory + 256 * MB;
    console.log(
      `peak RSS ${(peakRss / MB).toFixed(0)} MB (limit bufferMemory ${(bufferMemory / MB).toFixed(0)} MB + 256 MB = ${(limit / MB).toFixed(0)} MB): ${peakRss <= limit ? 'within' : 'OVER'}`,
    );
    const phases = r.peakRssByPhase;
    if (phases) {
      const mb = (b: number) => `${(b / MB).toFixed(0)} MB`;
      console.log(
        `peak RSS before the outage ${mb(phases.before)}, during it ${mb(phases.fault)}, after the return ${mb(phases.after)}`,
      );
    }
    if (r.steadyRate !== undefined) {
      console.log(
        `steady rate before the outage ${Math.round(r.steadyRate)} msg/s (target ${rate}); peak one-second rate ${Math.round(r.peakRate ?? 0)} msg/s`,
      );
    }
    console.log(`books: ${JSON.stringify(r.books)}`);
    console.log(`audit: ${JSON.stringify(r.audit)}`);
    if (r.notes.length) console.log(`notes: ${r.notes.join('; ')}`);
    return r.lost === 0 && r.balanced && peakRss <= limit && r.recoveryMs !== null ? 0 : 1;
  } finally {
    await cluster.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
