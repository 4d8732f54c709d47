import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { projectRoot } from '../../src/kafka/project-root.js';

/**
 * The path of an external tool (promtool, prometheus): on the PATH, or where
 * .ci/install-prometheus puts it (.cache/tools/bin, or $FLEETSIM_TOOLS_DIR/bin). Throws when it
 * is missing: a test that needs it fails rather than skips.
 */
export function requireTool(name: string): string {
  const tools = process.env.FLEETSIM_TOOLS_DIR ?? join(projectRoot(), '.cache', 'tools');
  const dirs = [...(process.env.PATH ?? '').split(delimiter), join(tools, 'bin')];
  for (const dir of dirs.filter(Boolean)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  throw new Error(
    `${name} is not on the PATH nor in ${join(tools, 'bin')}: run .ci/install-prometheus (CI does)`,
  );
}
