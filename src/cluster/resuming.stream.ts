import { backoffMs } from '../producer/backoff.js';

/** What ResumingStream needs of a consumer's stream (the Kafka client's MessagesStream is one). */
export interface ConsumerStream<T> {
  on(event: 'data', listener: (message: T) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  close(): Promise<void>;
}

export interface ResumingStreamOptions<T> {
  /**
   * Opens a stream. Where it starts reading is the caller's to say: it knows what it has
   * taken (the control store opens at the offset after the last record it took).
   */
  open: () => Promise<ConsumerStream<T>>;
  /** Each message, from the stream open now only (none: the stream is not read). */
  data?: (message: T) => void;
  /** What is read, for the log ("control topic reader"). */
  name: string;
  log: (message: string) => void;
  /** First delay before opening again, in ms (doubled per failed try, jittered). */
  retryMs?: number;
  /** Cap of that delay, in ms. */
  maxRetryMs?: number;
}

/**
 * A consumer stream that is opened again when it fails. The Kafka client destroys a stream
 * whose fetch failed `retries` + 1 times (by default 4 tries in about 3 s), e.g. while the
 * leader of its partition was SIGKILLed and the controller has not moved the leadership yet
 * (a broker's session timeout, about 9 s), or while every broker is down. A stream that is
 * not opened again reads nothing more for the life of the process. This one opens another
 * after a capped, jittered backoff, as often as it takes, until closed.
 */
export class ResumingStream<T> {
  private stream?: ConsumerStream<T>;
  private closed = false;
  private timer?: NodeJS.Timeout;
  /**
   * Consecutive failed tries: a stream that could not be opened, or that failed before it had
   * stayed open for maxRetryMs (opened, then failed the same way: the backoff grows).
   */
  private failures = 0;
  /** When the stream open now was opened. */
  private openedAt = 0;

  constructor(private readonly options: ResumingStreamOptions<T>) {}

  /** Opens the first stream; rejects when that fails (nothing is tried again then). */
  async start(): Promise<void> {
    const stream = await this.options.open();
    if (this.closed) return void (await stream.close().catch(() => {}));
    this.attach(stream);
  }

  private get maxRetryMs(): number {
    return this.options.maxRetryMs ?? 5_000;
  }

  /** Whether a stream is open now (false while one is being opened again). */
  get open(): boolean {
    return this.stream !== undefined;
  }

  private attach(stream: ConsumerStream<T>): void {
    this.stream = stream;
    this.openedAt = Date.now();
    // Without a data listener the stream does not fetch (the ownership group reads nothing).
    const data = this.options.data;
    if (data) {
      stream.on('data', (message) => {
        if (this.stream === stream) data(message);
      });
    }
    stream.on('error', (error) => this.failed(stream, error));
  }

  private failed(stream: ConsumerStream<T>, error: Error): void {
    if (this.stream !== stream || this.closed) return;
    this.stream = undefined;
    void stream.close().catch(() => {}); // destroyed already; this only releases what is left
    // Healthy for a while: start the backoff again; else it counts as one more failed try.
    if (Date.now() - this.openedAt >= this.maxRetryMs) this.failures = 0;
    else this.failures++;
    this.options.log(`${this.options.name} failed (${error.message}): opening it again`);
    this.retry();
  }

  private retry(): void {
    const delay = backoffMs(this.failures, this.options.retryMs ?? 500, this.maxRetryMs);
    this.timer = setTimeout(() => void this.reopen(), delay);
  }

  private async reopen(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    let stream: ConsumerStream<T>;
    try {
      stream = await this.options.open();
    } catch (err) {
      this.failures++;
      this.options.log(
        `${this.options.name} not opened again (${(err as Error).message}): trying again`,
      );
      if (!this.closed) this.retry();
      return;
    }
    if (this.closed) return void (await stream.close().catch(() => {}));
    this.attach(stream);
    this.options.log(`${this.options.name} opened again`);
  }

  /** Closes the stream open now and opens none again. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const stream = this.stream;
    this.stream = undefined;
    await stream?.close().catch(() => {});
  }
}
