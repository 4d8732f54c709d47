// `npm start`'s prestart: runs `npm run build` only when dist/ is older than what the server
// is built from (src/, the TypeScript and Nest configs, the lockfile), so that a second
// `npm start` starts at once. Plain JavaScript, because it runs before anything is compiled.
// FLEETSIM_BUILD=always builds anyway.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const inputs = [
  'src',
  'tsconfig.json',
  'tsconfig.build.json',
  'nest-cli.json',
  'package-lock.json',
];
// tsc rewrites it at the end of every build that changed something.
const stamp = join(root, 'dist', '.tsbuildinfo');
const entry = join(root, 'dist', 'src', 'main.js');

/** The newest modification time under a file or directory, and which file has it. */
function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return { mtime: stat.mtimeMs, path };
  let best = { mtime: 0, path };
  for (const name of readdirSync(path)) {
    const found = newest(join(path, name));
    if (found.mtime > best.mtime) best = found;
  }
  return best;
}

function staleBecause() {
  if (process.env.FLEETSIM_BUILD === 'always') return 'FLEETSIM_BUILD=always';
  if (!existsSync(entry) || !existsSync(stamp)) return 'dist/ has not been built';
  const built = statSync(stamp).mtimeMs;
  for (const input of inputs) {
    const path = join(root, input);
    if (!existsSync(path)) continue;
    const found = newest(path);
    if (found.mtime > built) return `${found.path.slice(root.length + 1)} changed`;
  }
  return undefined;
}

const reason = staleBecause();
if (!reason) {
  console.log('dist/ is up to date with src/: not rebuilding (FLEETSIM_BUILD=always to force)');
} else {
  console.log(`building (${reason})`);
  const npm = process.env.npm_execpath;
  const [cmd, args] = npm ? [process.execPath, [npm, 'run', 'build']] : ['npm', ['run', 'build']];
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  // tsc leaves its build info alone when an input changed only its mtime: mark the build.
  if (result.status === 0 && existsSync(stamp)) utimesSync(stamp, new Date(), new Date());
  process.exit(result.status ?? 1);
}
