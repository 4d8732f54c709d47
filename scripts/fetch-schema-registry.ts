/**
 * Builds Apicurio Registry from Maven Central into .cache/apicurio (schema-registry/), for the
 * Confluent wire-format tests; the tests build it themselves when it is missing.
 */
import { APICURIO_VERSION, provisionSchemaRegistry } from '../test/support/schema-registry.js';

const jar = provisionSchemaRegistry((m) => console.log(m));
console.log(`Apicurio Registry ${APICURIO_VERSION} is at ${jar}`);
