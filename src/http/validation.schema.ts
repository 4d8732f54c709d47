import { createRequire } from 'node:module';
import { getMetadataStorage, ValidateBy, ValidateIf } from 'class-validator';
import { parseDateTime } from '../model/date-time.js';

/** JSON Schema keywords (an OpenAPI 3.0 SchemaObject, loosely). */
export type JsonSchema = Record<string, unknown>;

/** A class with class-validator decorators (a DTO or a configuration section). */
export type ValidatedClass = abstract new (...args: never[]) => unknown;

interface ValidationMetadata {
  name?: string;
  type: string;
  propertyName: string;
  constraints?: unknown[];
  each?: boolean;
}

// class-transformer keeps @Type() in a storage its index does not export; the server loads
// class-transformer's CommonJS build, so this is the same storage instance.
const { defaultMetadataStorage } = createRequire(import.meta.url)(
  'class-transformer/cjs/storage.js',
) as {
  defaultMetadataStorage: {
    findTypeMetadata(
      target: ValidatedClass,
      property: string,
    ): { typeFunction: () => ValidatedClass } | undefined;
  };
};

/**
 * Optional, but never null: the property may be left out, and a JSON null is refused like
 * any other wrong type. (class-validator's IsOptional lets null through as "not given".)
 */
export const IsOmittable = (): PropertyDecorator =>
  ValidateIf((_object: object, value: unknown) => value !== undefined);

/**
 * An RFC 3339 date-time (format `date-time` in the OpenAPI document), e.g.
 * "2026-03-01T00:00:00Z": the server takes exactly what the document says (parseDateTime).
 */
export const IsDateTime = (): PropertyDecorator =>
  ValidateBy({
    name: 'isDateTime',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && parseDateTime(value) !== undefined,
      defaultMessage: (args) =>
        `${args?.property ?? 'the value'} must be an RFC 3339 date-time such as 2026-03-01T00:00:00Z (a date, a time with seconds and Z or an offset)`,
    },
  });

/** Lets a schema take null too (OpenAPI 3.0: nullable, and null among an enum's values). */
export function makeNullable(schema: JsonSchema): void {
  schema.nullable = true;
  if (Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum.push(null);
}

/** Every class that carries class-validator metadata, by class name. */
export function validatedClasses(): Map<string, ValidatedClass> {
  const storage = getMetadataStorage() as unknown as {
    validationMetadatas: Map<ValidatedClass, ValidationMetadata[]>;
  };
  return new Map([...storage.validationMetadatas.keys()].map((c) => [c.name, c]));
}

/** The validation metadata of a class and its superclasses, by property. */
export function validationByProperty(target: ValidatedClass): Map<string, ValidationMetadata[]> {
  const all = getMetadataStorage().getTargetValidationMetadatas(
    target as unknown as new () => unknown,
    '',
    true,
    false,
  ) as unknown as ValidationMetadata[];
  const out = new Map<string, ValidationMetadata[]>();
  for (const m of all) out.set(m.propertyName, [...(out.get(m.propertyName) ?? []), m]);
  return out;
}

const TYPES: Record<string, JsonSchema> = {
  isInt: { type: 'integer' },
  isNumber: { type: 'number' },
  isBoolean: { type: 'boolean' },
  isString: { type: 'string' },
};

/** The JSON Schema of one value from its validation rules (without `each`). */
function ruleSchema(rules: ValidationMetadata[], nested?: JsonSchema): JsonSchema {
  const schema: JsonSchema = {};
  for (const m of rules) {
    const c = m.constraints ?? [];
    const name = m.name ?? '';
    if (TYPES[name]) Object.assign(schema, TYPES[name]);
    else if (name === 'min') schema.minimum = c[0];
    else if (name === 'max') schema.maximum = c[0];
    else if (name === 'minLength') Object.assign(schema, { type: 'string', minLength: c[0] });
    else if (name === 'maxLength') Object.assign(schema, { type: 'string', maxLength: c[0] });
    else if (name === 'matches') {
      Object.assign(schema, { type: 'string', pattern: (c[0] as RegExp).source });
    } else if (name === 'isIn') schema.enum = [...(c[0] as unknown[])];
    else if (name === 'arrayMinSize') schema.minItems = c[0];
    else if (name === 'arrayMaxSize') schema.maxItems = c[0];
    else if (name === 'arrayUnique') schema.uniqueItems = true;
  }
  if (nested) Object.assign(schema, nested);
  return schema;
}

/**
 * The JSON Schema (OpenAPI 3.0) of a validated class, from its class-validator rules and
 * class-transformer @Type()s: what the ValidationPipe (forbidNonWhitelisted) accepts.
 * With `mergePatch`, the schema of a JSON merge patch (RFC 7396) of it: nothing required, and
 * null (back to the default) allowed everywhere.
 */
export function classSchema(
  target: ValidatedClass,
  options: { mergePatch?: boolean } = {},
): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [property, rules] of validationByProperty(target)) {
    const optional = rules.some((m) => m.type === 'conditionalValidation');
    // IsOptional lets null through (as "not given"); IsOmittable does not.
    const nullable = rules.some((m) => m.name === 'isOptional');
    const type = defaultMetadataStorage.findTypeMetadata(target, property)?.typeFunction();
    const nestedRule = rules.find((m) => m.type === 'nestedValidation');
    // Arrays of nested objects are replaced whole by a merge patch: their items are complete.
    const nested =
      type && nestedRule ? classSchema(type, nestedRule.each ? {} : options) : undefined;
    const isArray = rules.some((m) => m.name === 'isArray');
    const each = rules.filter((m) => m.each);
    const own = rules.filter((m) => !m.each && m.name !== 'isArray');
    let schema: JsonSchema;
    if (isArray || nestedRule?.each) {
      schema = { type: 'array', items: ruleSchema(each, nestedRule?.each ? nested : undefined) };
      Object.assign(schema, ruleSchema(own.filter((m) => m.type !== 'nestedValidation')));
      schema.type = 'array';
    } else {
      schema = ruleSchema(own, nested);
    }
    if (options.mergePatch || nullable) makeNullable(schema);
    properties[property] = schema;
    if (!options.mergePatch && !optional) required.push(property);
  }
  return {
    type: 'object',
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Dotted paths of the null keys in a JSON merge patch that the schema does not know, at any
 * depth. Validation refuses other unknown keys; a null one a merge patch reads as "delete it",
 * so it would pass as a silent no-op ({"x": null}) unless refused.
 */
export function unknownNullKeys(patch: unknown, schema: JsonSchema, prefix = ''): string[] {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties || !isObject(patch)) return [];
  return Object.keys(patch).flatMap((key) => {
    const path = `${prefix}${key}`;
    const sub = Object.hasOwn(properties, key) ? properties[key] : undefined;
    const value = patch[key];
    if (!sub) return value === null ? [path] : [];
    return isObject(value) ? unknownNullKeys(value, sub, `${path}.`) : [];
  });
}
