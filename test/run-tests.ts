/**
 * Runs the test tiers with Node's test runner on the compiled files:
 *   unit         dist/src/**\/*.spec.js and dist/test/unit/**\/*.spec.js (no broker)
 *   integration  dist/test/integration/**\/*.test.js
 *   e2e          dist/test/e2e/**\/*.test.js
 * Integration and e2e tests share one real Apache Kafka, started here with the same
 * mechanism `npm start` uses (or taken from KAFKA_BROKERS when set), and stopped at the end.
 *
 * The producer contract files (ENGINE_CONTRACT) run once per Kafka engine: the first pass
 * runs every file with the default engine, a second pass the contract files again with
 * KAFKA_CLIENT=kafkajs (test/support/app.ts passes it to the app). KAFKA_CLIENT=<engine> in
 * the environment runs that engine only.
 *
 * Flags: --unit (unit tier only), --coverage (c8 over everything); any other argument keeps
 * only the files whose path contains it (e.g. `npm test -- outage`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { KAFKA_CLIENTS } from '../src/config/fleetsim.config.js';
import { EmbeddedKafka } from '../src/kafka/embedded-kafka.js';
import { projectRoot } from '../src/kafka/project-root.js';

const root = projectRoot();
const dist = join(root, 'dist');

/** Integration files that exercise the producer end to end: they run for every engine. */
const ENGINE_CONTRACT = [
  'pipeline',
  'outage',
  'partitions',
  'compression',
  'config-reload',
  'backpressure',
  'protobuf',
  'delivery-health',
].map((name) => join('integration', `${name}.test.js`));

function find(dir: string, suffix: string): string[] {
  let out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(find(path, suffix));
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out.sort();
}

async function main(): Promise<number> {
  const args = new Set(process.argv.slice(2));
  // Unit specs sit next to the code, or under test/unit/ when they need test/support/ (fakes),
  // which src/ never imports.
  const unit = [
    ...find(join(dist, 'src'), '.spec.js'),
    ...find(join(dist, 'test', 'unit'), '.spec.js'),
  ];
  const integration = args.has('--unit') ? [] : find(join(dist, 'test', 'integration'), '.test.js');
  const e2e = args.has('--unit') ? [] : find(join(dist, 'test', 'e2e'), '.test.js');
  // Other arguments narrow the run to files whose path contains one of them.
  const filters = [...args].filter((a) => !a.startsWith('--'));
  const pick = (list: string[]) =>
    filters.length ? list.filter((f) => filters.some((x) => f.includes(x))) : list;
  const files = [...pick(unit), ...pick(integration), ...pick(e2e)];
  if (files.length === 0) throw new Error(`no test file matches ${filters.join(', ')}`);

  if (files.some((f) => f.includes('metrics.test'))) {
    // The metrics test runs Debian's promtool and prometheus; fetch them once if missing.
    const install = spawnSync('bash', [join(root, '.ci', 'install-prometheus')], {
      stdio: 'inherit',
    });
    if (install.status !== 0)
      console.error('could not install prometheus/promtool: the metrics test will fail');
  }

  const env: NodeJS.ProcessEnv = { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1' };
  let broker: EmbeddedKafka | undefined;
  const needsKafka = files.some((f) => !f.endsWith('.spec.js'));
  if (needsKafka && !process.env.KAFKA_BROKERS) {
    broker = new EmbeddedKafka({
      port: 0,
      heap: '1g',
      log: (m) => console.log(`[test kafka] ${m}`),
    });
    const brokers = await broker.start();
    env.KAFKA_BROKERS = brokers.join(',');
  }
  console.log(
    `running ${pick(unit).length} unit, ${pick(integration).length} integration and ${pick(e2e).length} e2e test files` +
      (env.KAFKA_BROKERS ? ` against Kafka ${env.KAFKA_BROKERS}` : ''),
  );

  const chosen = process.env.KAFKA_CLIENT;
  const engines = chosen ? [chosen] : [...KAFKA_CLIENTS];
  const passes = [{ engine: engines[0], files }];
  for (const engine of engines.slice(1)) {
    const contract = files.filter((f) => ENGINE_CONTRACT.some((c) => f.endsWith(c)));
    if (contract.length) passes.push({ engine, files: contract });
  }
  let code = 0;
  for (const pass of passes) {
    console.log(`\n=== ${pass.files.length} test files with kafka.client=${pass.engine} ===`);
    const env2 = { ...env, KAFKA_CLIENT: pass.engine };
    const passCode = await runNode(pass.files, env2, args, pass === passes[0]);
    code ||= passCode;
  }
  if (broker) await broker.stop();
  return code;
}

/** Runs Node's test runner (under c8 with --coverage) over `files`; resolves with its exit code. */
function runNode(
  files: string[],
  env: NodeJS.ProcessEnv,
  args: Set<string>,
  first: boolean,
): Promise<number> {
  const nodeArgs = [
    '--enable-source-maps',
    '--test',
    '--test-reporter=spec',
    '--test-concurrency=1',
    ...files.map((f) => relative(root, f)),
  ];
  const [cmd, cmdArgs] = args.has('--coverage')
    ? [
        join(root, 'node_modules', '.bin', 'c8'),
        [
          // Later passes add to the first one's coverage.
          `--clean=${first}`,
          '--reporter=text-summary',
          '--reporter=lcov',
          '--src=src',
          '--exclude=dist/test/**',
          '--exclude=**/*.spec.*',
          '--exclude=test/**',
          '--exclude=bench/**',
          '--exclude=scripts/**',
          '--exclude=dist/bench/**',
          '--exclude=dist/scripts/**',
          'node',
          ...nodeArgs,
        ],
      ]
    : [process.execPath, nodeArgs];
  return new Promise<number>((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: root, env, stdio: 'inherit' });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
