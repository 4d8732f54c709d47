import { Injectable } from '@nestjs/common';
import { ConfigService } from '../config/config.service.js';
import type { AnomalyKind } from '../model/anomaly.js';
import type { SensorName } from '../model/sensors/sensor.model.js';
import { ownValue, recordHeaders } from '../producer/outgoing.record.js';
import { ProducerService } from '../producer/producer.service.js';
import { recordKey } from '../producer/record.key.js';
import type { AnomalyTarget } from './anomaly.target.js';

export const LABEL_EVENTS = ['injected', 'started', 'ended', 'cancelled'] as const;
export type LabelEvent = (typeof LABEL_EVENTS)[number];

/**
 * One record of the label topic: an anomaly's lifecycle event (docs/messages.md, "Label
 * topic"). Times are event times, ISO 8601.
 */
export interface AnomalyLabelRecord {
  event: LabelEvent;
  anomalyId: string;
  /** Event time of this event: injection, start, end or cancellation. */
  at: string;
  kind: AnomalyKind;
  sensor: SensorName;
  magnitude: number | null;
  target: AnomalyTarget;
  deviceCount: number;
  /** The first 100 device ids. */
  devices: string[];
  startsAt: string;
  endsAt: string;
  scenario: string | null;
  stage: string | null;
  /** The backfill that produced the anomaly, or null (live). */
  backfill: string | null;
}

const LABEL_HEADERS = recordHeaders({
  'content-type': 'application/json',
  schema: 'urn:fleetsim:schema:anomaly-label:1',
});

/**
 * Writes anomaly lifecycle events to the label topic (`kafka.labelTopic`; nothing when it is
 * empty), keyed by anomaly id, through the producer (its books count them).
 */
@Injectable()
export class AnomalyLabels {
  constructor(
    private readonly config: ConfigService,
    private readonly producer: ProducerService,
  ) {}

  /** Whether a label topic is configured. */
  get enabled(): boolean {
    return this.config.config.kafka.labelTopic !== '';
  }

  publish(label: AnomalyLabelRecord): void {
    const topic = this.config.config.kafka.labelTopic;
    if (topic === '') return;
    const { key, hash } = recordKey(label.anomalyId);
    this.producer.offer({
      key,
      ...ownValue(Buffer.from(JSON.stringify(label), 'utf8')),
      hash,
      partition: 0,
      scheduledAt: Date.parse(label.at),
      topic,
      headers: this.config.config.producer.headers ? LABEL_HEADERS : undefined,
    });
  }
}
