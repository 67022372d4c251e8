// One `llmctl serve --port 0` child per test file: started with the build's llmctl, plugins,
// llama-server and shared models (tests/gateway/CMakeLists.txt passes them in the environment),
// ready once it prints its one `listening on http://HOST:PORT` line, stopped with SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';

// The shared tiny model, served under its file stem.
export const kTinyModelName = 'llama-2-tiny-random';

// How long a start or a stop may take before the test reports a hang instead of waiting forever
// (a load of the tiny model takes well under a second; these are guards, not expectations).
const kStartGuardMs = 60_000;
const kStopGuardMs = 30_000;
// Lines of the child's stderr kept for failure messages.
const kStderrLinesKept = 40;

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run the suite through ctest: tests/gateway/CMakeLists.txt sets it)`);
  return value;
}

// INFERENCE_MODELS_DIR wins over the build's directory, as in tests/support/test_inputs.hpp.
export function tinyModelPath() {
  const directory = process.env.INFERENCE_MODELS_DIR || requiredEnv('INFERENCE_TEST_DEFAULT_MODELS_DIR');
  return path.join(directory, `${kTinyModelName}.gguf`);
}

// The child's environment: the configured llama-server unless LLAMA_SERVER_PATH already names one.
function childEnvironment() {
  const env = { ...process.env };
  if (!env.LLAMA_SERVER_PATH && env.INFERENCE_TEST_LLAMA_SERVER) {
    env.LLAMA_SERVER_PATH = env.INFERENCE_TEST_LLAMA_SERVER;
  }
  delete env.LLMCTL_API_KEY;  // a key in the caller's environment would turn authentication on
  return env;
}

// Pids whose parent is `pid` (from /proc/*/stat: field 4, after the parenthesised command name).
function childPids(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) children.push(Number(entry));
    } catch {
      // The process ended while we looked: not a child any more.
    }
  }
  return children;
}

// True while `pid` runs (a zombie has ended: it only waits for its parent to read its status).
function isRunning(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export class ServeProcess {
  // `args`: llmctl serve's arguments after the plugin directory and the port.
  static async start(args) {
    const llmctl = requiredEnv('LLMCTL_PATH');
    const fullArgs = ['serve', '--plugin-dir', requiredEnv('INFERENCE_TEST_PLUGIN_DIR'), '--port', '0', ...args];
    const child = spawn(llmctl, fullArgs, { env: childEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    const serve = new ServeProcess(child, `${llmctl} ${fullArgs.join(' ')}`);
    serve.baseUrl = await serve.#waitForListening();
    return serve;
  }

  constructor(child, commandLine) {
    this.child = child;
    this.commandLine = commandLine;
    this.stderrLines = [];
    this.exit = once(child, 'exit');  // [code, signal]
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      this.stderrLines.push(line);
      if (this.stderrLines.length > kStderrLinesKept) this.stderrLines.shift();
    });
  }

  // The OpenAI base URL (what the SDK's `baseURL` takes).
  get apiUrl() {
    return `${this.baseUrl}/v1`;
  }

  describe() {
    return `${this.commandLine}\n--- last lines of its stderr ---\n${this.stderrLines.join('\n')}`;
  }

  async #waitForListening() {
    const lines = readline.createInterface({ input: this.child.stdout });
    const listening = (async () => {
      for await (const line of lines) {
        const match = /^listening on (http:\/\/\S+)$/.exec(line);
        if (match) return match[1];
        throw new Error(`unexpected line on stdout before 'listening on': ${line}`);
      }
      throw new Error('stdout closed without a listening line');
    })();
    const exited = this.exit.then(([code, signal]) => {
      throw new Error(`exited (code ${code}, signal ${signal}) before listening`);
    });
    const guard = new Promise((_, reject) => {
      setTimeout(() => reject(new Error(`no listening line within ${kStartGuardMs} ms`)), kStartGuardMs).unref();
    });
    try {
      const url = await Promise.race([listening, exited, guard]);
      this.child.stdout.resume();  // nothing more is expected there; never let the pipe fill
      return url;
    } catch (error) {
      this.child.kill('SIGKILL');
      throw new Error(`llmctl serve did not start: ${error.message}\n${this.describe()}`);
    }
  }

  // SIGTERM, then the exit status and the server processes it left running (both should be
  // "0" and "none": the caller asserts).
  async stop() {
    const children = childPids(this.child.pid);
    this.child.kill('SIGTERM');
    let timer;
    const guard = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit within ${kStopGuardMs} ms of SIGTERM`)), kStopGuardMs);
    });
    try {
      const [code, signal] = await Promise.race([this.exit, guard]);
      return { code, signal, children, leftRunning: children.filter(isRunning) };
    } catch (error) {
      this.child.kill('SIGKILL');
      throw new Error(`${error.message}\n${this.describe()}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

// For after(): SIGTERM must drain and exit 0, leaving none of its server processes running.
export async function stopAndCheck(serve) {
  const { code, signal, leftRunning } = await serve.stop();
  assert.equal(signal, null, `llmctl serve died of ${signal}\n${serve.describe()}`);
  assert.equal(code, 0, `llmctl serve exited ${code} after SIGTERM\n${serve.describe()}`);
  assert.deepEqual(leftRunning, [], `processes llmctl serve started still run after it exited: ${leftRunning}`);
}
