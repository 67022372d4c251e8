// The SDK's typed errors from the gateway's answers (maxRetries 0: the first answer is the one
// asserted): 401 AuthenticationError, 404 NotFoundError, 429 RateLimitError with Retry-After.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { waitForSample } from './support/prometheus_text.mjs';
import { kTinyModelName, ServeProcess, stopAndCheck, tinyModelPath } from './support/serve_process.mjs';

const kApiKey = 'gateway-node-test-key';
// One slot and no queue: a second request while a stream holds the slot is refused at once.
// ignore_eos and a long max_tokens keep that stream running until it is aborted.
const kLongMaxTokens = 3000;
const kContextPerSlot = 4096;
const kSlotReturnBoundMs = 5000;  // see abort_stream.test.mjs
const kMessages = [{ role: 'user', content: 'Hello.' }];

describe('typed errors', () => {
  let serve;
  let client;
  before(async () => {
    serve = await ServeProcess.start(['--backend', 'llama_cpp', '--model', tinyModelPath(), '--slots', '1',
      '--queue-limit', '0', '--ctx', String(kContextPerSlot), '--opt', 'ignore_eos=1', '--api-key', kApiKey]);
    client = new OpenAI({ baseURL: serve.apiUrl, apiKey: kApiKey, maxRetries: 0 });
  });
  after(async () => {
    if (serve) await stopAndCheck(serve);
  });

  test('a wrong API key is AuthenticationError 401 invalid_api_key; the right one is served', async () => {
    const intruder = new OpenAI({ baseURL: serve.apiUrl, apiKey: 'not-the-key', maxRetries: 0 });
    await assert.rejects(
      intruder.chat.completions.create({ model: kTinyModelName, messages: kMessages, max_tokens: 1 }),
      (error) => {
        assert.ok(error instanceof OpenAI.AuthenticationError, `${error.constructor.name}: ${error.message}`);
        assert.equal(error.status, 401);
        assert.equal(error.code, 'invalid_api_key');
        return true;
      });
    const answer = await client.chat.completions.create({ model: kTinyModelName, messages: kMessages, max_tokens: 1 });
    assert.equal(answer.usage.completion_tokens, 1);
  });

  test('an unknown model is NotFoundError 404 model_not_found naming the served ones', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: kMessages, max_tokens: 1 }),
      (error) => {
        assert.ok(error instanceof OpenAI.NotFoundError, `${error.constructor.name}: ${error.message}`);
        assert.equal(error.status, 404);
        assert.equal(error.code, 'model_not_found');
        assert.match(error.message, /no-such-model/);
        assert.match(error.message, new RegExp(kTinyModelName));
        return true;
      });
  });

  test('a full queue is RateLimitError 429 overloaded with Retry-After', async () => {
    const controller = new AbortController();
    const holder = await client.completions.create(
      { model: kTinyModelName, prompt: 'Once upon a time', max_tokens: kLongMaxTokens, stream: true },
      { signal: controller.signal });
    const iterator = holder[Symbol.asyncIterator]();
    const first = await iterator.next();  // a token: the one slot is taken
    assert.equal(first.done, false);
    try {
      await assert.rejects(
        client.completions.create({ model: kTinyModelName, prompt: 'Hello', max_tokens: 1 }),
        (error) => {
          assert.ok(error instanceof OpenAI.RateLimitError, `${error.constructor.name}: ${error.message}`);
          assert.equal(error.status, 429);
          assert.equal(error.code, 'overloaded');
          assert.match(error.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
          return true;
        });
    } finally {
      controller.abort();
      await iterator.return?.();
    }
    // The slot comes back, so after() drains at once.
    await waitForSample(serve.baseUrl, 'inference_slots_busy', { model: kTinyModelName }, 0, kSlotReturnBoundMs);
  });
});
