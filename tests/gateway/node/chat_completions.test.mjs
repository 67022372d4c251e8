// client.chat.completions.create through llmctl serve, whole and streamed: the official SDK
// parses what the gateway sends, and the usage numbers match the tokens that arrived.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { kTinyModelName, ServeProcess, stopAndCheck, tinyModelPath } from './support/serve_process.mjs';

// ignore_eos: every generation runs to max_tokens, so the counts below are exact.
const kMaxTokens = 6;
const kMessages = [{ role: 'user', content: 'Tell me a short story about a cat.' }];

describe('chat.completions.create', () => {
  let serve;
  let client;
  before(async () => {
    serve = await ServeProcess.start(['--backend', 'llama_cpp', '--model', tinyModelPath(), '--slots', '4',
      '--ctx', '1024', '--opt', 'ignore_eos=1']);
    client = new OpenAI({ baseURL: serve.apiUrl, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    if (serve) await stopAndCheck(serve);
  });

  test('a whole response has the text, finish_reason length and the usage of max_tokens', async () => {
    const completion = await client.chat.completions.create({
      model: kTinyModelName, messages: kMessages, max_tokens: kMaxTokens, temperature: 0,
    });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, kTinyModelName);
    assert.equal(completion.choices.length, 1);
    const [choice] = completion.choices;
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, 'assistant');
    assert.equal(typeof choice.message.content, 'string');
    assert.ok(choice.message.content.length > 0, 'empty message content');
    assert.equal(choice.finish_reason, 'length');
    assert.ok(completion.usage.prompt_tokens > 0, `prompt_tokens ${completion.usage.prompt_tokens}`);
    assert.equal(completion.usage.completion_tokens, kMaxTokens);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + kMaxTokens);
  });

  test('max_completion_tokens bounds the answer like max_tokens', async () => {
    const completion = await client.chat.completions.create({
      model: kTinyModelName, messages: kMessages, max_completion_tokens: 3, temperature: 0,
    });
    assert.equal(completion.choices[0].finish_reason, 'length');
    assert.equal(completion.usage.completion_tokens, 3);
  });

  test('a stream opens with the role, sends one logprobs entry per token, and ends with finish_reason', async () => {
    const stream = await client.chat.completions.create({
      model: kTinyModelName, messages: kMessages, max_tokens: kMaxTokens, temperature: 0, stream: true, logprobs: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    assert.ok(chunks.length >= 3, `${chunks.length} chunks: a role, content and a finish chunk expected`);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.model, kTinyModelName);
      assert.equal(chunk.id, chunks[0].id, 'every chunk of one stream carries the same id');
      assert.equal(chunk.usage ?? null, null, 'usage sent without stream_options.include_usage');
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const last = chunks.at(-1).choices[0];
    assert.equal(last.finish_reason, 'length');

    const content = chunks.slice(1, -1).map((chunk) => chunk.choices[0]);
    for (const choice of content) assert.equal(choice.finish_reason, null);
    const text = content.map((choice) => choice.delta.content).join('');
    assert.ok(text.length > 0, 'no text streamed');
    // A chunk may carry several tokens when the client reads slower than they come; their
    // logprobs entries say how many, one each.
    const tokens = content.reduce((sum, choice) => sum + choice.logprobs.content.length, 0);
    assert.equal(tokens, kMaxTokens);
  });

  test('stream_options.include_usage adds a last chunk with the usage of the streamed tokens', async () => {
    const stream = await client.chat.completions.create({
      model: kTinyModelName, messages: kMessages, max_tokens: kMaxTokens, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk.choices, []);
    assert.ok(usageChunk.usage.prompt_tokens > 0, `prompt_tokens ${usageChunk.usage.prompt_tokens}`);
    assert.equal(usageChunk.usage.completion_tokens, kMaxTokens);
    assert.equal(usageChunk.usage.total_tokens, usageChunk.usage.prompt_tokens + kMaxTokens);
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage ?? null, null, 'usage before the last chunk');
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    // Without logprobs only the bounds are known: at least one content chunk, at most one a token.
    const contentChunks = chunks.slice(1, -2).length;
    assert.ok(contentChunks >= 1 && contentChunks <= kMaxTokens, `${contentChunks} content chunks`);
  });
});
