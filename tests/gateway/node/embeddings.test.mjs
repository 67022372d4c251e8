// client.embeddings.create through llmctl serve, in front of the real llama-server loaded with
// the backend options embeddings=true and pooling=mean (the tiny model's own pooling is none).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { kTinyModelName, ServeProcess, stopAndCheck, tinyModelPath } from './support/serve_process.mjs';

const kTinyEmbeddingLength = 8;  // llama.embedding_length of the tiny model

describe('embeddings.create', () => {
  let serve;
  before(async () => {
    serve = await ServeProcess.start(['--backend', 'llama_cpp', '--model', tinyModelPath(), '--slots', '2', '--ctx',
      '256', '--opt', 'embeddings=true', '--opt', 'pooling=mean']);
  });
  after(async () => {
    if (serve) await stopAndCheck(serve);
  });

  test('one vector of the model\'s dimension per input, in order, identical for identical inputs', async () => {
    const client = new OpenAI({ baseURL: serve.apiUrl, apiKey: 'unused', maxRetries: 0 });
    const inputs = ['the first text', 'a second one', 'the first text', 'and a fourth'];
    const answer = await client.embeddings.create({ model: kTinyModelName, input: inputs });
    assert.equal(answer.object, 'list');
    assert.equal(answer.model, kTinyModelName);
    assert.equal(answer.data.length, inputs.length);
    answer.data.forEach((item, index) => {
      assert.equal(item.object, 'embedding');
      assert.equal(item.index, index);
      assert.equal(item.embedding.length, kTinyEmbeddingLength);
    });
    assert.deepEqual(answer.data[0].embedding, answer.data[2].embedding);
    assert.notDeepEqual(answer.data[0].embedding, answer.data[1].embedding);
    assert.ok(answer.usage.prompt_tokens > 0);
    // Order: each input alone gives the vector the batch gave at its position.
    for (const [index, input] of inputs.entries()) {
      const alone = await client.embeddings.create({ model: kTinyModelName, input });
      assert.deepEqual(alone.data[0].embedding, answer.data[index].embedding);
    }
  });

  test('base64, which the client asks for by default, decodes to the same vectors', async () => {
    const client = new OpenAI({ baseURL: serve.apiUrl, apiKey: 'unused', maxRetries: 0 });
    const floats = await client.embeddings.create({ model: kTinyModelName, input: 'hello', encoding_format: 'float' });
    // Without encoding_format the client sends base64 and decodes it itself.
    const decoded = await client.embeddings.create({ model: kTinyModelName, input: 'hello' });
    assert.equal(decoded.data[0].embedding.length, kTinyEmbeddingLength);
    decoded.data[0].embedding.forEach((value, i) => {
      assert.ok(Math.abs(value - floats.data[0].embedding[i]) < 1e-6, `value ${i}`);
    });
  });
});
