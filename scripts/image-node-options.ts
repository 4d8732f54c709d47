import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/kafka/project-root.js';

/**
 * The NODE_OPTIONS the Docker image runs fleetsim with (the Dockerfile's `ENV NODE_OPTIONS`),
 * so that the bench and the soak measure fleetsim as the image runs it, with one place to
 * change them.
 */
export function imageNodeOptions(root = projectRoot()): string {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const m = /^ENV NODE_OPTIONS="([^"]*)"\s*$/m.exec(dockerfile);
  if (!m) throw new Error(`no ENV NODE_OPTIONS="…" line in ${join(root, 'Dockerfile')}`);
  return m[1];
}
