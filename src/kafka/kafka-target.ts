/** Which Kafka the app talks to, decided at boot (configured brokers or the embedded one). */
export class KafkaTarget {
  constructor(
    readonly brokers: string[],
    /** True when fleetsim started the broker itself. */
    readonly embedded: boolean,
    /** False for tools that boot the app without Kafka (e.g. the OpenAPI generator). */
    readonly connect: boolean,
  ) {}
}
