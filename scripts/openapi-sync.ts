/**
 * Writes openapi/openapi.json from the code: boots the app without listening and without
 * Kafka, with stable key ordering. `--check` fails when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp, openApiDocument } from '../src/app.factory.js';
import { loadConfig } from '../src/config/config.loader.js';
import { projectRoot } from '../src/kafka/project-root.js';

/**
 * Sorts object keys, and `enum` lists: the Swagger plugin takes enums of union types from the
 * type checker, whose member order is not stable between runs.
 */
function sortKeys(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v) => sortKeys(v));
    return key === 'enum' && items.every((v) => typeof v === 'string') ? items.sort() : items;
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k], k)]),
    );
  }
  return value;
}

async function main(): Promise<number> {
  const loaded = loadConfig({ LOG_LEVEL: 'error' });
  const app = await createApp(loaded, [], false, { connectKafka: false });
  const text = `${JSON.stringify(sortKeys(openApiDocument(app)), null, 2)}\n`;
  await app.close();
  const file = join(projectRoot(), 'openapi', 'openapi.json');
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      console.error('openapi/openapi.json is stale: run `npm run openapi:sync` and commit it');
      return 1;
    }
    console.log('openapi/openapi.json is up to date');
    return 0;
  }
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
