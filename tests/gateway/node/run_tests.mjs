// ctest's entry point for the Node suite (tests/gateway/CMakeLists.txt): checks that the pinned
// `openai` package is installed (scripts/setup runs `npm ci` here), then runs every *.test.mjs
// of this folder with node's test runner. Exits 77 (ctest's SKIP_RETURN_CODE) with the reason
// when Node is too old or the package is missing or stale, so the suite never passes unseen.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const kSkip = 77;
const kMinNodeMajor = 18;  // node:test with describe/before/after, fetch, AbortSignal
const here = path.dirname(fileURLToPath(import.meta.url));

function skip(reason) {
  console.log(`SKIP: ${reason}`);
  process.exit(kSkip);
}

const major = Number(process.versions.node.split('.')[0]);
if (major < kMinNodeMajor) skip(`node ${process.versions.node} is older than ${kMinNodeMajor} (scripts/setup)`);

const lock = JSON.parse(readFileSync(path.join(here, 'package-lock.json'), 'utf8'));
const pinned = lock.packages['node_modules/openai'].version;
const installedManifest = path.join(here, 'node_modules', 'openai', 'package.json');
if (!existsSync(installedManifest)) skip(`${installedManifest} is missing: run scripts/setup (npm ci in ${here})`);
const installed = JSON.parse(readFileSync(installedManifest, 'utf8')).version;
if (installed !== pinned) {
  skip(`node_modules has openai ${installed}, package-lock.json pins ${pinned}: run scripts/setup`);
}

const files = readdirSync(here)
  .filter((name) => name.endsWith('.test.mjs'))
  .sort()
  .map((name) => path.join(here, name));
console.log(`openai ${installed} on node ${process.versions.node}: ${files.length} test files`);
const run = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
process.exit(run.status ?? 1);
