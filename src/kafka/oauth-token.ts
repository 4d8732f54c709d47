/**
 * OAUTHBEARER tokens from an OAuth 2 token endpoint (client-credentials grant, RFC 6749 §4.4,
 * client authenticated with HTTP Basic), cached and fetched again before they expire. Both
 * engines ask for a token each time they authenticate a connection.
 */

export interface OAuthClientSettings {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
}

export interface OAuthToken {
  value: string;
  /** Epoch ms after which the token must not be used. */
  expiresAt: number;
}

/** A token request that failed; the message names the endpoint and the cause, never the secret. */
export class OAuthTokenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OAuthTokenError';
  }
}

type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Lifetime assumed when the endpoint does not say (expires_in missing). */
const DEFAULT_LIFETIME_MS = 5 * 60_000;

export class OAuthTokenProvider {
  private cached?: OAuthToken & { refreshAt: number };
  private pending?: Promise<OAuthToken>;

  constructor(
    private readonly settings: OAuthClientSettings,
    private readonly fetchImpl: FetchLike = (url, init) => fetch(url, init),
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A token that is good for a while yet: the cached one until 80 % of its lifetime (at most
   * a minute before expiry), then a fresh one. Concurrent callers share one request.
   */
  async token(): Promise<OAuthToken> {
    const cached = this.cached;
    if (cached && this.now() < cached.refreshAt) {
      return { value: cached.value, expiresAt: cached.expiresAt };
    }
    this.pending ??= this.fetchToken().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetchToken(): Promise<OAuthToken> {
    const { tokenUrl, clientId, clientSecret, scope } = this.settings;
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) body.set('scope', scope);
    const basic = Buffer.from(
      `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`,
    ).toString('base64');
    const issuedAt = this.now();
    let res: Response;
    try {
      res = await this.fetchImpl(tokenUrl, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: body.toString(),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new OAuthTokenError(
        `OAuth token request to ${tokenUrl} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const text = await res.text().catch(() => '');
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // reported below
    }
    if (!res.ok) {
      const reason = [json.error, json.error_description].filter(Boolean).join(': ');
      throw new OAuthTokenError(
        `OAuth token request to ${tokenUrl} for client ${clientId} was refused: HTTP ${res.status}` +
          (reason ? ` (${String(reason)})` : ''),
      );
    }
    if (typeof json.access_token !== 'string' || json.access_token === '') {
      throw new OAuthTokenError(
        `OAuth token endpoint ${tokenUrl} answered without an access_token`,
      );
    }
    const expiresIn = Number(json.expires_in);
    const lifetime =
      Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : DEFAULT_LIFETIME_MS;
    const expiresAt = issuedAt + lifetime;
    // Fetched again at 80 % of its lifetime, and at least a minute (or a fifth) before expiry.
    const refreshAt = Math.min(
      issuedAt + lifetime * 0.8,
      expiresAt - Math.min(60_000, lifetime * 0.2),
    );
    this.cached = { value: json.access_token, expiresAt, refreshAt };
    return { value: json.access_token, expiresAt };
  }
}
