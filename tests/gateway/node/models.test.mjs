// client.models.list through llmctl serve: every served model under its name.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { kTinyModelName, ServeProcess, stopAndCheck, tinyModelPath } from './support/serve_process.mjs';

describe('models.list', () => {
  let serve;
  before(async () => {
    // The same file twice: under its stem and under an alias.
    serve = await ServeProcess.start(['--backend', 'llama_cpp', '--model', tinyModelPath(), '--alias',
      `tiny-alias=${tinyModelPath()}`, '--slots', '1', '--ctx', '512', '--idle-unload', '600']);
  });
  after(async () => {
    if (serve) await stopAndCheck(serve);
  });

  test('lists each served model once, by the name requests use', async () => {
    const client = new OpenAI({ baseURL: serve.apiUrl, apiKey: 'unused', maxRetries: 0 });
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    assert.deepEqual(models.map((model) => model.id).sort(), [kTinyModelName, 'tiny-alias']);
    for (const model of models) {
      assert.equal(model.object, 'model');
      assert.equal(typeof model.created, 'number');
      assert.equal(typeof model.owned_by, 'string');
    }
  });
});
