// Structured output and tool calls through llmctl serve with the official client: response_format
// (json_object, json_schema) and tools (tool_choice required, streamed and whole, and a round trip
// with a tool message). The server serves the tiny model rewritten with a chat template that
// renders tools (tests/gateway/write_tool_template_model.cpp); the schemas are bounded (enums,
// integer ranges, booleans, additionalProperties false) so every value the model writes is checkable.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { ServeProcess, stopAndCheck, tinyModelPath } from './support/serve_process.mjs';

const kModel = 'tiny-tools';  // served under the written file's stem
const kMaxTokens = 400;       // room for a whole envelope (the tiny model's take about 50 tokens)
const kObjectSeed = 3;
const kQuestion = [{ role: 'user', content: 'What is the weather in Paris tomorrow?' }];

const kWeather = {
  type: 'object',
  properties: { city: { enum: ['Paris', 'Oslo'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
  required: ['city', 'days'],
  additionalProperties: false,
};
const kLight = {
  type: 'object', properties: { on: { type: 'boolean' } }, required: ['on'], additionalProperties: false,
};
const kTools = [
  { type: 'function', function: { name: 'get_weather', description: 'A forecast', parameters: kWeather } },
  { type: 'function', function: { name: 'set_light', description: 'Switches the light', parameters: kLight } },
];

function writeToolModel(directory) {
  const writer = process.env.INFERENCE_TEST_TOOL_MODEL_WRITER;
  if (!writer) throw new Error('INFERENCE_TEST_TOOL_MODEL_WRITER is not set (run the suite through ctest)');
  const destination = path.join(directory, `${kModel}.gguf`);
  const run = spawnSync(writer, [tinyModelPath(), destination], { encoding: 'utf8' });
  assert.equal(run.status, 0, `${writer} failed: ${run.stderr}`);
  return destination;
}

function assertWeather(value) {
  assert.deepEqual(Object.keys(value).sort(), ['city', 'days']);
  assert.ok(['Paris', 'Oslo'].includes(value.city), JSON.stringify(value));
  assert.ok(Number.isInteger(value.days) && value.days >= 1 && value.days <= 7, JSON.stringify(value));
}

// A call of one of kTools whose arguments (JSON text) match that tool's schema.
function assertValidCall(call, index) {
  assert.equal(call.type, 'function');
  assert.equal(call.id, `call_${index}`);
  const args = JSON.parse(call.function.arguments);
  if (call.function.name === 'get_weather') {
    assertWeather(args);
  } else {
    assert.equal(call.function.name, 'set_light');
    assert.deepEqual(Object.keys(args), ['on']);
    assert.equal(typeof args.on, 'boolean');
  }
}

describe('structured output and tools', () => {
  let directory;
  let serve;
  let client;
  before(async () => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tools-test-'));
    const model = writeToolModel(directory);
    serve = await ServeProcess.start(['--backend', 'llama_cpp', '--model', model, '--slots', '1', '--ctx', '2048']);
    client = new OpenAI({ baseURL: serve.apiUrl, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    if (serve) await stopAndCheck(serve);
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  test('response_format json_schema: the content parses and matches the schema', async () => {
    const completion = await client.chat.completions.create({
      model: kModel, messages: kQuestion, max_tokens: kMaxTokens, temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'forecast', strict: true, schema: kWeather } },
    });
    const [choice] = completion.choices;
    assert.equal(choice.finish_reason, 'stop');
    assertWeather(JSON.parse(choice.message.content));
  });

  test('response_format json_object: the content parses as a JSON object', async () => {
    // Any object is allowed, and greedy sampling makes the random model write one endless key;
    // with this seed it closes the object after about 70 tokens (the answer is reproducible).
    const completion = await client.chat.completions.create({
      model: kModel, messages: kQuestion, max_tokens: kMaxTokens, temperature: 0.8, seed: kObjectSeed,
      response_format: { type: 'json_object' },
    });
    const [choice] = completion.choices;
    assert.equal(choice.finish_reason, 'stop');
    const value = JSON.parse(choice.message.content);
    assert.equal(typeof value, 'object');
    assert.ok(value !== null && !Array.isArray(value), choice.message.content);
  });

  test('tool_choice required: a whole response has tool_calls with parsed arguments and null content', async () => {
    const completion = await client.chat.completions.create({
      model: kModel, messages: kQuestion, max_tokens: kMaxTokens, temperature: 0, tools: kTools,
      tool_choice: 'required',
    });
    const [choice] = completion.choices;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.ok(choice.message.tool_calls.length >= 1);
    choice.message.tool_calls.forEach(assertValidCall);
  });

  test('tool_choice required, streamed: the tool_calls deltas assemble into valid calls', async () => {
    const stream = await client.chat.completions.create({
      model: kModel, messages: kQuestion, max_tokens: kMaxTokens, temperature: 0, tools: kTools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false, stream: true,
    });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      const [choice] = chunk.choices;
      for (const delta of choice.delta.tool_calls ?? []) {
        calls[delta.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
        const call = calls[delta.index];
        if (delta.id) call.id = delta.id;
        if (delta.function?.name) call.function.name += delta.function.name;
        if (delta.function?.arguments) call.function.arguments += delta.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 1, 'parallel_tool_calls false: one call');
    assert.equal(calls[0].function.name, 'get_weather');
    calls.forEach(assertValidCall);
  });

  test('a round trip: the call and a tool message with its result, then an answer that parses', async () => {
    const first = await client.chat.completions.create({
      model: kModel, messages: kQuestion, max_tokens: kMaxTokens, temperature: 0, tools: kTools,
      tool_choice: 'required',
    });
    const { message } = first.choices[0];
    const [call] = message.tool_calls;
    const messages = [...kQuestion, message, { role: 'tool', tool_call_id: call.id, content: 'Sunny, 21 C' }];
    const second = await client.chat.completions.create({
      model: kModel, messages, max_tokens: kMaxTokens, temperature: 0, tools: kTools, tool_choice: 'auto',
    });
    const [choice] = second.choices;
    if (choice.finish_reason === 'tool_calls') {
      choice.message.tool_calls.forEach(assertValidCall);
    } else {
      assert.equal(choice.finish_reason, 'stop');
      assert.equal(typeof choice.message.content, 'string');
    }
    // The tool message's content reaches the prompt: a longer result makes a longer prompt.
    const longer = [...messages.slice(0, -1), { role: 'tool', tool_call_id: call.id, content: 'Sunny, 21 C, a light wind from the west' }];
    const third = await client.chat.completions.create({
      model: kModel, messages: longer, max_tokens: 1, temperature: 0, tools: kTools, tool_choice: 'none',
    });
    assert.ok(third.usage.prompt_tokens > second.usage.prompt_tokens,
      `${third.usage.prompt_tokens} <= ${second.usage.prompt_tokens}`);
  });

  test('tool_choice none: the model answers in plain words, without tool_calls', async () => {
    const completion = await client.chat.completions.create({
      model: kModel, messages: kQuestion, max_tokens: 8, temperature: 0, tools: kTools, tool_choice: 'none',
    });
    const [choice] = completion.choices;
    assert.notEqual(choice.finish_reason, 'tool_calls');
    assert.equal(typeof choice.message.content, 'string');
    assert.equal(choice.message.tool_calls ?? undefined, undefined);
  });
});
