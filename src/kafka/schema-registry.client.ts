/**
 * The few calls of Confluent's Schema Registry API fleetsim makes (also served by Apicurio
 * Registry under /apis/ccompat/v7): register a schema under a subject, read one by id.
 */

export type SchemaType = 'JSON' | 'PROTOBUF' | 'AVRO';

/** An answer of the registry other than success, or no answer. */
export class SchemaRegistryError extends Error {
  constructor(
    message: string,
    /** HTTP status; undefined when the registry could not be reached. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SchemaRegistryError';
  }
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export class SchemaRegistryClient {
  private readonly base: string;

  constructor(
    url: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  /**
   * Registers `schema` under `subject` (a new version, or the existing one when the same
   * schema is there already) and returns its id, the one values carry.
   */
  async register(subject: string, schemaType: SchemaType, schema: string): Promise<number> {
    const body = await this.call(`/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      body: JSON.stringify({ schemaType, schema }),
    });
    const id = (body as { id?: unknown }).id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new SchemaRegistryError(`registering ${subject}: no schema id in the answer`);
    }
    return id;
  }

  /** The schema with id `id`, as the registry holds it. */
  async schemaById(id: number): Promise<{ schema: string; schemaType: SchemaType }> {
    const body = (await this.call(`/schemas/ids/${id}`, { method: 'GET' })) as {
      schema: string;
      schemaType?: SchemaType;
    };
    // Confluent leaves schemaType out for Avro.
    return { schema: body.schema, schemaType: body.schemaType ?? 'AVRO' };
  }

  private async call(path: string, init: RequestInit): Promise<unknown> {
    const url = this.base + path;
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        headers: { accept: CONTENT_TYPE, 'content-type': CONTENT_TYPE },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new SchemaRegistryError(
        `the Schema Registry at ${this.base} did not answer (${cause})`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let detail = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { message?: string; error_code?: number };
        if (parsed.message) detail = `${parsed.message} (error_code ${parsed.error_code})`;
      } catch {
        // not JSON: keep the text
      }
      throw new SchemaRegistryError(
        `${init.method} ${url} answered ${res.status}: ${detail}`,
        res.status,
      );
    }
    return JSON.parse(text) as unknown;
  }
}
