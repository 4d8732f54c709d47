/**
 * npm run backfill -- --from 2026-03-01T00:00:00Z --to 2026-03-08T00:00:00Z [options]
 *
 * Backfills a fleet's readings for a range of event time and prints a progress bar; exits
 * when the backfill is over (0: done, 1: failed or cancelled, 2: bad input).
 *
 * Standalone (default): runs fleetsim's own modules in this process, without HTTP and without
 * live streaming, against the brokers of KAFKA_BROKERS (and the rest of the configuration:
 * FLEETSIM_CONFIG, KAFKA_TOPIC, …). With --url, asks a running fleetsim over its REST API
 * instead (POST /api/v1/backfills, then GET until it is over).
 *
 * The fleet: --fleet <id> (a fleet of the configuration's simulation.fleets, or of the server
 * with --url), or a spec: --name, --devices, --interval (ms), --seed.
 * Options: --pace max|<factor>, --scenario <name> [--scenario-start <ISO>], --url <base URL>.
 */
import { parseArgs } from 'node:util';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { createApp } from '../src/app.factory.js';
import { type BackfillDto, CreateBackfillDto } from '../src/backfill/backfill.dto.js';
import { BackfillService } from '../src/backfill/backfill.service.js';
import { ConfigError, loadConfig } from '../src/config/config.loader.js';
import { FleetService } from '../src/devices/fleet.service.js';
import { DomainError } from '../src/model/domain.error.js';
import { ProducerService } from '../src/producer/producer.service.js';

const { values } = parseArgs({
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    fleet: { type: 'string' },
    name: { type: 'string' },
    devices: { type: 'string' },
    interval: { type: 'string' },
    seed: { type: 'string' },
    pace: { type: 'string', default: 'max' },
    scenario: { type: 'string' },
    'scenario-start': { type: 'string' },
    url: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

function usage(message?: string): never {
  if (message) process.stderr.write(`backfill: ${message}\n`);
  process.stderr.write(
    'usage: npm run backfill -- --from <ISO> --to <ISO> (--fleet <id> | --name <name> --devices <n> [--interval <ms>] [--seed <n>])\n' +
      '         [--pace max|<factor>] [--scenario <name> [--scenario-start <ISO>]] [--url <fleetsim base URL>]\n',
  );
  process.exit(2);
}

function request(): CreateBackfillDto {
  if (values.help) usage();
  if (!values.from || !values.to) usage('--from and --to are required');
  const pace = values.pace === 'max' ? 'max' : Number(values.pace);
  const dto: CreateBackfillDto = { from: values.from, to: values.to, pace };
  if (values.fleet) dto.fleetId = values.fleet;
  else if (values.devices) {
    dto.fleet = {
      name: values.name ?? 'backfill',
      deviceCount: Number(values.devices),
      ...(values.interval ? { intervalMs: Number(values.interval) } : {}),
      ...(values.seed ? { seed: Number(values.seed) } : {}),
    };
  } else usage('give --fleet <id>, or --devices <n> (with --name, --interval, --seed)');
  if (values.scenario) {
    dto.scenario = {
      name: values.scenario,
      ...(values['scenario-start'] ? { startAt: values['scenario-start'] } : {}),
    };
  }
  return dto;
}

const tty = process.stderr.isTTY;
let lastLine = 0;

function draw(b: BackfillDto): void {
  const p = b.progress;
  const width = 30;
  const filled = Math.round((p.percent / 100) * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  const line =
    `${b.id} [${bar}] ${p.percent.toFixed(1).padStart(5)} % ${p.done}/${p.total} ` +
    `${p.ratePerSecond}/s ETA ${p.etaSeconds ?? '?'} s ack ${p.acknowledged}`;
  if (tty) process.stderr.write(`\r${line}\x1b[K`);
  else if (Date.now() - lastLine >= 5000 || b.state !== 'running') {
    process.stderr.write(`${line}\n`);
    lastLine = Date.now();
  }
}

async function follow(poll: () => Promise<BackfillDto>): Promise<BackfillDto> {
  for (;;) {
    const b = await poll();
    draw(b);
    if (b.state !== 'running') {
      if (tty) process.stderr.write('\n');
      return b;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function report(b: BackfillDto): never {
  const secs = b.finishedAt ? (Date.parse(b.finishedAt) - Date.parse(b.startedAt)) / 1000 : 0;
  process.stdout.write(
    `${b.id} ${b.state}: ${b.progress.done} readings of fleet ${b.fleetId} (${b.from} … ${b.to}) in ` +
      `${secs.toFixed(1)} s, ${b.progress.acknowledged} acknowledged, ${b.progress.failed} failed` +
      (b.error ? ` (${b.error})` : '') +
      '\n',
  );
  for (const o of b.offsets) {
    process.stdout.write(
      `  ${o.topic}[${o.partition}] offsets ${o.firstOffset} … ${o.lastOffset}\n`,
    );
  }
  process.exit(b.state === 'done' ? 0 : 1);
}

async function overHttp(base: string, dto: CreateBackfillDto): Promise<never> {
  const post = await fetch(`${base}/api/v1/backfills`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(dto),
  });
  const created = (await post.json()) as BackfillDto & { detail?: string };
  if (!post.ok) usage(`${post.status}: ${created.detail ?? JSON.stringify(created)}`);
  const done = await follow(async () => {
    const res = await fetch(`${base}/api/v1/backfills/${created.id}`);
    return (await res.json()) as BackfillDto;
  });
  report(done);
}

async function standalone(dto: CreateBackfillDto): Promise<never> {
  // The rules the REST API applies to the body.
  const problems = validateSync(plainToInstance(CreateBackfillDto, dto), {
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  if (problems.length) {
    const flat = (e: (typeof problems)[number], at: string): string[] => [
      ...Object.values(e.constraints ?? {}).map((m) => `${at}${e.property}: ${m}`),
      ...(e.children ?? []).flatMap((c) => flat(c, `${at}${e.property}.`)),
    ];
    usage(problems.flatMap((e) => flat(e, '')).join('; '));
  }
  let loaded;
  try {
    // Standalone: its own fleets, outside any cluster of live processes on the same brokers.
    loaded = loadConfig({
      LOG_LEVEL: 'warn',
      ...process.env,
      FLEETSIM_AUTOSTART: 'false',
      FLEETSIM_CLUSTER: 'false',
    });
  } catch (err) {
    if (err instanceof ConfigError) usage(err.message);
    throw err;
  }
  const brokers = loaded.config.kafka.brokers;
  if (brokers.length === 0)
    usage('standalone needs KAFKA_BROKERS (or --url of a running fleetsim)');
  const app = await createApp(loaded, brokers, false, { json: process.env.LOG_FORMAT === 'json' });
  await app.init();
  await app.get(ProducerService).ready();
  for (const fleet of loaded.config.simulation.fleets) await app.get(FleetService).create(fleet);
  const service = app.get(BackfillService);
  let created: BackfillDto;
  try {
    created = service.create(dto);
  } catch (err) {
    await app.close();
    if (err instanceof DomainError) {
      usage(err.errors?.map((e) => `${e.field}: ${e.message}`).join('; ') ?? err.message);
    }
    throw err;
  }
  let stopping = false;
  process.once('SIGINT', () => {
    stopping = true;
    service.cancel(created.id);
  });
  const done = await follow(async () => service.get(created.id));
  await app.close();
  if (stopping) process.stderr.write('cancelled\n');
  report(done);
}

const dto = request();
await (values.url ? overHttp(values.url.replace(/\/$/, ''), dto) : standalone(dto));
