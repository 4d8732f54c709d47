import type { INestApplication } from '@nestjs/common';
import { ApiProperty, DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import 'reflect-metadata';
import {
  makeNullable,
  type ValidatedClass,
  validatedClasses,
  validationByProperty,
} from './validation.schema.js';

/** What each tag of the API is about (shown as section headers in Swagger UI). */
export const API_TAGS: Array<{ name: string; description: string }> = [
  {
    name: 'fleets',
    description: 'Fleets of devices: create, scale, retime, delete, and page their devices',
  },
  { name: 'devices', description: 'One device: its place, sensors, partition and last reading' },
  {
    name: 'anomalies',
    description: 'Inject, list and cancel anomalies on a fleet, a place or listed devices',
  },
  {
    name: 'scenarios',
    description: 'Named plans of stages with setting overrides and anomalies; start and stop them',
  },
  {
    name: 'backfills',
    description: "Produce a fleet's readings for a past time range, with anomalies and scenarios",
  },
  {
    name: 'simulation',
    description: 'Start and stop producing readings; counts and the scenario in force',
  },
  {
    name: 'producer',
    description: 'Delivery accounting, buffer and circuit state of the Kafka producer',
  },
  { name: 'config', description: 'The configuration in force, and changes to it while running' },
  { name: 'health', description: 'Liveness and readiness probes (Kubernetes, load balancers)' },
];

/** JSON Schema keywords (a SchemaObject, loosely). */
type SchemaObject = Record<string, unknown>;

const RULES = Symbol('fleetsim:schema-rules');

/**
 * Extra JSON Schema keywords for a DTO's schema that no property decorator can say, e.g.
 * `{ minProperties: 1 }` for a patch that must change something. The server must enforce
 * the same rule.
 */
export function ApiSchemaRules(rules: Partial<SchemaObject>): ClassDecorator {
  return (target) => {
    Reflect.defineMetadata(RULES, rules, target);
    ruledClasses.set(target.name, target as unknown as ValidatedClass);
  };
}

/**
 * Classes that carry ApiSchemaRules. A subclass that only inherits its validation (e.g.
 * CreateFleetDto of FleetSpecDto) has no metadata of its own for validatedClasses() to find:
 * `@ApiSchemaRules({})` makes it as strict as its superclass.
 */
const ruledClasses = new Map<string, ValidatedClass>();

const tightened = new WeakSet<object>();

/**
 * Makes the models as strict as the ValidationPipe, from class-validator's own metadata:
 * integer properties (@IsInt) are typed integer (in bodies and query parameters alike).
 * Runs before the document is made; idempotent.
 */
function tightenModels(): Map<string, ValidatedClass> {
  const validated = validatedClasses();
  for (const [name, target] of ruledClasses) if (!validated.has(name)) validated.set(name, target);
  for (const target of validated.values()) {
    if (tightened.has(target)) continue;
    tightened.add(target);
    for (const [property, rules] of validationByProperty(target)) {
      if (rules.some((m) => m.name === 'isInt' && !m.each)) {
        ApiProperty({ type: 'integer' })(target.prototype as object, property);
      }
    }
  }
  return validated;
}

/**
 * Request models refuse unknown keys (the ValidationPipe runs with forbidNonWhitelisted), so
 * their schemas say additionalProperties: false; properties under IsOptional also take null
 * (read as "not given"); and any ApiSchemaRules are added.
 */
function tightenSchemas(document: OpenAPIObject, validated: Map<string, ValidatedClass>): void {
  const schemas = (document.components?.schemas ?? {}) as Record<string, SchemaObject>;
  for (const [name, schema] of Object.entries(schemas)) {
    const target = validated.get(name);
    if (!target) continue;
    schema.additionalProperties = false;
    const properties = (schema.properties ?? {}) as Record<string, SchemaObject>;
    for (const [property, rules] of validationByProperty(target)) {
      const p = properties[property];
      if (!p) continue;
      for (const m of rules) {
        // The Swagger plugin leaves out array sizes.
        if (m.name === 'arrayMaxSize') p.maxItems ??= m.constraints?.[0];
        if (m.name === 'arrayMinSize') p.minItems ??= m.constraints?.[0];
        // The date-times the server takes (IsDateTime) are RFC 3339's.
        if (m.name === 'isDateTime' && !m.each) p.format ??= 'date-time';
      }
      if (rules.some((m) => m.name === 'isOptional')) makeNullable(p);
    }
    Object.assign(schema, Reflect.getMetadata(RULES, target) ?? {});
  }
}

/** The OpenAPI document of the app's routes, as strict as the server's validation. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const validated = tightenModels();
  const builder = new DocumentBuilder()
    .setTitle('fleetsim')
    .setDescription(
      'Simulates fleets of industrial IoT devices and streams their sensor readings into Apache Kafka. ' +
        'Errors are application/problem+json (RFC 9457): `detail` says what went wrong, and for bad ' +
        'input `errors` names each field and the rule it breaks. A method a path does not have ' +
        'answers 405 with an Allow header. Prometheus metrics are at /metrics (text format, not part of this API).',
    )
    .setVersion('1')
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    .addServer('/', 'The fleetsim that serves this document')
    .addServer('http://localhost:3000', '`npm start` on this machine (default port)')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'API key',
        description: 'An API key: `Authorization: Bearer <key>`',
      },
      'bearer',
    )
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: 'x-api-key',
        description: 'An API key: `x-api-key: <key>`',
      },
      'apiKey',
    )
    .addSecurityRequirements('bearer')
    .addSecurityRequirements('apiKey');
  for (const tag of API_TAGS) builder.addTag(tag.name, tag.description);
  const document = SwaggerModule.createDocument(app, builder.build(), {
    operationIdFactory: (c, m) => `${c.replace(/Controller$/, '')}_${m}`,
  });
  // Probes and scrapes need no key unless configured (server.auth): the key is optional there.
  for (const [path, item] of Object.entries(document.paths)) {
    if (!/^\/(health\/|metrics$)/.test(path)) continue;
    for (const op of Object.values(item) as Array<{ security?: unknown }>) {
      if (op && typeof op === 'object') op.security = [{}, { bearer: [] }, { apiKey: [] }];
    }
  }
  tightenSchemas(document, validated);
  return document;
}
