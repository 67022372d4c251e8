// client.completions.create through llmctl serve, whole and streamed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { kTinyModelName, ServeProcess, stopAndCheck, tinyModelPath } from './support/serve_process.mjs';

// ignore_eos: every generation runs to max_tokens, so the counts below are exact.
const kMaxTokens = 5;
const kPrompt = 'Once upon a time, in a small village,';

describe('completions.create', () => {
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
    const completion = await client.completions.create({
      model: kTinyModelName, prompt: kPrompt, max_tokens: kMaxTokens, temperature: 0,
    });
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.model, kTinyModelName);
    assert.equal(completion.choices.length, 1);
    const [choice] = completion.choices;
    assert.equal(choice.index, 0);
    assert.equal(typeof choice.text, 'string');
    assert.ok(choice.text.length > 0, 'empty text');
    assert.equal(choice.finish_reason, 'length');
    assert.ok(completion.usage.prompt_tokens > 0, `prompt_tokens ${completion.usage.prompt_tokens}`);
    assert.equal(completion.usage.completion_tokens, kMaxTokens);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + kMaxTokens);
  });

  test('a stream sends one logprobs token per generated token, then finish_reason and the usage', async () => {
    const stream = await client.completions.create({
      model: kTinyModelName, prompt: kPrompt, max_tokens: kMaxTokens, temperature: 0, stream: true, logprobs: 0,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    for (const chunk of chunks) {
      assert.equal(chunk.object, 'text_completion');
      assert.equal(chunk.model, kTinyModelName);
    }
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk.choices, []);
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    const content = chunks.slice(0, -2).map((chunk) => chunk.choices[0]);
    for (const choice of content) assert.equal(choice.finish_reason, null);
    assert.ok(content.map((choice) => choice.text).join('').length > 0, 'no text streamed');
    // A chunk may carry several tokens when the client reads slower than they come; its
    // logprobs.tokens say how many.
    const tokens = content.reduce((sum, choice) => sum + choice.logprobs.tokens.length, 0);
    assert.equal(tokens, kMaxTokens);
    assert.equal(usageChunk.usage.completion_tokens, tokens);
    assert.ok(usageChunk.usage.prompt_tokens > 0, `prompt_tokens ${usageChunk.usage.prompt_tokens}`);
  });

  test('a stream without stream_options ends with the finish chunk and no usage', async () => {
    const stream = await client.completions.create({
      model: kTinyModelName, prompt: kPrompt, max_tokens: kMaxTokens, temperature: 0, stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
    for (const chunk of chunks) assert.equal(chunk.usage ?? null, null, 'usage sent without include_usage');
    const contentChunks = chunks.length - 1;
    assert.ok(contentChunks >= 1 && contentChunks <= kMaxTokens, `${contentChunks} content chunks`);
  });
});
