import type { ValueFormat } from '../config/fleetsim.config.js';
import type { AnomalyKind } from '../model/anomaly.js';
import { type RecordHeaders, recordHeaders } from '../producer/outgoing.record.js';

/** Header names fleetsim writes on every reading (docs/messages.md). */
export const HEADER = {
  contentType: 'content-type',
  fleetId: 'fleet-id',
  schema: 'schema',
  anomalyKind: 'anomaly-kind',
} as const;

/** What each value format says about itself in the headers. */
export const FORMAT_HEADERS: Record<ValueFormat, { contentType: string; schema: string }> = {
  json: { contentType: 'application/json', schema: 'urn:fleetsim:schema:reading:1' },
  protobuf: { contentType: 'application/x-protobuf', schema: 'fleetsim.v1.Reading' },
};

interface FleetHeaders {
  plain: RecordHeaders;
  byKind: Map<AnomalyKind, RecordHeaders>;
}

/**
 * The headers of readings, built once per fleet and anomaly kind for one value format and
 * shared by every record that carries them: the hot path allocates nothing for headers.
 */
export class ReadingHeaders {
  private readonly fleets = new Map<string, FleetHeaders>();

  constructor(readonly format: ValueFormat) {}

  /** The headers of a reading of `fleetId`, labelled with `kind` or not (null). */
  of(fleetId: string, kind: AnomalyKind | null): RecordHeaders {
    let f = this.fleets.get(fleetId);
    if (!f) {
      f = { plain: this.build(fleetId, null), byKind: new Map() };
      this.fleets.set(fleetId, f);
    }
    if (kind === null) return f.plain;
    let h = f.byKind.get(kind);
    if (!h) {
      h = this.build(fleetId, kind);
      f.byKind.set(kind, h);
    }
    return h;
  }

  forget(fleetId: string): void {
    this.fleets.delete(fleetId);
  }

  private build(fleetId: string, kind: AnomalyKind | null): RecordHeaders {
    const { contentType, schema } = FORMAT_HEADERS[this.format];
    return recordHeaders({
      [HEADER.contentType]: contentType,
      [HEADER.fleetId]: fleetId,
      [HEADER.schema]: schema,
      ...(kind ? { [HEADER.anomalyKind]: kind } : {}),
    });
  }
}
