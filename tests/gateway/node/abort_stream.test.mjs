// A client that aborts its stream (AbortController) gives its slot back: the gateway cancels the
// request, llama-server's slot is freed, and the model serves the next request.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { readMetrics, sampleValue, waitForSample } from './support/prometheus_text.mjs';
import { kTinyModelName, ServeProcess, stopAndCheck, tinyModelPath } from './support/serve_process.mjs';

// Long enough that the stream is still generating when it is aborted (ignore_eos: no early end).
const kLongMaxTokens = 3000;
const kContextPerSlot = 4096;
// How long the slot may take to show as free on /metrics after the abort: a bound for the wait,
// far above the expected milliseconds (the C++ tests assert the 50 ms on /slots).
const kSlotReturnBoundMs = 5000;
const kMessages = [{ role: 'user', content: 'Write a very long story.' }];
const kModel = { model: kTinyModelName };

describe('aborting a stream with AbortController', () => {
  let serve;
  let client;
  before(async () => {
    serve = await ServeProcess.start(['--backend', 'llama_cpp', '--model', tinyModelPath(), '--slots', '4',
      '--ctx', String(kContextPerSlot), '--opt', 'ignore_eos=1']);
    client = new OpenAI({ baseURL: serve.apiUrl, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    if (serve) await stopAndCheck(serve);
  });

  test('frees the slot, counts the request as cancelled, and the next request completes', async () => {
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: kTinyModelName, messages: kMessages, max_tokens: kLongMaxTokens, stream: true },
      { signal: controller.signal });
    let tokenChunks = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.role) continue;  // the opening chunk, sent before any token
      tokenChunks += 1;
      if (tokenChunks === 1) {
        const running = await readMetrics(serve.baseUrl);
        assert.equal(sampleValue(running, 'inference_slots_busy', kModel), 1, 'no slot busy while streaming');
        controller.abort();  // the SDK ends the iteration without throwing
      }
    }
    assert.ok(tokenChunks >= 1, 'the stream sent no token');

    await waitForSample(serve.baseUrl, 'inference_slots_busy', kModel, 0, kSlotReturnBoundMs);
    // Cancelled, not finished: counted with the tokens it streamed, fewer than its max_tokens.
    const counted = await waitForSample(serve.baseUrl, 'inference_requests_total',
      { ...kModel, outcome: 'cancelled' }, 1, kSlotReturnBoundMs);
    const streamed = sampleValue(counted, 'inference_completion_tokens_total', kModel);
    assert.ok(streamed >= tokenChunks && streamed < kLongMaxTokens, `${streamed} tokens counted`);

    const next = await client.chat.completions.create({ model: kTinyModelName, messages: kMessages, max_tokens: 4 });
    assert.equal(next.choices[0].finish_reason, 'length');
    assert.equal(next.usage.completion_tokens, 4);
  });
});
