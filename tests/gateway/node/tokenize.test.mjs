// POST /tokenize and /detokenize through llmctl serve in front of the real llama-server, sent with
// the official openai client's generic post() (they are llama-server's endpoints, outside /v1, so
// the client's base URL is the server's root). They take no slot: one answers while every slot is
// busy generating.
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import OpenAI from 'openai';

import {kTinyModelName, ServeProcess, stopAndCheck, tinyModelPath} from './support/serve_process.mjs';

describe('tokenize and detokenize', () => {
  let serve;
  before(async () => {
    serve = await ServeProcess.start([
      '--backend', 'llama_cpp', '--model', tinyModelPath(), '--slots', '2', '--ctx', '512', '--opt', 'ignore_eos=1'
    ]);
  });
  after(async () => {
    if (serve) await stopAndCheck(serve);
  });

  test('text to ids with pieces and back round-trips', async () => {
    const root = new OpenAI({baseURL: serve.baseUrl, apiKey: 'unused', maxRetries: 0});
    const text = 'Hello world, tokens please';
    const tokenized = await root.post('/tokenize', {body: {model: kTinyModelName, content: text, with_pieces: true}});
    assert.ok(tokenized.tokens.length > 0);
    const pieces = tokenized.tokens.map((t) => t.piece).join('');
    assert.equal(pieces.trim(), text);
    const ids = tokenized.tokens.map((t) => t.id);
    ids.forEach((id) => assert.ok(Number.isInteger(id) && id >= 0, `id ${id}`));
    const detokenized = await root.post('/detokenize', {body: {model: kTinyModelName, tokens: ids}});
    assert.equal(detokenized.content.trim(), text);

    const withBos = await root.post('/tokenize', {body: {model: kTinyModelName, content: text, add_special: true}});
    assert.equal(withBos.tokens.length, ids.length + 1, 'add_special adds the BOS token');
    assert.deepEqual(withBos.tokens.slice(1), ids, 'without pieces, tokens are the bare ids');
  });

  test('tokenize answers while every slot is generating', async () => {
    const client = new OpenAI({baseURL: serve.apiUrl, apiKey: 'unused', maxRetries: 0});
    const root = new OpenAI({baseURL: serve.baseUrl, apiKey: 'unused', maxRetries: 0});
    // Two long streams hold both slots (ignore_eos: they run to max_tokens); each has sent a token.
    const streams = [];
    for (let i = 0; i < 2; i++) {
      const stream =
          await client.completions.create({model: kTinyModelName, prompt: `busy ${i}`, max_tokens: 4000, stream: true});
      const iterator = stream[Symbol.asyncIterator]();
      await iterator.next();
      streams.push({stream, iterator});
    }
    const tokenized = await root.post('/tokenize', {body: {model: kTinyModelName, content: 'still answering'}});
    assert.ok(tokenized.tokens.length > 0);
    for (const {iterator} of streams) {
      const next = await iterator.next();
      assert.equal(next.done, false, 'the generations were still running when tokenize answered');
    }
    for (const {stream} of streams) stream.controller.abort();
  });

  test('an unknown model is a 404 naming it', async () => {
    const root = new OpenAI({baseURL: serve.baseUrl, apiKey: 'unused', maxRetries: 0});
    await assert.rejects(root.post('/tokenize', {body: {model: 'no-such-model', content: 'x'}}), (error) => {
      assert.equal(error.status, 404);
      assert.match(error.message, /no-such-model/);
      return true;
    });
  });
});
