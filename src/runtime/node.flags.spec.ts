import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../kafka/project-root.js';
import { NODE_FLAGS, missingNodeFlags } from './node.flags.js';

test('a flag counts as given when the command line names it, either way', () => {
  assert.deepEqual(missingNodeFlags([]), [...NODE_FLAGS]);
  assert.deepEqual(missingNodeFlags(['--max-old-space-size=512', '--enable-source-maps']), [
    ...NODE_FLAGS,
  ]);
  assert.deepEqual(missingNodeFlags([...NODE_FLAGS]), []);
  assert.deepEqual(missingNodeFlags(['--allocation-site-pretenuring']), []);
  assert.deepEqual(missingNodeFlags(['--allocation_site_pretenuring']), []);
});

test('npm start and the Docker image start node with every flag', () => {
  const root = projectRoot();
  const start = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts.start;
  const startArgs = start.split(/\s+/);
  assert.equal(startArgs[0], 'node');
  assert.deepEqual(missingNodeFlags(startArgs), [], `npm start: ${start}`);
  const cmd = /^CMD (\[.*\])\s*$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  assert.ok(cmd, 'the Dockerfile has a CMD [...]');
  const cmdArgs = JSON.parse(cmd[1]) as string[];
  assert.equal(cmdArgs[0], 'node');
  assert.deepEqual(missingNodeFlags(cmdArgs), [], `Dockerfile CMD ${cmd[1]}`);
});
