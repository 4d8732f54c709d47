/**
 * The OpenAPI document the server serves: complete (every error a ProblemDetails, every
 * response described, tags described, servers set, /metrics left out) and truthful (every
 * example valid against its own schema). Schemathesis (.ci/schemathesis) checks the server
 * against it; this checks the document itself.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Ajv } from 'ajv';
import { projectRoot } from '../../src/kafka/project-root.js';
import { http, startApp, type TestApp } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';

type Json = Record<string, any>;
let t: TestApp;
let doc: Json;

before(async () => {
  t = await startApp({ KAFKA_TOPIC: uniqueTopic('e2e-openapi') }, { waitForKafka: false });
  const res = await http(t.url, 'GET', '/docs/openapi.json');
  assert.equal(res.status, 200);
  doc = res.body;
});
after(async () => t?.close());

const operations = () =>
  Object.entries(doc.paths as Json).flatMap(([path, ops]) =>
    Object.entries(ops as Json).map(([method, op]) => ({ path, method, op: op as Json })),
  );

/** OpenAPI 3.0's nullable and boolean exclusiveMinimum, as JSON Schema (draft 7) says them. */
function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) out[k] = toJsonSchema(v);
  if (out.exclusiveMinimum === true) {
    out.exclusiveMinimum = out.minimum;
    delete out.minimum;
  }
  if (typeof out.$ref === 'string')
    out.$ref = out.$ref.replace('#/components/schemas/', 'c#/definitions/');
  // nullable: the value may also be null, whatever the rest says (as Schemathesis reads it).
  if (out.nullable === true) {
    const { nullable: _, ...rest } = out;
    return { anyOf: [rest, { type: 'null' }] };
  }
  return out;
}

test('the served document is the committed openapi/openapi.json (npm run openapi:sync)', () => {
  const committed = JSON.parse(
    readFileSync(join(projectRoot(), 'openapi', 'openapi.json'), 'utf8'),
  );
  assert.deepEqual(Object.keys(doc.paths).sort(), Object.keys(committed.paths).sort());
});

test('servers and tag descriptions are set; /metrics is not an API operation', () => {
  assert.ok(doc.servers?.length >= 1);
  const used = new Set(operations().flatMap(({ op }) => op.tags ?? []));
  const described = new Map((doc.tags as Json[]).map((tag) => [tag.name, tag.description]));
  for (const tag of used) assert.ok(described.get(tag), `tag ${tag} has a description`);
  assert.equal(doc.paths['/metrics'], undefined);
});

test('every response is described, and every API error is a ProblemDetails', () => {
  for (const { path, method, op } of operations()) {
    const label = `${method.toUpperCase()} ${path}`;
    const statuses = Object.keys(op.responses);
    assert.ok(
      statuses.some((s) => s.startsWith('2')),
      `${label} documents its success`,
    );
    for (const [status, response] of Object.entries(op.responses as Json)) {
      assert.ok(response.description, `${label} ${status} has a description`);
      if (status.startsWith('2') || !path.startsWith('/api/')) continue;
      assert.deepEqual(
        Object.keys(response.content ?? {}),
        ['application/problem+json'],
        `${label} ${status} is problem+json`,
      );
      assert.equal(
        response.content['application/problem+json'].schema.$ref,
        '#/components/schemas/ProblemDetails',
      );
    }
    if (path.startsWith('/api/')) assert.ok(op.responses['429'], `${label} documents 429`);
  }
});

test('every example, of a request or a response, is valid against its schema', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'c', definitions: toJsonSchema(doc.components.schemas) as Json });
  // $refs point into the components document above.
  const validate = (schema: Json) => ajv.compile(toJsonSchema(schema) as Json);
  let count = 0;
  const check = (label: string, media: Json) => {
    const examples = [
      ...(media.example !== undefined ? [media.example] : []),
      ...Object.values((media.examples ?? {}) as Json).map((e) => e.value),
    ];
    for (const example of examples) {
      const valid = validate(media.schema);
      const ok = valid(example);
      assert.ok(ok, `${label}: ${JSON.stringify(valid.errors)} for ${JSON.stringify(example)}`);
      count++;
    }
  };
  for (const { path, method, op } of operations()) {
    const label = `${method.toUpperCase()} ${path}`;
    for (const [type, media] of Object.entries((op.requestBody?.content ?? {}) as Json)) {
      check(`${label} request ${type}`, media);
    }
    for (const [status, response] of Object.entries(op.responses as Json)) {
      for (const [type, media] of Object.entries((response.content ?? {}) as Json)) {
        check(`${label} ${status} ${type}`, media);
      }
    }
  }
  assert.ok(count >= 60, `${count} examples checked`);
});

test('Swagger UI is served at /docs', async () => {
  const res = await fetch(`${t.url}/docs`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /swagger-ui/i);
});
